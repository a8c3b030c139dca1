import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startService, type TestService } from '../helpers/app';
import { overfitCsv } from '../helpers/overfit-data';
import { startSweepWorker, type SweepHarness } from '../helpers/sweeps';

/**
 * Issue 6, "Done when": on a dataset built to overfit (120 rows, 2 informative and 20 pure-noise
 * features, two hidden layers of 256 units), the unregularized run is diagnosed overfit; L2,
 * dropout and early stopping each shrink the final gap; early stopping stops before `epochs`
 * and serves the best epoch's weights; a sweep over those settings ranks a regularized run first.
 *
 * Everything goes through the HTTP API, the real queue and sandboxed training workers; all runs
 * use seed 1, so on the wasm backend the numbers are the same on every run of this test.
 */

const EPOCHS = 40;
const PATIENCE = 5;
const CSV = overfitCsv({ rows: 120, noiseFeatures: 20, seed: 7 });

interface Row {
  rank?: number;
  jobId: string;
  settings: Record<string, unknown>;
  state: string;
  modelId?: string;
  verdict?: string;
  valLoss?: number;
  gap?: number;
  stoppedEpoch?: number;
}

describe('overfitting, diagnosed and remedied (issue 6, Done when)', () => {
  let svc: TestService;
  let sweeps: SweepHarness;
  let datasetId: string;
  let base: Record<string, unknown>;
  const started = Date.now();

  before(async () => {
    // Two training processes at once: the development machines have two cores.
    svc = await startService({ env: { WORKER_CONCURRENCY: '2' } });
    sweeps = await startSweepWorker(svc.config);
    const upload = await svc.http.post('/v1/datasets').set('content-type', 'text/csv').send(CSV);
    assert.equal(upload.status, 201, JSON.stringify(upload.body));
    datasetId = upload.body.id;
    base = {
      datasetId,
      target: 'label',
      task: 'classification',
      model: { hidden: [{ units: 256 }, { units: 256 }] },
      training: { epochs: EPOCHS, batchSize: 16, learningRate: 0.001, validationSplit: 0.3, seed: 1 },
    };
  });
  after(async () => {
    await sweeps.close();
    await svc.close();
    console.log(`overfitting e2e: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  });

  test('the remedies shrink the gap, early stopping restores the best epoch, a regularized run ranks first', async () => {
    // A plain training job (the path users take) and a sweep over L2 × dropout × early stopping,
    // all queued at once so they spread over the workers.
    const [plain, sweep] = await Promise.all([
      svc.http.post('/v1/training-jobs').send(base),
      svc.http.post('/v1/sweeps').send({
        base,
        grid: {
          'regularization.l2': [0, 0.01],
          'model.hidden.*.dropout': [0, 0.5],
          'training.earlyStopping': [null, { monitor: 'valLoss', patience: PATIENCE, restoreBestWeights: true }],
        },
      }),
    ]);
    assert.equal(plain.status, 202, JSON.stringify(plain.body));
    assert.equal(sweep.status, 202, JSON.stringify(sweep.body));
    assert.equal(sweep.body.runs.length, 8);
    await Promise.all([svc.waitForJob(plain.body.jobId), sweeps.waitForSweep(sweep.body.sweepId)]);

    // 1. The unregularized run is diagnosed overfit, with the evidence.
    const unregularized = (await svc.http.get(`/v1/training-jobs/${plain.body.jobId}`)).body;
    assert.equal(unregularized.state, 'completed');
    const d = unregularized.diagnosis;
    assert.equal(d.verdict, 'overfit', JSON.stringify(d.evidence.reasons));
    assert.ok(d.evidence.trainLoss < 0.05, `training loss ${d.evidence.trainLoss} is near zero`);
    assert.ok(d.evidence.gap > 0.3, `gap ${d.evidence.gap}`);
    assert.ok(
      d.evidence.valLossBestEpoch < EPOCHS / 2,
      `validation loss turned early (epoch ${d.evidence.valLossBestEpoch})`,
    );
    for (const remedy of [/^Add L2/, /^Add dropout/, /^Add early stopping/]) {
      assert.ok(
        d.suggestions.some((s: string) => remedy.test(s)),
        `suggests ${remedy}`,
      );
    }
    const model = (await svc.http.get(`/v1/models/${unregularized.modelId}`)).body;
    assert.equal(model.diagnosis.verdict, 'overfit');

    // 2. The sweep is done, with a table; its unregularized run is the plain job's twin.
    const view = (await svc.http.get(`/v1/sweeps/${sweep.body.sweepId}`)).body;
    assert.equal(view.state, 'completed');
    assert.deepEqual(view.progress, { total: 8, completed: 8, failed: 0, active: 0, waiting: 0 });
    const table: Row[] = view.table;
    const find = (l2: number, dropout: number, earlyStopping: boolean) => {
      const row = table.find(
        (r) =>
          r.settings['regularization.l2'] === l2 &&
          r.settings['model.hidden.*.dropout'] === dropout &&
          (r.settings['training.earlyStopping'] !== null) === earlyStopping,
      );
      assert.ok(row, `a run with l2 ${l2}, dropout ${dropout}, early stopping ${earlyStopping}`);
      return row;
    };
    const none = find(0, 0, false);
    assert.equal(none.verdict, 'overfit');
    assert.equal(none.gap, d.evidence.gap, 'same request and seed as the plain job: the same run');

    // 3. L2, dropout and early stopping each shrink the final gap (of the model each run keeps).
    const l2 = find(0.01, 0, false);
    const dropout = find(0, 0.5, false);
    const early = find(0, 0, true);
    const gaps = { none: none.gap!, l2: l2.gap!, dropout: dropout.gap!, earlyStopping: early.gap! };
    console.log('final gaps', JSON.stringify(gaps));
    assert.ok(gaps.l2 < gaps.none, `L2 shrinks the gap: ${JSON.stringify(gaps)}`);
    assert.ok(gaps.dropout < gaps.none, `dropout shrinks the gap: ${JSON.stringify(gaps)}`);
    assert.ok(gaps.earlyStopping < gaps.none, `early stopping shrinks the gap: ${JSON.stringify(gaps)}`);

    // 4. Early stopping stops before `epochs` and serves the best epoch's weights.
    const es = (await svc.http.get(`/v1/training-jobs/${early.jobId}`)).body;
    assert.ok(es.stoppedEpoch < EPOCHS, `stopped at ${es.stoppedEpoch} of ${EPOCHS}`);
    assert.equal(es.metrics.length, es.stoppedEpoch, 'no epoch after the stop');
    assert.equal(es.stoppedEpoch - es.bestEpoch, PATIENCE, 'stopped after `patience` epochs without improvement');
    const bestValLoss = Math.min(...es.metrics.map((m: { valLoss: number }) => m.valLoss));
    assert.equal(es.metrics[es.bestEpoch - 1].valLoss, bestValLoss, 'the best epoch has the lowest validation loss');
    assert.equal(es.restoredBestWeights, true);
    assert.equal(es.diagnosis.evidence.modelEpoch, es.bestEpoch);
    await assertServesEpoch(es.modelId, es.metrics[es.bestEpoch - 1], es.metrics[es.metrics.length - 1]);

    // 5. The sweep ranks a regularized run first: validation loss ascending.
    const first = table[0];
    assert.equal(first.rank, 1);
    const regularized =
      first.settings['regularization.l2'] !== 0 ||
      first.settings['model.hidden.*.dropout'] !== 0 ||
      first.settings['training.earlyStopping'] !== null;
    assert.ok(regularized, `rank 1 is regularized: ${JSON.stringify(first.settings)}`);
    assert.ok(none.rank! > 1);
    for (let i = 1; i < table.length; i++)
      assert.ok(table[i - 1].valLoss! <= table[i].valLoss!, 'sorted by validation loss');
    console.log(
      'sweep ranking\n' +
        table
          .map(
            (r) =>
              `  #${r.rank} valLoss ${r.valLoss!.toFixed(3)} gap ${r.gap!.toFixed(3)} ${r.verdict} ${JSON.stringify(r.settings)}`,
          )
          .join('\n'),
    );

    // 6. The pictures of it: the sweep's overlay and each run's curves.
    const overlay = await svc.http.get(`/v1/sweeps/${sweep.body.sweepId}/curves.svg`).buffer(true);
    assert.equal(overlay.status, 200);
    const svg = String(overlay.body);
    assert.ok(svg.includes('#1 l2='), 'the legend is in rank order');
    assert.equal(new Set(svg.match(/>#\d l2=[^<]*</g)).size, 8, 'eight runs in the legend');
    const curves = await svc.http.get(`/v1/training-jobs/${early.jobId}/curves.svg`).buffer(true);
    assert.ok(String(curves.body).includes(`best, weights restored: epoch ${es.bestEpoch}`));
    assert.ok(String(curves.body).includes(`stopped: epoch ${es.stoppedEpoch}`));
  });

  /**
   * The served model's mean cross-entropy over all rows equals the row-weighted mean of the kept
   * epoch's training and validation losses (both in inference mode), and not the last epoch's.
   */
  async function assertServesEpoch(
    modelId: string,
    kept: { epoch: number; trainLoss: number; valLoss: number },
    last: { epoch: number; trainLoss: number; valLoss: number },
  ) {
    const meta = (await svc.http.get(`/v1/models/${modelId}`)).body;
    const { train, validation } = meta.rows as { train: number; validation: number };
    const [header, ...lines] = CSV.trim().split('\n');
    const names = header.split(',');
    const rows = lines.map((line) =>
      Object.fromEntries(line.split(',').map((v, i) => [names[i], i < names.length - 1 ? Number(v) : v])),
    );
    const res = await svc.http
      .post(`/v1/models/${modelId}/predict`)
      .send({ rows: rows.map(({ label: _label, ...features }) => features) });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const classes: string[] = res.body.classes;
    const served =
      -rows.reduce((sum, row, i) => sum + Math.log(res.body.probabilities[i][classes.indexOf(String(row.label))]), 0) /
      rows.length;
    const mix = (m: { trainLoss: number; valLoss: number }) =>
      (train * m.trainLoss + validation * m.valLoss) / (train + validation);
    const tolerance = 1e-3 * mix(kept);
    assert.ok(Math.abs(served - mix(kept)) < tolerance, `served loss ${served} ≈ epoch ${kept.epoch}'s ${mix(kept)}`);
    assert.ok(
      Math.abs(served - mix(last)) > 10 * tolerance,
      `served loss ${served} is not epoch ${last.epoch}'s ${mix(last)}`,
    );
  }
});
