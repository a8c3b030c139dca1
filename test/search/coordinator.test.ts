import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { trialJobs } from '../../jobs/search-worker';
import { searchRequestSchema } from '../../src/schemas/search.schema';
import { coordinate, type CoordinatorDeps } from '../../src/search/coordinator';
import { SearchStore, type SearchSpec } from '../../src/search/search-store';
import { startService, type TestService } from '../helpers/app';
import { overfitCsv } from '../helpers/overfit-data';

/**
 * The coordinator's passes against the real training queue and Redis, with no worker: the crash
 * windows a coordinator can die in, and two coordinators passing over one search at once.
 */
describe('search coordinator', () => {
  let svc: TestService;
  let deps: CoordinatorDeps;
  let datasetId: string;
  let n = 0;

  before(async () => {
    svc = await startService({ worker: false });
    const upload = await svc.http
      .post('/v1/datasets')
      .set('content-type', 'text/csv')
      .send(overfitCsv({ rows: 40, noiseFeatures: 2 }));
    datasetId = upload.body.id;
    const store = new SearchStore(svc.app.redis, svc.config.redisPrefix, 3600);
    deps = { store, jobs: trialJobs(svc.app.trainingQueue, svc.app.trainingJobs) };
  });
  after(async () => {
    await svc.close();
  });

  async function newSearch(budget: Record<string, number>): Promise<string> {
    const request = searchRequestSchema.parse({
      base: { datasetId, target: 'label', task: 'classification', training: { epochs: 2 } },
      space: { 'regularization.l2': { type: 'loguniform', low: 1e-6, high: 1e-2 } },
      budget,
      seed: 3,
    });
    const searchId = `coord-${n++}`;
    const spec: SearchSpec = { searchId, request: { ...request, seed: 3 }, createdAt: new Date().toISOString() };
    assert.equal(await deps.store.create(spec), true);
    assert.equal(await deps.store.create(spec), false, 'a search is created once');
    return searchId;
  }

  const jobsOf = async (searchId: string) =>
    (await svc.app.trainingQueue.getJobs(['waiting', 'active', 'completed', 'failed', 'delayed', 'prioritized']))
      .map((j) => j.id!)
      .filter((id) => id.startsWith(`${searchId}-`))
      .sort();

  test("starts maxParallel trials as training jobs under the trials' ids, and no more on the next pass", async () => {
    const id = await newSearch({ maxTrials: 5, maxParallel: 2 });
    assert.equal(await coordinate(deps, id), 'running');
    assert.deepEqual(await jobsOf(id), [`${id}-t0`, `${id}-t1`]);
    const trials = await deps.store.trials(id);
    assert.deepEqual(
      trials.map((t) => t.state),
      ['waiting', 'waiting'],
    );
    const job = await svc.app.trainingQueue.getJob(`${id}-t1`);
    assert.equal(job!.data.seed, 3);
    assert.equal(job!.data.request.regularization.l2, trials[1].settings['regularization.l2']);
    await coordinate(deps, id);
    assert.deepEqual(await jobsOf(id), [`${id}-t0`, `${id}-t1`]);
  });

  test('a trial recorded but not started (its coordinator died in between) is started by the next pass, once', async () => {
    const id = await newSearch({ maxTrials: 5, maxParallel: 2 });
    await coordinate(deps, id);
    // As if the coordinator had died after HSETNX and before adding the job.
    await (await svc.app.trainingQueue.getJob(`${id}-t1`))!.remove();
    const [t0, t1] = await deps.store.trials(id);
    await deps.store.saveTrial(id, { ...t1, state: 'proposed' });
    await coordinate(deps, id);
    assert.deepEqual(await jobsOf(id), [`${id}-t0`, `${id}-t1`]);
    const after = await deps.store.trials(id);
    assert.deepEqual(
      after.map((t) => [t.trial, t.state]),
      [
        [0, 'waiting'],
        [1, 'waiting'],
      ],
    );
    assert.deepEqual(after[0].settings, t0.settings);
  });

  test('two coordinators passing at once propose each trial once and start it once', async () => {
    const id = await newSearch({ maxTrials: 6, maxParallel: 4 });
    await Promise.all([coordinate(deps, id), coordinate(deps, id), coordinate(deps, id)]);
    const trials = await deps.store.trials(id);
    assert.deepEqual(
      trials.map((t) => t.trial),
      [0, 1, 2, 3],
    );
    assert.deepEqual(await jobsOf(id), trials.map((t) => t.jobId).sort());
  });

  test('two cancellations of one waiting trial at once (DELETE and the coordinator): it reads cancelled', async () => {
    const id = await newSearch({ maxTrials: 2, maxParallel: 1 });
    await coordinate(deps, id);
    const [trial] = await deps.store.trials(id);
    const results = await Promise.all([
      svc.app.trainingJobs.cancel(trial.jobId),
      svc.app.trainingJobs.cancel(trial.jobId),
    ]);
    assert.deepEqual(results, ['cancelled', 'cancelled']);
    assert.equal((await svc.app.trainingJobs.read(trial.jobId))?.kind, 'cancelled-waiting');
  });

  test('past maxDurationSeconds: the waiting trials are cancelled and the search ends', async () => {
    const id = await newSearch({ maxTrials: 5, maxParallel: 2, maxDurationSeconds: 60 });
    await coordinate(deps, id);
    const late = { ...deps, now: () => Date.now() + 61_000 };
    await coordinate(late, id);
    assert.deepEqual(await jobsOf(id), [], 'waiting jobs removed by the cancellation path');
    assert.equal(await coordinate(late, id), 'finished');
    const trials = await deps.store.trials(id);
    assert.deepEqual(
      trials.map((t) => [t.state, t.settled]),
      [
        ['cancelled', true],
        ['cancelled', true],
      ],
    );
    assert.match(trials[0].error!, /maxDurationSeconds/);
    const status = await deps.store.status(id);
    assert.equal(status.state, 'failed');
    assert.equal(status.error, 'no trial completed');
  });
});
