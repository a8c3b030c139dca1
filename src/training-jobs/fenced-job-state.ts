import { QueueKeys } from 'bullmq';
import type { Redis } from 'ioredis';
import type { FrozenModel } from '../ml/frozen-model';
import type { EpochMetrics } from '../schemas/api.schema';
import { pack } from '../store/binary-pack';
import { checkpointKey, type JobCheckpoint } from '../store/checkpoint-store';
import { encodeModel, modelIndexKey, modelKey, type ModelMeta } from '../store/model-store';

/**
 * Every write a trainer makes to its job's state — checkpoint, metrics, progress, model — runs
 * in one Lua script that first checks that BullMQ's lock on the job still holds this attempt's
 * token. A trainer that lost its job (its process was frozen past the lock, a long GC pause, a
 * paused VM) while another worker took the job over can therefore write nothing: its first write
 * is refused with a LostJobLockError and the attempt ends there. Each script is also atomic, so
 * a crash never leaves the checkpoint and the metrics list saying different things.
 */
export class LostJobLockError extends Error {
  override name = 'LostJobLockError';
  constructor(jobId: string, write: string) {
    super(`job ${jobId} is no longer locked by this worker (${write}): another worker owns it now`);
  }
}

/** The job as the sandboxed processor sees it, and the lock token BullMQ passed with it. */
export interface JobLease {
  jobId: string;
  queueName: string;
  /** BullMQ's key prefix (the service's REDIS_PREFIX). */
  bullPrefix: string;
  token: string;
}

/**
 * BullMQ's keys of one job. The queue's keys come from BullMQ's own QueueKeys; the job's lock
 * key is `<job key>:lock`, which BullMQ builds inside its Lua scripts and does not export (see
 * extendLocks-1.lua, moveStalledJobsToWait-9.lua). This is the only place that knows it.
 */
export function bullmqJobKeys(lease: Pick<JobLease, 'jobId' | 'queueName' | 'bullPrefix'>) {
  const queueKeys = new QueueKeys(lease.bullPrefix);
  const job = queueKeys.toKey(lease.queueName, lease.jobId);
  const { events, meta } = queueKeys.getKeys(lease.queueName);
  return { job, lock: `${job}:lock`, events, meta };
}

// KEYS[1] is always the job's lock key and ARGV[1] this attempt's token (batch predictions fence with it too).
export const FENCE = `if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
`;

// The job's progress as BullMQ's own updateProgress script writes it: the hash field, and a
// 'progress' event on the queue's stream (capped as BullMQ caps it) for QueueEvents listeners.
export const PROGRESS = `local function setProgress(jobKey, eventsKey, metaKey, jobId, progress)
  redis.call('HSET', jobKey, 'progress', progress)
  local maxEvents = redis.call('HGET', metaKey, 'opts.maxLenEvents') or 10000
  redis.call('XADD', eventsKey, 'MAXLEN', '~', maxEvents, '*', 'event', 'progress', 'jobId', jobId, 'data', progress)
end
`;

// KEYS: lock, checkpoint, metrics, job, events, meta.
// ARGV: token, checkpoint, metrics entry, ttl, progress, job id.
const COMMIT_EPOCH = `${PROGRESS}${FENCE}
redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[4])
redis.call('RPUSH', KEYS[3], ARGV[3])
redis.call('EXPIRE', KEYS[3], ARGV[4])
setProgress(KEYS[4], KEYS[5], KEYS[6], ARGV[6], ARGV[5])
return 1`;

// KEYS: lock, metrics, job, events, meta, checkpoint. ARGV: token, ttl, progress, job id, the
// checkpoint to write back ('' for none), then the checkpoint's own metrics entries (none when
// the job starts afresh).
// Returns 0 (refused), or 1 + what was done: 1 kept, 2 trimmed, 3 rebuilt from the checkpoint.
const RECONCILE = `${PROGRESS}${FENCE}
local epochs = #ARGV - 5
if ARGV[5] ~= '' then redis.call('SET', KEYS[6], ARGV[5], 'EX', ARGV[2]) end
local length = redis.call('LLEN', KEYS[2])
local action = 1
if length > epochs then
  if epochs == 0 then redis.call('DEL', KEYS[2]) else redis.call('LTRIM', KEYS[2], 0, epochs - 1) end
  action = 2
elseif length < epochs then
  redis.call('DEL', KEYS[2])
  for i = 6, #ARGV do redis.call('RPUSH', KEYS[2], ARGV[i]) end
  action = 3
end
if epochs > 0 then redis.call('EXPIRE', KEYS[2], ARGV[2]) end
setProgress(KEYS[3], KEYS[4], KEYS[5], ARGV[4], ARGV[3])
return 1 + action`;

// KEYS: lock, model, model index, checkpoint, result.
// ARGV: token, meta, graph, weights, created-at score, model id, result, ttl.
const SAVE_MODEL = `${FENCE}
redis.call('HSET', KEYS[2], 'meta', ARGV[2], 'graph', ARGV[3], 'weights', ARGV[4])
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[6])
redis.call('DEL', KEYS[4])
redis.call('SET', KEYS[5], ARGV[7], 'EX', ARGV[8])
return 1`;

// KEYS: lock, fold records, checkpoint. ARGV: token, fold number, record, ttl.
// Returns 0 (refused), 2 (recorded) or 1 (the fold had a record already: kept as it was).
const RECORD_FOLD = `${FENCE}
local recorded = redis.call('HSETNX', KEYS[2], ARGV[2], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[4])
redis.call('DEL', KEYS[3])
return 1 + recorded`;

