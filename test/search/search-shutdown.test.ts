import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Queue } from 'bullmq';
import { SEARCH_QUEUE } from '../../jobs/search-queue';
import { startService, type TestService } from '../helpers/app';
import { overfitCsv } from '../helpers/overfit-data';
import { startWorkerProcess, stopWorkerProcess, type WorkerProcess } from '../helpers/worker-process';

/**
 * A worker process that shuts down (SIGTERM) while it runs a search's coordinator hands the
 * coordinator back to the queue at once (not after its lock lapses), and the next worker
 * finishes the search.
 */
describe('searches and graceful shutdown', () => {
  let svc: TestService;
  let searches: Queue;
  const workers: WorkerProcess[] = [];

  before(async () => {
    svc = await startService({ worker: false, env: { JOB_LOCK_MS: '1000', JOB_STALLED_INTERVAL_MS: '1000' } });
    searches = new Queue(SEARCH_QUEUE, { connection: { url: svc.config.redisUrl }, prefix: svc.config.redisPrefix });
  });
  after(async () => {
    await Promise.all(workers.map(stopWorkerProcess));
    await searches.close();
    await svc.close();
  });

  test('SIGTERM: the coordinator goes back to the queue, another worker completes the search', async () => {
    const upload = await svc.http
      .post('/v1/datasets')
      .set('content-type', 'text/csv')
      .send(overfitCsv({ rows: 300, noiseFeatures: 2 }));
    const first = startWorkerProcess(svc.config);
    workers.push(first);
    const created = await svc.http.post('/v1/searches').send({
      base: {
        datasetId: upload.body.id,
        target: 'label',
        task: 'classification',
        model: { hidden: [{ units: 8 }] },
        training: { epochs: 10, batchSize: 8 },
      },
      space: { 'training.learningRate': { type: 'loguniform', low: 1e-3, high: 1e-1 } },
      strategy: 'random',
      budget: { maxTrials: 3, maxParallel: 1 },
      seed: 2,
    });
    const id = created.body.searchId as string;
    const read = async () => (await svc.http.get(`/v1/searches/${id}`)).body;
    const until = async (what: string, check: (s: { state: string; trials: { epochsRun: number }[] }) => boolean) => {
      const deadline = Date.now() + 120_000;
      for (let s = await read(); ; s = await read()) {
        if (check(s)) return s;
        if (Date.now() > deadline) throw new Error(`no ${what}: ${JSON.stringify(s)}`);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    };
    await until('epoch', (s) => s.trials.some((t) => t.epochsRun >= 1));
    first.child.kill('SIGTERM');
    await first.exited;
    // Handed back by the closing worker: delayed (or already waiting), not active with a dead lock.
    assert.ok(['delayed', 'waiting'].includes(await (await searches.getJob(id))!.getState()));
    workers.push(startWorkerProcess(svc.config));
    const done = await until('end', (s) => s.state !== 'running');
    assert.equal(done.state, 'completed');
    assert.deepEqual(
      done.trials.map((t: { trial: number; state: string; epochsRun: number }) => [t.state, t.epochsRun]),
      [
        ['completed', 10],
        ['completed', 10],
        ['completed', 10],
      ],
    );
  });
});
