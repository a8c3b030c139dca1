import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { createTrainingWorker } from '../../jobs/training-worker';
import { checkpointKey } from '../../src/store/checkpoint-store';
import { cancelKey, cancelledJobKey, cancelledJobsIndexKey, crashKey, metricsKey } from '../../src/training-jobs/keys';
import { startService, xorCsv, type TestService } from '../helpers/app';

interface Listed {
  jobId: string;
  state: string;
  datasetId?: string;
  modelId?: string;
  error?: string;
  createdAt: string;
}

/**
 * GET /v1/training-jobs (filters, paging, total) and DELETE of finished jobs, on the real app,
 * Redis and worker. Jobs in every state are made for real: a waiting job cancelled by DELETE, a
 * job whose dataset vanished before it started (failed), two completed ones, one left waiting,
 * and one cancelled while active.
 */
describe('training jobs: listing and deleting finished jobs', () => {
  let svc: TestService;
  let redis: Redis;
  let worker: Worker | undefined;
  const datasets: Record<'a' | 'b' | 'gone', string> = { a: '', b: '', gone: '' };
  const jobs: Record<'cancelled' | 'failed' | 'done1' | 'done2' | 'waiting', string> = {
    cancelled: '',
    failed: '',
    done1: '',
    done2: '',
    waiting: '',
  };

  async function upload(): Promise<string> {
    const res = await svc.http.post('/v1/datasets').set('content-type', 'text/csv').send(xorCsv(60));
    assert.equal(res.status, 201, res.text);
    return res.body.id;
  }
  async function queue(datasetId: string, epochs = 1): Promise<string> {
    const res = await svc.http.post('/v1/training-jobs').send({
      datasetId,
      target: 'label',
      task: 'classification',
      model: { hidden: [{ units: 4 }] },
      training: { epochs, seed: 1 },
    });
    assert.equal(res.status, 202, res.text);
    return res.body.jobId;
  }
  async function list(query = ''): Promise<{ jobs: Listed[]; total: number }> {
    const res = await svc.http.get(`/v1/training-jobs${query}`);
    assert.equal(res.status, 200, res.text);
    return res.body;
  }
  const ids = (page: { jobs: Listed[] }) => page.jobs.map((job) => job.jobId).sort();

  before(async () => {
    svc = await startService({ worker: false });
    redis = new Redis(svc.config.redisUrl);
    datasets.a = await upload();
    datasets.b = await upload();
    datasets.gone = await upload();
    // No worker yet: this job is waiting when DELETE removes it.
    jobs.cancelled = await queue(datasets.a);
    const cancelled = await svc.http.delete(`/v1/training-jobs/${jobs.cancelled}`);
    assert.deepEqual([cancelled.status, cancelled.body.state], [202, 'cancelled']);
    // The dataset goes before a worker reads it (the store directly: the route refuses while a job waits on it).
    jobs.failed = await queue(datasets.gone);
    assert.equal(await svc.app.datasets.delete(datasets.gone), true);
    jobs.done1 = await queue(datasets.a);
    jobs.done2 = await queue(datasets.b);
    worker = createTrainingWorker(svc.config);
    await assert.rejects(svc.waitForJob(jobs.failed), /dataset/);
    await svc.waitForJob(jobs.done1);
    await svc.waitForJob(jobs.done2);
    await worker.close();
    worker = undefined;
    jobs.waiting = await queue(datasets.a, 300);
  });
  after(async () => {
    await worker?.close();
    redis.disconnect();
    await svc.close();
  });

  test('without filters: every job, newest first, with the total', async () => {
    const page = await list();
    assert.equal(page.total, 5);
    assert.deepEqual(ids(page), Object.values(jobs).sort());
    const times = page.jobs.map((job) => Date.parse(job.createdAt));
    assert.deepEqual(
      times,
      [...times].sort((x, y) => y - x),
      'newest first',
    );
    const byId = new Map(page.jobs.map((job) => [job.jobId, job]));
    assert.equal(byId.get(jobs.cancelled)!.state, 'cancelled');
    assert.equal(
      byId.get(jobs.cancelled)!.datasetId,
      datasets.a,
      'the record of a cancelled waiting job keeps its dataset',
    );
    assert.equal(byId.get(jobs.failed)!.state, 'failed');
    assert.match(byId.get(jobs.failed)!.error!, /dataset/);
    assert.equal(byId.get(jobs.done1)!.state, 'completed');
    assert.match(byId.get(jobs.done1)!.modelId!, /./);
    assert.equal(byId.get(jobs.waiting)!.state, 'waiting');
    // What GET of one job says about the same job.
    for (const job of page.jobs) {
      const one = await svc.http.get(`/v1/training-jobs/${job.jobId}`);
      assert.equal(one.body.state, job.state, job.jobId);
      assert.equal(one.body.createdAt, job.createdAt, job.jobId);
    }
  });

  test('filters by state and by dataset, alone and together', async () => {
    assert.deepEqual(ids(await list('?state=completed')), [jobs.done1, jobs.done2].sort());
    assert.deepEqual(ids(await list('?state=failed')), [jobs.failed]);
    assert.deepEqual(ids(await list('?state=cancelled')), [jobs.cancelled]);
    assert.deepEqual(ids(await list('?state=waiting')), [jobs.waiting]);
    assert.deepEqual(await list('?state=active'), { jobs: [], total: 0 });
    const onA = await list(`?datasetId=${datasets.a}`);
    assert.deepEqual(ids(onA), [jobs.cancelled, jobs.done1, jobs.waiting].sort());
    assert.equal(onA.total, 3);
    assert.deepEqual(ids(await list(`?datasetId=${datasets.a}&state=completed`)), [jobs.done1]);
    assert.deepEqual(await list(`?datasetId=${datasets.b}&state=failed`), { jobs: [], total: 0 });
    assert.deepEqual(await list('?datasetId=ds_nobody'), { jobs: [], total: 0 });
  });

  test('pages: offset and limit walk the list once, the total stays', async () => {
    const whole = (await list()).jobs.map((job) => job.jobId);
    const walked: string[] = [];
    for (let offset = 0; offset < 6; offset += 2) {
      const page = await list(`?offset=${offset}&limit=2`);
      assert.equal(page.total, 5);
      assert.equal(page.jobs.length, Math.min(2, 5 - offset));
      walked.push(...page.jobs.map((job) => job.jobId));
    }
    assert.deepEqual(walked, whole);
    assert.deepEqual(await list('?offset=10'), { jobs: [], total: 5 });
    const onA = await list(`?datasetId=${datasets.a}&offset=1&limit=1`);
    assert.equal(onA.total, 3);
    assert.equal(onA.jobs.length, 1);
  });

  test('bad filters are a 400 naming the parameter', async () => {
    for (const query of ['?limit=0', '?limit=1001', '?offset=-1', '?state=running', '?state=', '?datasetId=']) {
      const res = await svc.http.get(`/v1/training-jobs${query}`);
      assert.equal(res.status, 400, `${query}: ${res.text}`);
      assert.equal(res.body.error.code, 'VALIDATION', query);
      assert.match(res.body.error.message, new RegExp(/\?(\w+)=/.exec(query)![1]), query);
    }
  });

  test('DELETE of a completed job removes it and its metrics; its model stays', async () => {
    const before = (await svc.http.get(`/v1/training-jobs/${jobs.done2}`)).body;
    const metrics = metricsKey(svc.config.redisPrefix, jobs.done2);
    assert.equal(await redis.llen(metrics), 1, 'the job has its metrics before');
    const res = await svc.http.delete(`/v1/training-jobs/${jobs.done2}`);
    assert.equal(res.status, 204, res.text);
    assert.equal(res.text, '');
    assert.equal(await svc.app.trainingQueue.getJob(jobs.done2), undefined, 'gone from the queue');
    for (const key of [metrics, checkpointKey(svc.config.redisPrefix, jobs.done2)]) {
      assert.equal(await redis.exists(key), 0, key);
    }
    for (const path of ['', '/events', '/report', '/curves.svg']) {
      const gone = await svc.http.get(`/v1/training-jobs/${jobs.done2}${path}`);
      assert.equal(gone.status, 404, `${path}: ${gone.status}`);
    }
    assert.equal((await svc.http.delete(`/v1/training-jobs/${jobs.done2}`)).status, 404, 'a second DELETE');
    assert.equal((await svc.http.get(`/v1/models/${before.modelId}`)).status, 200, 'the model stays');
    const page = await list('?state=completed');
    assert.deepEqual(ids(page), [jobs.done1]);
    assert.equal(page.total, 1);
  });

  test('DELETE of a failed job and of a job cancelled while waiting removes them', async () => {
    const prefix = svc.config.redisPrefix;
    assert.equal((await svc.http.delete(`/v1/training-jobs/${jobs.failed}`)).status, 204);
    assert.equal(await redis.exists(crashKey(prefix, jobs.failed)), 0);
    assert.equal((await svc.http.get(`/v1/training-jobs/${jobs.failed}`)).status, 404);

    assert.equal(await redis.exists(cancelledJobKey(prefix, jobs.cancelled)), 1, 'the record is there before');
    assert.equal(await redis.exists(cancelKey(prefix, jobs.cancelled)), 1, 'and the cancel flag');
    assert.equal((await svc.http.delete(`/v1/training-jobs/${jobs.cancelled}`)).status, 204);
    assert.equal(await redis.exists(cancelledJobKey(prefix, jobs.cancelled)), 0);
    assert.equal(await redis.zscore(cancelledJobsIndexKey(prefix), jobs.cancelled), null);
    assert.equal(await redis.exists(cancelKey(prefix, jobs.cancelled)), 0, 'the cancel flag too');
    assert.equal((await svc.http.get(`/v1/training-jobs/${jobs.cancelled}`)).status, 404);
    assert.equal((await svc.http.delete(`/v1/training-jobs/${jobs.cancelled}`)).status, 404);
    assert.deepEqual(ids(await list()), [jobs.done1, jobs.waiting].sort());
  });

  test('DELETE of an active job cancels it (202), a second DELETE of the cancelled job removes it', async () => {
    worker = createTrainingWorker(svc.config);
    await svc.waitForEpoch(jobs.waiting, 1);
    assert.deepEqual(ids(await list('?state=active')), [jobs.waiting]);
    const res = await svc.http.delete(`/v1/training-jobs/${jobs.waiting}`);
    assert.deepEqual([res.status, res.body], [202, { jobId: jobs.waiting, state: 'cancelling' }]);
    await assert.rejects(svc.waitForJob(jobs.waiting), /cancelled by request/);
    const cancelled = await list('?state=cancelled');
    assert.deepEqual(ids(cancelled), [jobs.waiting]);
    assert.equal(cancelled.jobs[0].datasetId, datasets.a);
    assert.equal(await redis.exists(cancelKey(svc.config.redisPrefix, jobs.waiting)), 1, 'the flag is kept until then');
    assert.ok((await redis.llen(metricsKey(svc.config.redisPrefix, jobs.waiting))) >= 1, 'and the metrics');
    assert.equal((await svc.http.delete(`/v1/training-jobs/${jobs.waiting}`)).status, 204);
    for (const key of [
      metricsKey(svc.config.redisPrefix, jobs.waiting),
      cancelKey(svc.config.redisPrefix, jobs.waiting),
      checkpointKey(svc.config.redisPrefix, jobs.waiting),
    ]) {
      assert.equal(await redis.exists(key), 0, key);
    }
    assert.equal((await svc.http.get(`/v1/training-jobs/${jobs.waiting}`)).status, 404);
    assert.deepEqual(await list('?state=cancelled'), { jobs: [], total: 0 });
  });

  test('a waiting job: DELETE still cancels it (202), it does not delete it', async () => {
    await worker?.close();
    worker = undefined;
    const jobId = await queue(datasets.b);
    const res = await svc.http.delete(`/v1/training-jobs/${jobId}`);
    assert.deepEqual([res.status, res.body], [202, { jobId, state: 'cancelled' }]);
    assert.equal((await svc.http.get(`/v1/training-jobs/${jobId}`)).body.state, 'cancelled');
    assert.deepEqual(ids(await list('?state=cancelled')), [jobId]);
  });
});
