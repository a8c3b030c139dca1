import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import type { EpochMetrics } from '../../src/ml/trainer';
import { checkpointKey, CheckpointStore, type JobCheckpoint } from '../../src/store/checkpoint-store';
import {
  bullmqJobKeys,
  FencedJobState,
  LostJobLockError,
  type JobLease,
} from '../../src/training-jobs/fenced-job-state';
import { deletePrefix, testConfig } from '../helpers/config';

const config = testConfig();
const prefix = config.redisPrefix;

/** Stand-ins for a trainer's per-epoch metrics and checkpoint: only epoch and metrics matter here. */
function metrics(epoch: number): EpochMetrics {
  return { epoch, trainLoss: 1 / epoch } as unknown as EpochMetrics;
}
function checkpointAt(epoch: number): JobCheckpoint {
  const list = Array.from({ length: epoch }, (_, i) => metrics(i + 1));
  return {
    trainer: { epoch, metrics: list, weights: { w: new Float32Array([epoch]) } },
    resumedAt: [],
  } as unknown as JobCheckpoint;
}

/**
 * The fenced writes of a training job against a real Redis: the resume path's reconciliation of
 * the metrics list with the checkpoint, and the lock check every write makes.
 */
describe('fenced job state', () => {
  let redis: Redis;
  const lease: JobLease = { jobId: 'job-1', queueName: 'training', bullPrefix: prefix, token: 'token-of-this-attempt' };
  const metricsKey = `${prefix}:job:job-1:metrics`;
  const lockKey = bullmqJobKeys(lease).lock;
  let state: FencedJobState;

  before(() => {
    redis = new Redis(config.redisUrl);
    state = new FencedJobState(redis, prefix, lease, metricsKey, 3600);
  });
  beforeEach(async () => {
    await deletePrefix(config);
    await redis.set(lockKey, lease.token, 'PX', 60_000);
  });
  after(async () => {
    await deletePrefix(config);
    redis.disconnect();
  });

  async function epochsListed(): Promise<number[]> {
    return (await redis.lrange(metricsKey, 0, -1)).map((raw) => (JSON.parse(raw) as EpochMetrics).epoch);
  }

  test('the lock key is the one BullMQ holds for an active job', () => {
    assert.equal(lockKey, `${prefix}:training:job-1:lock`);
  });

  test("a list one entry short of the checkpoint is rebuilt from the checkpoint's own metrics", async () => {
    await redis.rpush(metricsKey, ...[1, 2, 3, 4].map((e) => JSON.stringify(metrics(e))));
    assert.equal(await state.reconcile(checkpointAt(5), 10), 'rebuilt');
    assert.deepEqual(await epochsListed(), [1, 2, 3, 4, 5]);
    assert.deepEqual(JSON.parse((await redis.lindex(metricsKey, 4))!), metrics(5));
    assert.ok((await redis.ttl(metricsKey)) > 0, 'the rebuilt list keeps its retention');
  });

  test('entries past the checkpointed epoch are trimmed', async () => {
    await redis.rpush(metricsKey, ...[1, 2, 3, 4, 5, 6].map((e) => JSON.stringify(metrics(e))));
    assert.equal(await state.reconcile(checkpointAt(5), 10), 'trimmed');
    assert.deepEqual(await epochsListed(), [1, 2, 3, 4, 5]);
  });

  test('a list that matches is kept; a fresh start clears a stale list; progress follows the checkpoint', async () => {
    await redis.rpush(metricsKey, ...[1, 2, 3].map((e) => JSON.stringify(metrics(e))));
    assert.equal(await state.reconcile(checkpointAt(3), 10), 'kept');
    assert.deepEqual(await epochsListed(), [1, 2, 3]);
    assert.deepEqual(JSON.parse((await redis.hget(`${prefix}:training:job-1`, 'progress'))!), { epoch: 3, epochs: 10 });
    await state.reconcile(null, 10);
    assert.equal(await redis.exists(metricsKey), 0);
  });

  test('a resumption is written to the checkpoint at once, so an attempt that dies before its first epoch is on record', async () => {
    const checkpoints = new CheckpointStore(redis, prefix);
    await state.commitEpoch(checkpointAt(1), metrics(1), 4);
    await state.commitEpoch({ ...checkpointAt(2), resumedAt: [] }, metrics(2), 4);
    // The next attempt resumes after epoch 2 (and dies before epoch 3): its resumption is stored.
    const saved = (await checkpoints.load('job-1'))!;
    assert.equal(await state.reconcile(saved, 4, { trainer: saved.trainer, resumedAt: [2] }), 'kept');
    const after = (await checkpoints.load('job-1'))!;
    assert.deepEqual(after.resumedAt, [2]);
    assert.equal(after.trainer.epoch, 2, 'the trainer state is the one resumed from');
    assert.ok((await redis.ttl(checkpointKey(prefix, 'job-1'))) > 0, 'the checkpoint keeps its retention');
    // A reconciliation without a resumption (a fresh start, a job back from its folds) writes none.
    assert.equal(await state.reconcile(after, 4), 'kept');
    assert.deepEqual((await checkpoints.load('job-1'))!.resumedAt, [2]);
  });

  test('an epoch commit writes checkpoint, metrics entry and progress together', async () => {
    await state.commitEpoch(checkpointAt(1), metrics(1), 4);
    const saved = await new CheckpointStore(redis, prefix).load('job-1');
    assert.equal(saved?.trainer.epoch, 1);
    assert.deepEqual(await epochsListed(), [1]);
    assert.deepEqual(JSON.parse((await redis.hget(`${prefix}:training:job-1`, 'progress'))!), { epoch: 1, epochs: 4 });
    const [[, events]] = (await redis.xrange(`${prefix}:training:events`, '-', '+')).slice(-1) as [string, string[]][];
    assert.deepEqual(events, ['event', 'progress', 'jobId', 'job-1', 'data', JSON.stringify({ epoch: 1, epochs: 4 })]);
  });

  test("with another worker's token, or no lock at all, every write is refused and nothing is written", async () => {
    for (const lock of ['token-of-another-worker', null]) {
      if (lock) await redis.set(lockKey, lock);
      else await redis.del(lockKey);
      await assert.rejects(state.commitEpoch(checkpointAt(1), metrics(1), 4), LostJobLockError);
      await assert.rejects(state.reconcile(checkpointAt(1), 4), LostJobLockError);
      await assert.rejects(state.deleteCheckpoint(), LostJobLockError);
      assert.deepEqual(await epochsListed(), []);
      assert.equal(await redis.exists(`${prefix}:job:job-1:checkpoint`), 0);
      assert.equal(await redis.hexists(`${prefix}:training:job-1`, 'progress'), 0);
    }
  });
});
