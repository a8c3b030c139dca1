import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import type { TestService } from '../helpers/app';
import { readSearch, startSearchService, type SearchBody } from '../helpers/search-service';
import { startWorkerProcess, stopWorkerProcess, type WorkerProcess } from '../helpers/worker-process';

const EPOCHS = 10;
const GOOD = 0.03;

/**
 * Random and TPE searches with ASHA across two real worker processes (`node dist/src/main.js
 * worker`, each running the training worker, concurrency 1, and the search coordinator worker),
 * each with a SIGKILL of a worker mid-search: the coordinator's worker in the random search, a
 * worker that runs only a trial in the TPE search. The space is a choice of learning rates
 * (0.03 learns, 1e-6 and 1e-7 cannot) and of L2 weights (so that TPE's proposals differ from
 * the random draws). Every trial trains from the same seed (the same initial
 * weights), so at the first rung (epoch 1) a hopeless trial is behind every learning one. The
 * seeds are chosen (the samplers are pure functions of seed and trial number) so that the first
 * trials learn and the hopeless ones start only once enough learning trials have reached the
 * rung: their pruning is certain, not likely (see each test). No timed assertions: the waits
 * only bound a hang.
 */
describe('random and TPE searches across worker processes', () => {
  let svc: TestService;
  let datasetId: string;
  const workers: WorkerProcess[] = [];

  before(async () => {
    ({ svc, datasetId } = await startSearchService());
  });
  // Each test starts with no worker process: the workers of the one before are stopped.
  afterEach(async () => {
    await Promise.all(workers.splice(0).map(stopWorkerProcess));
  });
  after(async () => {
    await svc.close();
  });

  function spawnWorker(): WorkerProcess {
    const worker = startWorkerProcess(svc.config, { WORKER_CONCURRENCY: '1', LOG_LEVEL: 'info' });
    workers.push(worker);
    return worker;
  }

  const search = (id: string) => readSearch(svc, id);

  async function waitFor<T>(what: string, check: () => Promise<T | undefined>): Promise<T> {
    const deadline = Date.now() + 150_000;
    for (;;) {
      const found = await check();
      if (found !== undefined) return found;
      if (Date.now() > deadline) throw new Error(`no ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  const waitForSearch = (id: string, what: string, check: (s: SearchBody) => boolean) =>
    waitFor(what, async () => {
      const body = await search(id);
      return check(body) ? body : undefined;
    });

  async function activeTrialJobs(id: string): Promise<string[]> {
    const active = await svc.app.trainingQueue.getJobs(['active']);
    return active.map((j) => j.id!).filter((jobId) => jobId.startsWith(`${id}-`));
  }

  function createSearch(strategy: 'random' | 'tpe', maxTrials: number, seed: number) {
    return svc.http.post('/v1/searches').send({
      base: {
        datasetId,
        target: 'label',
        task: 'classification',
        model: { hidden: [{ units: 8 }] },
        training: { epochs: EPOCHS, batchSize: 8 },
      },
      space: {
        'training.learningRate': { type: 'choice', values: [GOOD, 1e-6, 1e-7] },
        'regularization.l2': { type: 'choice', values: [0, 1e-4, 1e-3] },
      },
      strategy,
      budget: { maxTrials, maxParallel: 2 },
      objective: { metric: 'valLoss' },
      pruner: { type: 'asha', gracePeriod: 1, reductionFactor: 3 },
      seed,
    });
  }

  /** Every check of the done-when that does not depend on the strategy. */
  async function checkFinished(id: string, done: SearchBody, maxTrials: number): Promise<void> {
    assert.equal(done.state, 'completed', JSON.stringify(done.trials));
    // Every trial exactly once: numbers 0..maxTrials-1, one training job each under the trial's
    // id, and the training queue holds no other job of this search.
    assert.deepEqual(
      done.trials.map((t) => t.trial).sort((a, b) => a - b),
      Array.from({ length: maxTrials }, (_, k) => k),
    );
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
      // Each epoch once, in order: a trial taken over from the killed worker resumed.
      const job = await svc.http.get(`/v1/training-jobs/${t.jobId}`);
      assert.deepEqual(
        job.body.metrics.map((m: { epoch: number }) => m.epoch),
        Array.from({ length: t.epochsRun }, (_, i) => i + 1),
        `trial ${t.trial}`,
      );
      if (t.state === 'completed') {
        assert.equal(t.epochsRun, EPOCHS);
        assert.ok(t.modelId);
      }
      // A hopeless trial is pruned at the first rung (each test argues why this is certain).
      if (t.settings['training.learningRate'] !== GOOD) {
        assert.equal(t.state, 'pruned', `hopeless trial ${t.trial}`);
        assert.equal(t.prunedAtEpoch, 1);
      }
    }
    assert.ok(
      done.trials.some((t) => t.state === 'pruned'),
      'a trial was pruned',
    );

    // Ranked by the objective (valLoss, lower first): the completed trials first, by their value.
    const completed = done.trials.filter((t) => t.state === 'completed');
    assert.ok(completed.length >= 1);
    assert.deepEqual(done.trials.slice(0, completed.length), completed);
    for (let i = 1; i < completed.length; i++) {
      assert.ok(completed[i - 1].value! <= completed[i].value!, `ranked: ${JSON.stringify(completed)}`);
    }
    // Then the pruned ones, those that got further first; every trial ranked 1..n.
    const pruned = done.trials.slice(completed.length);
    for (let i = 1; i < pruned.length; i++) assert.ok(pruned[i - 1].epochsRun >= pruned[i].epochsRun);
    assert.deepEqual(
      done.trials.map((t) => t.rank),
      done.trials.map((_, i) => i + 1),
    );
    assert.ok(done.best, 'a best trial with its model');
    assert.equal(done.best.trial, completed[0].trial);
    assert.equal(done.best.modelId, completed[0].modelId);
    assert.equal(completed[0].settings['training.learningRate'], GOOD);
    const model = await svc.http.get(`/v1/models/${done.best.modelId}`);
    assert.equal(model.status, 200, model.text);
  }

  test("random + ASHA: killing the coordinator's worker loses and repeats no trial", async () => {
    // Seed 8 draws learning rates G G G h h h for trials 0–5 (G = 0.03, h = hopeless). A trial
    // starts only when fewer than 2 are unsettled, so trial 3 starts once 2 of the learning trials
    // 0–2 have settled, having reached epoch 1. With at most 6 trials at the rung, ASHA (η = 3)
    // keeps the best max(⌊n/3⌋, 1) ≤ 2 there, and each hopeless trial is behind those 2.
    const maxTrials = 6;
    const first = spawnWorker();
    const created = await createSearch('random', maxTrials, 8);
    assert.equal(created.status, 202, created.text);
    const id = created.body.searchId as string;

    // Only the first worker runs: it holds the coordinator. A second joins, and once a trial has
    // trained an epoch the first is killed with its coordinator and its trial.
    await waitForSearch(id, 'trial with an epoch', (s) => s.trials.some((t) => t.epochsRun >= 1));
    assert.equal((await search(id)).state, 'running', 'killed mid-search');
    spawnWorker();
    first.child.kill('SIGKILL');
    await first.exited;
    spawnWorker();

    const done = await waitForSearch(id, 'end', (s) => s.state !== 'running');
    await checkFinished(id, done, maxTrials);
    assert.deepEqual(
      [...done.trials].sort((a, b) => a.trial - b.trial).map((t) => t.settings['training.learningRate'] === GOOD),
      [true, true, true, false, false, false],
      'the seed draws what the comment says',
    );
  });

  test('TPE + ASHA: killing a worker that runs a trial (not the coordinator) loses and repeats no trial', async () => {
    // TPE proposes at random until 10 trials have finished (Optuna's n_startup_trials; the API
    // has no option for it). With maxParallel 2, trial 11 starts only when at most one of trials
    // 0–10 is unsettled, so at least 10 have finished: trial 11 (and maybe 10) is TPE's own
    // proposal. Seed 21 draws G G G h h G G h G G for the random trials 0–9. A hopeless trial k
    // starts once k − 1 of trials 0..k−1 have settled; for k = 3, 4 that is at least 2 learning
    // trials at the rung among ≤ 5 (ASHA keeps 1 there), for k = 7 at least 4 among ≤ 12 (ASHA
    // keeps ≤ 4), and TPE's trials 10, 11 start after more still (6 learning trials settled).
    const maxTrials = 12;
    const coordinatorWorker = spawnWorker();
    const created = await createSearch('tpe', maxTrials, 21);
    assert.equal(created.status, 202, created.text);
    const id = created.body.searchId as string;

    // The first worker takes the coordinator and a trial; a second joins and takes the other
    // trial. With concurrency 1 each, two active trial jobs mean the second runs one: it is killed
    // then, once a trial has trained an epoch, and a third takes its place.
    await waitForSearch(id, 'trial with an epoch', (s) => s.trials.some((t) => t.epochsRun >= 1));
    const second = spawnWorker();
    await second.ready;
    await waitFor('two active trials', async () => ((await activeTrialJobs(id)).length === 2 ? true : undefined));
    assert.equal((await search(id)).state, 'running', 'killed mid-search');
    second.child.kill('SIGKILL');
    await second.exited;
    spawnWorker();

    const done = await waitForSearch(id, 'end', (s) => s.state !== 'running');
    assert.equal(coordinatorWorker.child.exitCode, null, "the coordinator's worker lived");
    await checkFinished(id, done, maxTrials);
    assert.deepEqual(
      [...done.trials]
        .sort((a, b) => a.trial - b.trial)
        .slice(0, 10)
        .map((t) => t.settings['training.learningRate'] === GOOD),
      [true, true, true, false, false, true, true, false, true, true],
      'the seed draws what the comment says',
    );
  });
});
