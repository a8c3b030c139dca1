import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Rng } from '../../src/random';
import { searchSpaceSchema, type SearchSpace } from '../../src/schemas/search.schema';
import {
  categoricalEstimator,
  defaultGamma,
  defaultWeights,
  numericEstimator,
} from '../../src/search/parzen-estimator';
import { gridSampler, randomSampler, tpeSampler, type TrialRecordForSampler } from '../../src/search/samplers';

const space: SearchSpace = searchSpaceSchema.parse({
  'training.learningRate': { type: 'loguniform', low: 1e-4, high: 1e-1 },
  'model.hidden.*.dropout': { type: 'uniform', low: 0, high: 0.5 },
  'model.hidden.*.units': { type: 'qint', low: 8, high: 64, q: 8 },
  'model.hidden.length': { type: 'int', low: 1, high: 3 },
  'model.hidden.*.normalization': { type: 'choice', values: ['none', 'batch', 'layer'] },
});

/** Runs a sampler sequentially on a synthetic objective, the way a one-worker search would. */
function run(
  sampler: ReturnType<typeof tpeSampler>,
  trials: number,
  objective: (s: Record<string, unknown>) => number,
) {
  const history: TrialRecordForSampler[] = [];
  for (let k = 0; k < trials; k++) {
    const settings = sampler.propose(k, history)!;
    history.push({ trial: k, settings, state: 'completed', loss: objective(settings), epochsRun: 5 });
  }
  return history;
}

describe('search samplers', () => {
  test('random: the same seed proposes the same trials, whatever the order they are asked in; values in range', () => {
    const a = randomSampler(space, 7);
    const b = randomSampler(space, 7);
    const forward = [0, 1, 2, 3, 4, 5].map((k) => a.propose(k, []));
    const backward = [5, 4, 3, 2, 1, 0].map((k) => b.propose(k, [])).reverse();
    assert.deepEqual(forward, backward);
    assert.notDeepEqual(randomSampler(space, 8).propose(0, []), forward[0]);
    for (let k = 0; k < 200; k++) {
      const s = a.propose(k, [])!;
      const lr = s['training.learningRate'] as number;
      assert.ok(lr >= 1e-4 && lr <= 1e-1, `learning rate ${lr}`);
      const units = s['model.hidden.*.units'] as number;
      assert.ok([8, 16, 24, 32, 40, 48, 56, 64].includes(units), `units ${units}`);
      assert.ok([1, 2, 3].includes(s['model.hidden.length'] as number));
      assert.ok(['none', 'batch', 'layer'].includes(s['model.hidden.*.normalization'] as string));
      const dropout = s['model.hidden.*.dropout'] as number;
      assert.ok(dropout >= 0 && dropout <= 0.5);
    }
  });

  test('random: every value of a discrete parameter is drawn, the ends included', () => {
    const sampler = randomSampler(space, 1);
    const units = new Set<number>();
    const layers = new Set<number>();
    for (let k = 0; k < 300; k++) {
      const s = sampler.propose(k, [])!;
      units.add(s['model.hidden.*.units'] as number);
      layers.add(s['model.hidden.length'] as number);
    }
    assert.deepEqual(
      [...units].sort((x, y) => x - y),
      [8, 16, 24, 32, 40, 48, 56, 64],
    );
    assert.deepEqual([...layers].sort(), [1, 2, 3]);
  });

  test('grid: every combination once, first key slowest, then exhausted; continuous parameters refused', () => {
    const grid = gridSampler(
      searchSpaceSchema.parse({
        'regularization.l2': { type: 'choice', values: [0, 1e-3] },
        'model.hidden.length': { type: 'int', low: 1, high: 3 },
      }),
    );
    assert.equal(grid.size, 6);
    const all = [0, 1, 2, 3, 4, 5].map((k) => grid.propose(k, []));
    assert.deepEqual(all[0], { 'regularization.l2': 0, 'model.hidden.length': 1 });
    assert.deepEqual(all[1], { 'regularization.l2': 0, 'model.hidden.length': 2 });
    assert.deepEqual(all[5], { 'regularization.l2': 1e-3, 'model.hidden.length': 3 });
    assert.equal(new Set(all.map((s) => JSON.stringify(s))).size, 6);
    assert.equal(grid.propose(6, []), undefined);
    assert.throws(() => gridSampler(space), /a grid takes choice, int or qint/);
  });

  test('TPE: random for the first 10 finished trials, then the same seed and history give the same proposal', () => {
    const tpe = tpeSampler(space, 11);
    const random = randomSampler(space, 11);
    const objective = (s: Record<string, unknown>) => Math.abs(Math.log10(s['training.learningRate'] as number) + 2);
    const history = run(tpe, 12, objective);
    for (let k = 0; k < 10; k++) assert.deepEqual(history[k].settings, random.propose(k, []));
    // Trial 10 had 10 finished trials before it: TPE, not the random draw.
    assert.notDeepEqual(history[10].settings, random.propose(10, []));
    const again = run(tpeSampler(space, 11), 12, objective);
    assert.deepEqual(again, history);
    // Running and failed trials are not evidence.
    const withNoise = [
      ...history,
      { trial: 99, settings: history[0].settings, state: 'failed' as const, epochsRun: 0 },
    ];
    assert.deepEqual(tpe.propose(12, withNoise), tpe.propose(12, history));
  });

  test('TPE finds a narrow optimum more often than random search with the same seed', () => {
    // Best at learning rate 1e-2 and layer normalization; the other parameters do not matter.
    const objective = (s: Record<string, unknown>) =>
      Math.abs(Math.log10(s['training.learningRate'] as number) + 2) +
      (s['model.hidden.*.normalization'] === 'layer' ? 0 : 0.5);
    for (const seed of [1, 2, 3]) {
      const tpe = run(tpeSampler(space, seed), 60, objective).slice(30);
      const random = run(randomSampler(space, seed), 60, objective).slice(30);
      const meanLoss = (h: TrialRecordForSampler[]) => h.reduce((s, t) => s + t.loss!, 0) / h.length;
      assert.ok(
        meanLoss(tpe) < 0.6 * meanLoss(random),
        `seed ${seed}: TPE ${meanLoss(tpe)} vs random ${meanLoss(random)}`,
      );
    }
  });
});

