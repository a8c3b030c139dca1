/**
 * Where a dataset's bytes live: what DatasetStore needs of a storage system, and no more. Two
 * implementations: Redis (the default, redis-dataset-backend.ts) and S3-compatible object storage
 * (s3-dataset-backend.ts, DATASET_STORE=s3). Both pass test/store/dataset-ingest.test.ts.
 *
 * A dataset is its chunks plus a few named text fields (`meta`, `profile:<column>`,
 * `categories:<column>`). Chunks are written first, unpublished; `publish` makes the dataset
 * visible with all its fields at once, or not at all.
 */
export type PublishOutcome = 'published' | 'missing-chunks' | 'too-late';

export interface DatasetBackend {
  /** Writes one unpublished chunk. `renew` also extends the lease of chunks 0..index-1 (Redis TTLs). */
  putChunk(id: string, index: number, bytes: Buffer, renew: boolean): Promise<void>;
  /** null when there is no such chunk. */
  getChunk(id: string, index: number): Promise<Buffer | null>;
  /** null when the dataset or the field does not exist. */
  getField(id: string, field: string): Promise<string | null>;
  /** Adds a field to a published dataset (a profile computed late for an older dataset). */
  setField(id: string, field: string, value: string): Promise<void>;
  /**
   * Atomically: checks chunks 0..chunks-1 are all there, makes them permanent, writes the fields
   * and lists the dataset. Nothing is visible when a chunk is missing (`missing-chunks`) or when
   * the store runs the publication after `deadlineMs` (epoch ms, the store's own clock:
   * `too-late`), so a client told 503 while the write waited in a frozen store never gets a
   * dataset under an id it did not learn.
   */
  publish(
    id: string,
    chunks: number,
    fields: Record<string, string>,
    createdAtMs: number,
    deadlineMs: number,
  ): Promise<PublishOutcome>;
  /** Deletes chunks from..to-1 (an aborted upload's, or a first pass's extra ones). Best effort. */
  deleteChunks(id: string, from: number, to: number): Promise<void>;
  /** Ids newest first, `limit` from `offset`, and how many datasets there are. */
  list(offset: number, limit: number): Promise<{ ids: string[]; total: number }>;
  /** Deletes a published dataset: fields, chunks 0..chunks-1 and its listing. */
  delete(id: string, chunks: number, createdAtMs: number): Promise<void>;
  /** Seconds an unpublished upload may stay idle before its chunks are removed. */
  readonly uploadTtlSeconds: number;
}
