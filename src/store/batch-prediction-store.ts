import type { Redis } from 'ioredis';
import type { CellValue } from '../data/table';
import { bullmqJobKeys, FENCE, LostJobLockError, PROGRESS, type JobLease } from '../training-jobs/fenced-job-state';
import { pack, unpack } from './binary-pack';

/**
 * A batch prediction's results in Redis, beside BullMQ's job: one value per dataset chunk (the
 * chunk's id cells and predictions), a hash of the chunks done (index → rows), the cancel flag,
 * the record of a batch cancelled while waiting, and the id of the results' dataset. Every key
 * lives `ttlSeconds` (JOB_KEEP_SECONDS) from its last write, as long as the finished job does.
 */
export function batchKeys(prefix: string, batchId: string) {
  const base = `${prefix}:batch:${batchId}`;
  return {
    done: `${base}:done`,
    chunk: (index: number) => `${base}:chunk:${index}`,
    cancel: `${base}:cancel`,
    cancelled: `${base}:cancelled`,
    dataset: `${base}:dataset`,
    resumed: `${base}:resumed`,
  };
}

/** One chunk's results, as stored: the id cells (per id column) and the decoded predictions. */
export interface ChunkResult {
  rows: number;
  /** Per id column, the chunk's cells; empty when rows are identified by their index. */
  ids: CellValue[][];
  /** Classification: the class index of each row, and rows × classes probabilities. */
  classIndex?: Float32Array;
  probabilities?: Float32Array;
  /** Regression: the predicted values in the target's units. */
  values?: number[];
}

// KEYS: lock, chunk, done, job, events, meta.
// ARGV: token, chunk bytes, index, rows, ttl, chunks in all, rows in all, job id.
// Returns 0 (refused: the lock is another attempt's), 1 (written) or 2 (already written).
const COMMIT_CHUNK = `${PROGRESS}${FENCE}
if redis.call('HEXISTS', KEYS[3], ARGV[3]) == 1 then return 2 end
redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[5])
redis.call('HSET', KEYS[3], ARGV[3], ARGV[4])
redis.call('EXPIRE', KEYS[3], ARGV[5])
local counts = redis.call('HVALS', KEYS[3])
local rowsDone = 0
for i = 1, #counts do rowsDone = rowsDone + tonumber(counts[i]) end
local progress = '{"chunksDone":' .. #counts .. ',"chunks":' .. ARGV[6] .. ',"rowsDone":' .. rowsDone .. ',"rows":' .. ARGV[7] .. '}'
setProgress(KEYS[4], KEYS[5], KEYS[6], ARGV[8], progress)
return 1`;

// KEYS: lock, dataset. ARGV: token, candidate id, ttl. Returns 0 (refused) or the id kept.
const CLAIM_DATASET_ID = `${FENCE}
local kept = redis.call('GET', KEYS[2])
if kept then return kept end
redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
return ARGV[2]`;

// KEYS: lock, resumed. ARGV: token, chunks done, ttl.
const RECORD_RESUME = `${FENCE}
redis.call('RPUSH', KEYS[2], ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return 1`;

