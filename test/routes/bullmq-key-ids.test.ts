import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { SWEEP_QUEUE } from '../../jobs/sweep-queue';
import { TRAINING_QUEUE } from '../../jobs/training-queue';
import { startService, xorCsv, type TestService } from '../helpers/app';
import { startSweepWorker, type SweepHarness } from '../helpers/sweeps';

/** Names BullMQ gives its own keys beside the jobs of a queue (`<prefix>:<queue>:<name>`). */
const KEY_NAMES = ['meta', 'id', 'events', 'completed', 'stalled-check', 'wait', 'active', 'failed', 'marker'];

/**
 * A job id equal to one of BullMQ's own key names reads a key that is not a job (a hash of queue
 * settings, a counter, a stream, a sorted set): it must be a 404 like any unknown id, not a 500.
 */
describe('job and sweep ids that name BullMQ keys', () => {
  let svc: TestService;
  let sweeps: SweepHarness;
  let redis: Redis;

  before(async () => {
    svc = await startService({ env: { JOB_STALLED_INTERVAL_MS: '500' } });
    sweeps = await startSweepWorker(svc.config);
    redis = new Redis(svc.config.redisUrl);
    // A finished job and a running sweep worker make BullMQ write its keys of both queues.
    const upload = await svc.http.post('/v1/datasets').set('content-type', 'text/csv').send(xorCsv(200));
    const queued = await svc.http.post('/v1/training-jobs').send({
      datasetId: upload.body.id,
      target: 'label',
      task: 'classification',
      training: { epochs: 2, seed: 1 },
    });
    assert.equal(queued.status, 202);
    await svc.waitForJob(queued.body.jobId);
  });
  after(async () => {
    redis.disconnect();
    await sweeps.close();
    await svc.close();
  });

  test('GET and DELETE of a training job, its report and curves answer 404', async () => {
    const present = [];
    for (const name of KEY_NAMES) {
      if ((await redis.type(`${svc.config.redisPrefix}:${TRAINING_QUEUE}:${name}`)) !== 'none') present.push(name);
    }
    // The reported five exist here, so the routes below really meet BullMQ's keys.
    for (const name of ['meta', 'events', 'completed', 'stalled-check'])
      assert.ok(present.includes(name), `${name} key exists`);
    for (const name of [...KEY_NAMES, 'x:lock', 'x:logs']) {
      for (const [method, path] of [
        ['get', `/v1/training-jobs/${name}`],
        ['delete', `/v1/training-jobs/${name}`],
        ['get', `/v1/training-jobs/${name}/report`],
        ['get', `/v1/training-jobs/${name}/curves.svg`],
        ['get', `/v1/training-jobs/${name}/events`],
      ] as const) {
        const res = await svc.http[method](path.replace(name, encodeURIComponent(name)));
        assert.equal(res.status, 404, `${method.toUpperCase()} ${path}: ${res.status} ${res.text.slice(0, 200)}`);
        assert.equal(res.body.error?.code ?? JSON.parse(res.text).error.code, 'JOB_NOT_FOUND');
      }
    }
  });

  test('GET of a sweep and its curves answer 404', async () => {
    for (const name of ['meta', 'stalled-check']) {
      assert.notEqual(
        await redis.type(`${svc.config.redisPrefix}:${SWEEP_QUEUE}:${name}`),
        'none',
        `${name} key exists`,
      );
    }
    for (const name of KEY_NAMES) {
      for (const path of [`/v1/sweeps/${name}`, `/v1/sweeps/${name}/curves.svg`]) {
        const res = await svc.http.get(path);
        assert.equal(res.status, 404, `GET ${path}: ${res.status} ${res.text.slice(0, 200)}`);
      }
    }
  });
});
