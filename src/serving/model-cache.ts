import { serveModel, type ServedModel, type ServingOptions } from './served-model';
import type { ModelStore } from '../store/model-store';

/** MODEL_CACHE_BYTES' default: 256 MiB of estimated model memory. */
export const DEFAULT_MODEL_CACHE_BYTES = 256 * 1024 * 1024;

export interface ModelCacheOptions {
  /**
   * The most estimated bytes of cached models (MODEL_CACHE_BYTES; ServedModel.bytes summed).
   * Default DEFAULT_MODEL_CACHE_BYTES. A single model above it is served but not kept.
   */
  maxBytes?: number;
  /** How cached models run: micro-batching, the tf threshold. */
  serving?: ServingOptions;
}

interface Entry {
  model: Promise<ServedModel>;
  /** Once loaded. */
  served?: ServedModel;
  /** 0 while loading. */
  bytes: number;
}

/**
 * Trained models kept in memory for prediction, ready to serve (executor and batcher built once),
 * least recently used evicted first beyond `capacity` models (MODEL_CACHE_SIZE) or `maxBytes`
 * estimated bytes (MODEL_CACHE_BYTES), whichever is reached first. Models are immutable once
 * written; the one change is deletion, which every replica hears of (ModelEvents, `drop`) and
 * which makes a cached copy go. Once cached, a model keeps serving even while Redis is
 * unreachable.
 */
export class ModelCache {
  private readonly entries = new Map<string, Entry>();
  private totalBytes = 0;
  /** The most recently used id (the Map's last key), so a run of hits on one model skips the reordering. */
  private newest: string | undefined;
  readonly maxBytes: number;
  private readonly serving: ServingOptions;

  constructor(
    private readonly store: Pick<ModelStore, 'load'>,
    readonly capacity: number,
    options: ModelCacheOptions = {},
  ) {
    this.maxBytes = options.maxBytes ?? DEFAULT_MODEL_CACHE_BYTES;
    this.serving = options.serving ?? {};
  }

  get size(): number {
    return this.entries.size;
  }

  /** Estimated bytes of the models held (loaded ones; a model still loading counts 0). */
  get bytes(): number {
    return this.totalBytes;
  }

  /** Whether the model is held (loaded or loading), without touching its recency. */
  has(id: string): boolean {
    return this.entries.has(id);
  }

  /** Not `async`: a hit, the common case, is one Map lookup and no extra promise. */
  get(id: string): Promise<ServedModel> {
    const hit = this.entries.get(id);
    if (hit) {
      if (this.newest !== id) {
        this.entries.delete(id);
        this.entries.set(id, hit);
        this.newest = id;
      }
      return hit.model;
    }
    // The promise is cached so concurrent requests for one model load it once.
    const entry: Entry = { model: this.load(id), bytes: 0 };
    this.entries.set(id, entry);
    this.newest = id;
    entry.model.then(
      (served) => {
        if (this.entries.get(id) !== entry) {
          served.dispose(); // evicted while loading: served to its callers, then gone
          return;
        }
        entry.served = served;
        entry.bytes = served.bytes;
        this.totalBytes += served.bytes;
        this.evict();
      },
      () => this.remove(id, entry),
    );
    this.evict();
    return entry.model;
  }

  /** The ids held (loaded or loading), least recently used first. */
  ids(): string[] {
    return [...this.entries.keys()];
  }

  /**
   * Forgets a model (it was deleted): the next `get` loads it again (a 404 once it is gone).
   * Requests already holding it finish with it; a copy still loading is served to its callers
   * and then disposed, never kept.
   */
  drop(id: string): void {
    const entry = this.entries.get(id);
    if (entry) this.remove(id, entry);
  }

  private async load(id: string): Promise<ServedModel> {
    return serveModel(await this.store.load(id), this.serving);
  }

  private evict(): void {
    while (this.entries.size > this.capacity || this.totalBytes > this.maxBytes) {
      const [oldest, entry] = this.entries.entries().next().value as [string, Entry];
      this.remove(oldest, entry);
    }
  }

  private remove(id: string, entry: Entry): void {
    if (this.entries.get(id) !== entry) return;
    this.entries.delete(id);
    if (this.newest === id) this.newest = undefined;
    this.totalBytes -= entry.bytes;
    // A request still holding the model can finish with it: its tf runs fall back to per-call weights.
    entry.served?.dispose();
  }
}