// KEYS: lock, checkpoint. ARGV: token.
const DELETE_CHECKPOINT = `${FENCE}
redis.call('DEL', KEYS[2])
return 1`;

export type Reconciliation = 'kept' | 'trimmed' | 'rebuilt';

/**
 * The writes of one attempt of one training job, each fenced by the attempt's lock token.
 * `prefix` is fitwell's key prefix; `metricsKey` the job's per-epoch metrics list.
 */
export class FencedJobState {
  private readonly bull: ReturnType<typeof bullmqJobKeys>;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly lease: JobLease,
    private readonly metricsKey: string,
    private readonly ttlSeconds: number,
  ) {
    this.bull = bullmqJobKeys(lease);
  }

  /**
   * At the start of an attempt: make the metrics list hold exactly the checkpointed epochs, one
   * entry each (a crash may have left entries of later epochs; a list written by an older
   * version, with separate commands, may be one short) and set the progress. A resumption
   * passes `resumed`, the checkpoint with this attempt's epoch added to its `resumedAt`, which is
   * written back in the same script: the resumption is on record even if this attempt dies before
   * its first epoch's checkpoint (the next attempt then lists both).
   */
  async reconcile(saved: JobCheckpoint | null, epochs: number, resumed?: JobCheckpoint): Promise<Reconciliation> {
    const entries = (saved?.trainer.metrics ?? []).map((m) => JSON.stringify(m));
    const progress = JSON.stringify({ epoch: saved?.trainer.epoch ?? 0, epochs });
    const result = await this.run(
      'metrics reconciliation',
      RECONCILE,
      [
        this.bull.lock,
        this.metricsKey,
        this.bull.job,
        this.bull.events,
        this.bull.meta,
        checkpointKey(this.prefix, this.lease.jobId),
      ],
      [this.lease.token, this.ttlSeconds, progress, this.lease.jobId, resumed ? pack(resumed) : '', ...entries],
    );
    return (['kept', 'trimmed', 'rebuilt'] as const)[result - 2];
  }

  /** One epoch's checkpoint, metrics entry and progress, in one atomic, fenced write. */
  async commitEpoch(checkpoint: JobCheckpoint, metrics: EpochMetrics, epochs: number): Promise<void> {
    await this.run(
      'epoch checkpoint',
      COMMIT_EPOCH,
      [
        this.bull.lock,
        checkpointKey(this.prefix, this.lease.jobId),
        this.metricsKey,
        this.bull.job,
        this.bull.events,
        this.bull.meta,
      ],
      [
        this.lease.token,
        pack(checkpoint),
        JSON.stringify(metrics),
        this.ttlSeconds,
        JSON.stringify({ epoch: metrics.epoch, epochs }),
        this.lease.jobId,
      ],
    );
  }

  /**
   * The trained model, its index entry, and the job's result, while the checkpoint goes: a retry
   * of a job whose model is saved (its worker died before BullMQ recorded the completion)
   * returns this result instead of training a second model.
   */
  async saveModel(meta: ModelMeta, frozen: FrozenModel, result: unknown): Promise<void> {
    const fields = encodeModel(meta, frozen);
    await this.run(
      'model save',
      SAVE_MODEL,
      [
        this.bull.lock,
        modelKey(this.prefix, meta.id),
        modelIndexKey(this.prefix),
        checkpointKey(this.prefix, this.lease.jobId),
        jobResultKey(this.prefix, this.lease.jobId),
      ],
      [
        this.lease.token,
        fields.meta,
        fields.graph,
        fields.weights,
        Date.parse(meta.createdAt),
        meta.id,
        JSON.stringify(result),
        this.ttlSeconds,
      ],
    );
  }

  /**
   * Whether this attempt still holds the job's lock, read together with the job's cancel flags (a
   * fold job's own and its parent's) in one round trip (the trainer looks after every batch, at
   * most every 100 ms). The worker renews the lock; when a renewal fails (the lock lapsed while
   * the worker was frozen, or another worker took the job over) the lock no longer holds this
   * token and the trainer stops mid-epoch, not only at its next (refused) write.
   */
  async checkLease(...cancelKeys: string[]): Promise<{ locked: boolean; cancelled: boolean }> {
    const [lock, ...cancels] = await this.redis.mget(this.bull.lock, ...cancelKeys);
    return { locked: lock === this.lease.token, cancelled: cancels.some((cancel) => cancel !== null) };
  }

  /**
   * A fold job's end: its record in the parent's fold records, written only if the fold has
   * none (HSETNX: a fold counts once), while its checkpoint goes. False when it had one already.
   */
  async recordFold(foldsKey: string, fold: number, record: string): Promise<boolean> {
    const result = await this.run(
      'fold record',
      RECORD_FOLD,
      [this.bull.lock, foldsKey, checkpointKey(this.prefix, this.lease.jobId)],
      [this.lease.token, fold, record, this.ttlSeconds],
    );
    return result === 2;
  }

  async deleteCheckpoint(): Promise<void> {
    await this.run(
      'checkpoint delete',
      DELETE_CHECKPOINT,
      [this.bull.lock, checkpointKey(this.prefix, this.lease.jobId)],
      [this.lease.token],
    );
  }

  private async run(
    write: string,
    script: string,
    keys: string[],
    args: (string | number | Buffer)[],
  ): Promise<number> {
    const result = (await this.redis.eval(script, keys.length, ...keys, ...args)) as number;
    if (result === 0) throw new LostJobLockError(this.lease.jobId, `${write} refused`);
    return result;
  }
}

/** The result of a job whose model is saved, kept until the job's retention ends. */
export function jobResultKey(prefix: string, jobId: string): string {
  return `${prefix}:job:${jobId}:result`;
}