export class BatchPredictionStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly ttlSeconds: number,
  ) {}

  keys(batchId: string) {
    return batchKeys(this.prefix, batchId);
  }

  /** Chunk index → rows, of the chunks whose results are stored. */
  async doneChunks(batchId: string): Promise<Map<number, number>> {
    const raw = await this.redis.hgetall(this.keys(batchId).done);
    return new Map(Object.entries(raw).map(([index, rows]) => [Number(index), Number(rows)]));
  }

  async chunkResult(batchId: string, index: number): Promise<ChunkResult | null> {
    const bytes = await this.redis.getBuffer(this.keys(batchId).chunk(index));
    return bytes ? (unpack(bytes) as ChunkResult) : null;
  }

  async isCancelled(batchId: string): Promise<boolean> {
    return (await this.redis.exists(this.keys(batchId).cancel)) === 1;
  }

  async setCancelled(batchId: string): Promise<void> {
    await this.redis.set(this.keys(batchId).cancel, '1', 'EX', this.ttlSeconds);
  }

  /** The id the results' dataset is (or will be) stored under, once claimed. */
  resultDatasetId(batchId: string): Promise<string | null> {
    return this.redis.get(this.keys(batchId).dataset);
  }

  /** Chunks already done when each later attempt started. */
  async resumedAt(batchId: string): Promise<number[]> {
    return (await this.redis.lrange(this.keys(batchId).resumed, 0, -1)).map(Number);
  }

  /** What GET shows of a batch DELETE removed from the queue while it waited. */
  async cancelledRecord(batchId: string): Promise<string | null> {
    return this.redis.get(this.keys(batchId).cancelled);
  }

  async setCancelledRecord(batchId: string, record: string): Promise<void> {
    await this.redis.set(this.keys(batchId).cancelled, record, 'EX', this.ttlSeconds);
  }

  async deleteCancelledRecord(batchId: string): Promise<void> {
    await this.redis.del(this.keys(batchId).cancelled);
  }

  /** The results of a batch (a cancelled or failed one's partial results). */
  async deleteResults(batchId: string, chunks: number): Promise<void> {
    const keys = this.keys(batchId);
    const chunkKeys = Array.from({ length: chunks }, (_, i) => keys.chunk(i));
    await this.redis.del(keys.done, keys.resumed, ...chunkKeys);
  }

  /** The writes of one attempt, fenced by its lock token. */
  fenced(lease: JobLease): FencedBatchWrites {
    return new FencedBatchWrites(this.redis, this.keys(lease.jobId), lease, this.ttlSeconds);
  }
}

/**
 * The writes of one attempt of one batch prediction, each in one Lua script that first checks
 * that BullMQ's lock on the job still holds this attempt's token (as a training job's writes are
 * fenced, src/training-jobs/fenced-job-state.ts): a processor that lost its job (frozen past the
 * lock while another worker took the batch over) writes nothing. A chunk is recorded once: the
 * script that stores its results refuses a second write of the same index, so whichever attempt
 * finished a chunk first keeps it and no row is written twice.
 */
export class FencedBatchWrites {
  private readonly bull: ReturnType<typeof bullmqJobKeys>;

  constructor(
    private readonly redis: Redis,
    private readonly keys: ReturnType<typeof batchKeys>,
    private readonly lease: JobLease,
    private readonly ttlSeconds: number,
  ) {
    this.bull = bullmqJobKeys(lease);
  }

  /** Stores a chunk's results, marks it done and sets the job's progress; false if it was already done. */
  async commitChunk(index: number, result: ChunkResult, totals: { chunks: number; rows: number }): Promise<boolean> {
    const outcome = (await this.redis.eval(
      COMMIT_CHUNK,
      6,
      this.bull.lock,
      this.keys.chunk(index),
      this.keys.done,
      this.bull.job,
      this.bull.events,
      this.bull.meta,
      this.lease.token,
      pack(result),
      index,
      result.rows,
      this.ttlSeconds,
      totals.chunks,
      totals.rows,
      this.lease.jobId,
    )) as number;
    if (outcome === 0) throw new LostJobLockError(this.lease.jobId, `chunk ${index} write refused`);
    return outcome === 1;
  }

  /** An attempt that starts with `chunksDone` chunks already stored by an earlier one. */
  async recordResume(chunksDone: number): Promise<void> {
    const outcome = await this.redis.eval(
      RECORD_RESUME,
      2,
      this.bull.lock,
      this.keys.resumed,
      this.lease.token,
      chunksDone,
      this.ttlSeconds,
    );
    if (outcome === 0) throw new LostJobLockError(this.lease.jobId, 'resume record refused');
  }

  /** The results' dataset id: `candidate` if none was claimed before, else the earlier attempt's. */
  async claimDatasetId(candidate: string): Promise<string> {
    const kept = (await this.redis.eval(
      CLAIM_DATASET_ID,
      2,
      this.bull.lock,
      this.keys.dataset,
      this.lease.token,
      candidate,
      this.ttlSeconds,
    )) as string | number;
    if (kept === 0) throw new LostJobLockError(this.lease.jobId, 'result dataset claim refused');
    return String(kept);
  }

  /** Whether this attempt still holds the job, and whether DELETE asked it to stop: one round trip. */
  async checkLease(): Promise<{ locked: boolean; cancelled: boolean }> {
    const [lock, cancel] = await this.redis.mget(this.bull.lock, this.keys.cancel);
    return { locked: lock === this.lease.token, cancelled: cancel !== null };
  }
}