describe('Parzen estimators (Optuna defaults)', () => {
  test("continuous: kernels with Optuna's bandwidths and the prior, truncated to the range", () => {
    // Observations 0.2 and 0.8 on [0, 1]: bandwidths 0.3 and 0.3 (neighbours incl. the prior at 0.5,
    // no endpoints), magic clip 1/4 below them; the prior N(0.5, 1). Reference (scipy 1.10):
    //   sum(w*truncnorm.pdf(x,(0-m)/s,(1-m)/s,loc=m,scale=s) for m,s in ((.2,.3),(.8,.3),(.5,1))), w=1/3
    const pe = numericEstimator([0.2, 0.8], [1, 1], { kind: 'numeric', low: 0, high: 1 });
    assert.ok(Math.abs(pe.logPdf(0.1) - -0.07948298890463183) < 1e-5);
    assert.ok(Math.abs(pe.logPdf(0.5) - 0.067959819253436) < 1e-5);
    assert.ok(Math.abs(pe.logPdf(0.9) - -0.07948298890463183) < 1e-5);
    const rng = new Rng(3);
    for (let i = 0; i < 500; i++) {
      const x = pe.sample(rng);
      assert.ok(x >= 0 && x <= 1);
    }
  });

  test("discrete: each point's mass over its cell, summing to one", () => {
    // Integers 1..5, observations 2 and 5: bandwidths 1 → clipped to 5/4, and 2; prior N(3, 5).
    // Reference: sum(w*(Φ((x+.5-m)/s)-Φ((x-.5-m)/s))/(Φ((5.5-m)/s)-Φ((.5-m)/s))) (scipy's norm.cdf).
    const pe = numericEstimator([2, 5], [1, 1], { kind: 'numeric', low: 1, high: 5, step: 1 });
    const expected = [-1.792479, -1.502032, -1.492546, -1.598893, -1.693601];
    expected.forEach((logP, i) =>
      assert.ok(Math.abs(pe.logPdf(i + 1) - logP) < 1e-5, `x=${i + 1}: ${pe.logPdf(i + 1)}`),
    );
    const rng = new Rng(4);
    for (let i = 0; i < 200; i++) assert.ok([1, 2, 3, 4, 5].includes(pe.sample(rng)));
  });

  test("categorical: smoothed counts; weights and gamma as Optuna's defaults", () => {
    // Two observations of index 0 out of 3: rows (1/3+1, 1/3, 1/3)/2 twice (prior 1/(n+1) per cell),
    // the prior's row uniform; equal mixture weights.
    const pe = categoricalEstimator([0, 0], [1, 1], 3);
    const p0 = (2 * (4 / 3 / 2) + 1 / 3) / 3;
    assert.ok(Math.abs(Math.exp(pe.logPdf(0)) - p0) < 1e-12);
    assert.ok(Math.abs(Math.exp(pe.logPdf(1)) - (1 - p0) / 2) < 1e-12);
    assert.deepEqual(defaultWeights(3), [1, 1, 1]);
    const w = defaultWeights(30);
    assert.equal(w.length, 30);
    assert.ok(Math.abs(w[0] - 1 / 30) < 1e-12 && w[4] === 1 && w[29] === 1);
    assert.deepEqual([1, 10, 11, 300].map(defaultGamma), [1, 1, 2, 25]);
  });
});
