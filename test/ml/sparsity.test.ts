import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Network } from '../../src/ml/network';
import { sparsityReport } from '../../src/ml/sparsity';
import { Rng } from '../../src/random';
import { hiddenLayerSchema } from '../../src/schemas/training-request.schema';
import { paramByName, setVariable, useWasmBackend } from '../helpers/tf';

const NAMES = ['age', 'income', 'color=red', 'color=blue'];

function network(): Network {
  const hidden = [hiddenLayerSchema.parse({ units: 3, normalization: 'batch' })];
  return new Network({ inputSize: 4, hidden, outputSize: 2, output: 'softmax' }, new Rng(1));
}

describe('sparsityReport', () => {
  before(useWasmBackend);

  test('a first-kernel row of exact zeros is an eliminated input, named; zero shares are counted by hand', () => {
    const net = network();
    try {
      // First kernel, 4 inputs × 3 units, row i = outgoing weights of input i.
      // Row 2 ("color=red") all zero → eliminated; row 0 has one zero → not eliminated;
      // row 3 has a tiny non-zero → not eliminated (exact zeros only).
      setVariable(
        paramByName(net.params, 'hidden0/dense/kernel').variable,
        [
          [0.5, 0, -0.25],
          [1, 2, 3],
          [0, 0, 0],
          [0, 1e-30, 0],
        ].flat(),
      );
      // Output kernel, 3 × 2, one zero.
      setVariable(paramByName(net.params, 'output/dense/kernel').variable, [1, 0, -1, 2, 0.5, 0.5]);
      // Batch-norm γ and output bias zeros must not count: they are not kernels.
      setVariable(paramByName(net.params, 'hidden0/batch_norm/gamma').variable, [0, 0, 0]);

      const report = sparsityReport(net, NAMES);
      assert.deepEqual(report.eliminatedInputs, ['color=red']);
      // Zeros: first kernel 1 + 3 + 2 = 6 of 12; output kernel 1 of 6 → 7 of 18.
      assert.deepEqual(report.layers, [
        { name: 'hidden0/dense/kernel', weights: 12, zeros: 6, zeroShare: 6 / 12 },
        { name: 'output/dense/kernel', weights: 6, zeros: 1, zeroShare: 1 / 6 },
      ]);
      assert.equal(report.zeroShare, 7 / 18);
    } finally {
      net.dispose();
    }
  });

  test('several eliminated inputs keep input order; no zeros means none eliminated', () => {
    const net = network();
    try {
      const kernel = paramByName(net.params, 'hidden0/dense/kernel').variable;
      setVariable(
        kernel,
        [
          [0, 0, 0],
          [1, 1, 1],
          [1, 1, 1],
          [0, 0, 0],
        ].flat(),
      );
      assert.deepEqual(sparsityReport(net, NAMES).eliminatedInputs, ['age', 'color=blue']);

      setVariable(
        kernel,
        [
          [1, 1, 1],
          [1, 1, 1],
          [1, 1, 1],
          [1, 1, 1],
        ].flat(),
      );
      setVariable(paramByName(net.params, 'output/dense/kernel').variable, [1, 1, 1, 1, 1, 1]);
      const dense = sparsityReport(net, NAMES);
      assert.deepEqual(dense.eliminatedInputs, []);
      assert.equal(dense.zeroShare, 0);
    } finally {
      net.dispose();
    }
  });
});
