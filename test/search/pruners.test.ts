import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AppError } from '../../src/errors';
import { searchRequestSchema } from '../../src/schemas/search.schema';
import { ashaRungs, judge, type CurveOfTrial } from '../../src/search/pruners';
import { applySettings, checkSpace } from '../../src/search/space';

const asha = { type: 'asha' as const, gracePeriod: 1, reductionFactor: 3 };
const t = (trial: number, curve: number[]): CurveOfTrial => ({ trial, curve });

describe('ASHA', () => {
  test('rungs at grace·η^k epochs, below the last epoch', () => {
    assert.deepEqual(ashaRungs(1, 3, 27), [1, 3, 9]);
    assert.deepEqual(ashaRungs(2, 2, 20), [2, 4, 8, 16]);
    assert.deepEqual(ashaRungs(5, 3, 5), []);
  });

  test('the first trial at a rung continues; while fewer than η reached it, only the best does', () => {
    const first = t(0, [0.9]);
    assert.deepEqual(judge(asha, first, [first], 0, 9), { judgedThrough: 1 });
    const worse = t(1, [1.0]);
    assert.deepEqual(judge(asha, worse, [first, worse], 0, 9), { prunedAtEpoch: 1, judgedThrough: 1 });
    const better = t(2, [0.5]);
    assert.deepEqual(judge(asha, better, [first, worse, better], 0, 9), { judgedThrough: 1 });
  });

  test('with n trials at a rung a trial continues only in the best ⌊n/η⌋', () => {
    // Six trials at rung 3 (epoch 3): the best two continue.
    const others = [0.1, 0.2, 0.3, 0.4, 0.5].map((v, i) => t(i, [1, 1, v]));
    const second = t(9, [1, 1, 0.15]);
    assert.equal(judge(asha, second, [...others, second], 1, 9).prunedAtEpoch, undefined);
    const third = t(9, [1, 1, 0.25]);
    assert.equal(judge(asha, third, [...others, third], 1, 9).prunedAtEpoch, 3);
  });

  test('a rung is judged once; a trial seen late is judged at the rung it passed, from its loss there', () => {
    const rivals = [t(0, [0.2, 0.2, 0.2]), t(1, [0.3, 0.3, 0.3])];
    // Seen at epoch 2 (past rung 1): judged at rung 1, where its 0.5 is not the best of three.
    const late = t(2, [0.5, 0.1]);
    assert.deepEqual(judge(asha, late, [...rivals, late], 0, 9), { prunedAtEpoch: 1, judgedThrough: 1 });
    // Already judged through epoch 2: nothing left to judge before rung 3.
    assert.deepEqual(judge(asha, late, [...rivals, late], 2, 9), { judgedThrough: 2 });
  });
});

describe('median rule', () => {
  const median = { type: 'median' as const, warmupEpochs: 1, minTrials: 3 };
  test('after the warm-up, stops a trial worse than the median of the others at the same epoch', () => {
    const others = [t(0, [1, 0.4]), t(1, [1, 0.5]), t(2, [1, 0.6])];
    const bad = t(3, [0.1, 0.55]);
    assert.deepEqual(judge(median, bad, [...others, bad], 0, 10), { prunedAtEpoch: 2, judgedThrough: 2 });
    const good = t(4, [2, 0.45]);
    assert.deepEqual(judge(median, good, [...others, good], 0, 10), { judgedThrough: 2 });
  });
  test('waits, unjudged, for minTrials others to reach the epoch', () => {
    const others = [t(0, [1, 0.4]), t(1, [1, 0.5])];
    const bad = t(3, [1, 0.9, 0.9]);
    assert.deepEqual(judge(median, bad, [...others, bad], 0, 10), { judgedThrough: 1 });
  });
});

describe('search space applied to a training request', () => {
  const request = searchRequestSchema.parse({
    base: {
      datasetId: 'd',
      target: 'y',
      task: 'classification',
      model: { hidden: [{ units: 16, activation: 'tanh' }] },
      training: { epochs: 4 },
    },
    space: {
      'model.hidden.*.units': { type: 'qint', low: 8, high: 32, q: 8 },
      'model.hidden.length': { type: 'int', low: 1, high: 3 },
    },
  });

  test('the number of hidden layers first (the last layer repeated), then the per-layer settings', () => {
    const trained = applySettings(request.base, { 'model.hidden.*.units': 24, 'model.hidden.length': 3 });
    assert.equal(trained.model.hidden.length, 3);
    for (const layer of trained.model.hidden) {
      assert.equal(layer.units, 24);
      assert.equal(layer.activation, 'tanh');
    }
    assert.equal(applySettings(request.base, { 'model.hidden.length': 1 }).model.hidden.length, 1);
  });

  test('a space that cannot give a valid request is refused with the settings and the field', () => {
    checkSpace(request.base, request.space);
    const bad = searchRequestSchema.parse({
      ...request,
      space: { 'training.learningRate': { type: 'uniform', low: 0, high: 0.1 } },
    });
    assert.throws(
      () => checkSpace(bad.base, bad.space),
      (error: unknown) =>
        error instanceof AppError && error.code === 'INVALID_SEARCH' && /learningRate/.test(error.message),
    );
  });
});
