import type { ModelStore, StoredModel } from './model-store';

/**
 * Trained models kept in memory for prediction, least recently used evicted first. Models are
 * immutable once written, so a cached copy is never stale. Once cached, a model keeps serving
 * even while Redis is unreachable.
 */
export class ModelCache {
  private readonly entries = new Map<string, Promise<StoredModel>>();

  constructor(
    private readonly store: ModelStore,
    readonly capacity: number,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  async get(id: string): Promise<StoredModel> {
    const hit = this.entries.get(id);
    if (hit) {
      this.entries.delete(id);
      this.entries.set(id, hit);
      return hit;
    }
    // The promise is cached so concurrent requests for one model load it once.
    const loading = this.store.load(id);
    this.entries.set(id, loading);
    loading.catch(() => this.entries.delete(id));
    while (this.entries.size > this.capacity) {
      this.entries.delete(this.entries.keys().next().value as string);
    }
    return loading;
  }
}
