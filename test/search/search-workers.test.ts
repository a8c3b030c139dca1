import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { TestService } from '../helpers/app';
import { readSearch, startSearchService, type SearchBody } from '../helpers/search-service';
import { startWorkerProcess, stopWorkerProcess, type WorkerProcess } from '../helpers/worker-process';

const EPOCHS = 20;

/**
 * A search across two real worker processes (`node dist/src/main.js worker`, each running the
 * training worker and the search coordinator worker), with ASHA pruning, and a SIGKILL of the
 * worker that runs the search's coordinator while trials train. No timed assertions: the waits
 * only bound a hang.
 */
describe('searches across worker processes', () => {
  let svc: TestService;
  let datasetId: string;
  const workers: WorkerProcess[] = [];

  before(async () => {
    ({ svc, datasetId } = await startSearchService());
  });
  after(async () => {
    await Promise.all(workers.map(stopWorkerProcess));
    await svc.close();
  });

  function spawnWorker(): WorkerProcess {
    const worker = startWorkerProcess(svc.config);
    workers.push(worker);
    return worker;
  }

  const search = (id: string) => readSearch(svc, id);

  async function waitFor(id: string, what: string, check: (s: SearchBody) => boolean) {
    const deadline = Date.now() + 150_000;
    for (;;) {
      const body = await search(id);
      if (check(body)) return body;
      if (Date.now() > deadline) throw new Error(`search ${id}: no ${what}: ${JSON.stringify(body.progress)}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  test("ASHA prunes the hopeless trials; killing the coordinator's worker loses and repeats no trial", async () => {
    // Grid order (first key slowest): trials 0–2 learn (lr 0.03), trials 3–5 cannot (lr 1e-6).
    // All train from the same seed, so the same initial weights: at the first rung (epoch 1) every
    // hopeless trial is behind the ones that learn, which have reached it before it starts
    // (maxParallel 2), and is pruned there.
    const first = spawnWorker();
    const created = await svc.http.post('/v1/searches').send({
      base: {
        datasetId,
        target: 'label',
        task: 'classification',
        model: { hidden: [{ units: 8 }] },
        training: { epochs: EPOCHS, batchSize: 8 },
      },
      space: {
        'training.learningRate': { type: 'choice', values: [0.03, 1e-6] },
        'regularization.l2': { type: 'choice', values: [0, 1e-4, 1e-3] },
      },
      strategy: 'grid',
      budget: { maxTrials: 6, maxParallel: 2 },
      objective: { metric: 'valLoss' },
      pruner: { type: 'asha', gracePeriod: 1, reductionFactor: 3 },
      seed: 21,
    });
    assert.equal(created.status, 202, created.text);
    const id = created.body.searchId as string;

    // Only the first worker runs: it holds the coordinator. Then a second joins, and once a trial
    // has trained an epoch the first is killed with its coordinator and its trial.
    await waitFor(id, 'trial with an epoch', (s) => s.trials.some((t) => t.epochsRun >= 1));
    const sandboxes = first.sandboxPids();
    assert.equal((await search(id)).state, 'running', 'killed mid-search');
    spawnWorker();
    first.child.kill('SIGKILL');
    await first.exited;
    spawnWorker();

    const done = await waitFor(id, 'end', (s) => s.state !== 'running');
    assert.equal(done.state, 'completed', JSON.stringify(done.trials));

    // Every trial exactly once: numbers 0–5, one training job each under the trial's id, and
    // the training queue holds no other job of this search.
    const numbers = done.trials.map((t) => t.trial).sort((a, b) => a - b);
    assert.deepEqual(numbers, [0, 1, 2, 3, 4, 5]);
    for (const t of done.trials) assert.equal(t.jobId, `${id}-t${t.trial}`);
    const queued = await svc.app.trainingQueue.getJobs([
      'completed',
      'failed',
      'active',
      'waiting',
      'delayed',
      'prioritized',
    ]);
    const ofSearch = queued
      .map((j) => j.id!)
      .filter((jobId) => jobId.startsWith(`${id}-`))
      .sort();
    assert.deepEqual(ofSearch, done.trials.map((t) => t.jobId).sort());

    for (const t of done.trials) {
      assert.ok(['completed', 'pruned'].includes(t.state), `trial ${t.trial}: ${t.state}`);
      // Each epoch once, in order: a trial taken over from the killed worker resumed, not restarted twice.
      const job = await svc.http.get(`/v1/training-jobs/${t.jobId}`);
      assert.deepEqual(
        job.body.metrics.map((m: { epoch: number }) => m.epoch),
        Array.from({ length: t.epochsRun }, (_, i) => i + 1),
      );
      if (t.state === 'completed') {
        assert.equal(t.epochsRun, EPOCHS);
        assert.ok(t.modelId);
      }
    }
    const hopeless = done.trials.filter((t) => t.settings['training.learningRate'] === 1e-6);
    for (const t of hopeless) {
      assert.equal(t.state, 'pruned', `trial ${t.trial}`);
      assert.equal(t.prunedAtEpoch, 1);
    }
    assert.ok(done.best, 'a best trial with its model');
    assert.equal(done.trials[0].trial, done.best.trial);
    assert.equal(done.trials[0].state, 'completed');
    assert.equal(done.trials[0].settings['training.learningRate'], 0.03);
    // The curves chart: every trial, the pruned ones marked.
    const svg = await svc.http
      .get(`/v1/searches/${id}/curves.svg`)
      .buffer(true)
      .parse((res, cb) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk));
        res.on('end', () => cb(null, text));
      });
    assert.equal(svg.status, 200);
    const marked = new Set(
      [...(svg.body as string).matchAll(/t(\d+) [^<",]*?✂ pruned at \d+/g)].map((m) => Number(m[1])),
    );
    assert.deepEqual(
      [...marked].sort(),
      done.trials
        .filter((t) => t.state === 'pruned')
        .map((t) => t.trial)
        .sort(),
    );
    const model = await svc.http.get(`/v1/models/${done.best.modelId}`);
    assert.equal(model.status, 200);
    // The killed worker's sandboxed trainer did not outlive it.
    for (const pid of sandboxes) assert.equal(alive(pid), false, `sandbox ${pid}`);
  });

  test("TPE search and DELETE: the running trials are cancelled through the training jobs' path", async () => {
    const created = await svc.http.post('/v1/searches').send({
      base: {
        datasetId,
        target: 'label',
        task: 'classification',
        model: { hidden: [{ units: 8 }] },
        training: { epochs: 200, batchSize: 8 },
      },
      space: {
        'training.learningRate': { type: 'loguniform', low: 1e-3, high: 1e-1 },
        'model.hidden.length': { type: 'int', low: 1, high: 2 },
      },
      strategy: 'tpe',
      budget: { maxTrials: 4, maxParallel: 2 },
      pruner: { type: 'median' },
      seed: 4,
    });
    assert.equal(created.status, 202, created.text);
    const id = created.body.searchId as string;
    await waitFor(id, 'trial with an epoch', (s) => s.trials.some((t) => t.epochsRun >= 1));
    const cancel = await svc.http.delete(`/v1/searches/${id}`);
    assert.equal(cancel.status, 202, cancel.text);
    const done = await waitFor(id, 'settled trials', (s) => s.progress.running === 0);
    assert.equal(done.state, 'cancelled');
    assert.ok(done.trials.length >= 1 && done.trials.length <= 2, 'no trial started after DELETE');
    for (const t of done.trials) {
      assert.equal(t.state, 'cancelled', `trial ${t.trial}: ${JSON.stringify(t)}`);
      assert.ok(t.epochsRun < 200);
      const job = await svc.http.get(`/v1/training-jobs/${t.jobId}`);
      assert.equal(job.body.state, 'cancelled');
    }
    const again = await svc.http.delete(`/v1/searches/${id}`);
    assert.equal(again.status, 409);
  });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
