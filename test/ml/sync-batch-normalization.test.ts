import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { InProcessAllReduce } from '../../src/ml/collective/in-process-all-reduce';
import { replicaMoments, type SyncPasses } from '../../src/ml/collective/replica-moments';
import { shardSizes, splitIntoShards } from '../../src/ml/collective/shards';
import { BatchNormalization } from '../../src/ml/layers/batch-normalization';
import { GhostBatchNormalization } from '../../src/ml/layers/ghost-batch-normalization';
import type { BufferUpdate, Layer } from '../../src/ml/layers/layer';
import { SyncBatchNormalization } from '../../src/ml/layers/sync-batch-normalization';
import { Rng } from '../../src/random';
import { assertClose, rowsOf, setVariable, take, useWasmBackend } from '../helpers/tf';

/** Float64 per-feature mean and biased variance (two-pass, exact enough to be the reference). */
function exactMoments(rows: number[][]): { mean: number[]; variance: number[] } {
  const n = rows.length;
  const mean = rows[0].map((_, j) => rows.reduce((s, r) => s + r[j], 0) / n);
  const variance = rows[0].map((_, j) => rows.reduce((s, r) => s + (r[j] - mean[j]) ** 2, 0) / n);
  return { mean, variance };
}

/** Normal(mean, std) rows (Box–Muller on the service's RNG), rounded to float32. */
function normalRows(rows: number, cols: number, mean: number, std: number, seed: number): number[][] {
  const rng = new Rng(seed);
  return Array.from({ length: rows }, () =>
    Array.from({ length: cols }, () => {
      const u = 1 - rng.next();
      const z = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.next());
      return Math.fround(mean + std * z);
    }),
  );
}

function relativeErrors(actual: ArrayLike<number>, expected: number[]): number[] {
  return expected.map((e, j) => Math.abs(actual[j] - e) / Math.abs(e));
}

function combined(rows: number[][], replicas: number, passes: SyncPasses) {
  const allReduce = new InProcessAllReduce(replicas);
  const [mean, variance] = tf.tidy(() => {
    const m = replicaMoments(splitIntoShards(tf.tensor2d(rows), replicas), allReduce, passes);
    return [m.mean, m.variance];
  });
  return { mean: take(mean), variance: take(variance), exchanges: allReduce.exchanges };
}

function trainForward(layer: Layer, rows: number[][]): { y: Float32Array; updates: number[][] } {
  const updates: BufferUpdate[] = [];
  const y = take(tf.tidy(() => layer.apply(tf.tensor2d(rows), { training: true, bufferUpdates: updates })));
  const values = updates.map((u) => Array.from(take(u.value)));
  return { y, updates: values };
}

const GAMMA = [1.25, -0.75, 0.5];
const BETA = [0.2, 0.0, -0.4];

function withAffine<T extends BatchNormalization>(layer: T): T {
  setVariable(layer.gamma, GAMMA);
  setVariable(layer.beta, BETA);
  return layer;
}

describe('shards', () => {
  test('contiguous, sizes differing by at most one, larger first; empty ones last', () => {
    assert.deepEqual(shardSizes(10, 4), [3, 3, 2, 2]);
    assert.deepEqual(shardSizes(8, 4), [2, 2, 2, 2]);
    assert.deepEqual(shardSizes(2, 4), [1, 1, 0, 0]);
    assert.deepEqual(shardSizes(5, 1), [5]);
    assert.throws(() => shardSizes(5, 0), /replicas, received 0/);
  });
});

describe('synchronized batch normalization: combined statistics', () => {
  before(useWasmBackend);

  // Mean 1e4, std 1, 64 rows over 4 replicas. Float32 holds 1e4 to ±0.0005; x² ≈ 1e8 only to ±4.
  const offset = normalRows(64, 3, 1e4, 1, 77);
  const exact = exactMoments(offset);

  for (const passes of [1, 2] as const) {
    test(`passes ${passes}: equal full-batch statistics to 1e-5 relative on data at 1e4 ± 1`, () => {
      const { mean, variance, exchanges } = combined(offset, 4, passes);
      for (const [j, err] of relativeErrors(mean, exact.mean).entries()) {
        assert.ok(err <= 1e-5, `mean[${j}] ${mean[j]} vs ${exact.mean[j]}: relative ${err}`);
      }
      for (const [j, err] of relativeErrors(variance, exact.variance).entries()) {
        assert.ok(err <= 1e-5, `variance[${j}] ${variance[j]} vs ${exact.variance[j]}: relative ${err}`);
      }
      assert.equal(exchanges, passes, 'collective calls per forward pass');
    });
  }

  test('the naive one-pass E[x²] − E[x]² in float32 visibly fails on the same data', () => {
    // Each replica sends (count, Σx, Σx²), summed by the same all-reduce; then
    // σ² = Σx²/n − (Σx/n)²: two numbers near 1e8 whose float32 spacing is 8, subtracted.
    const allReduce = new InProcessAllReduce(4);
    const variance = take(
      tf.tidy(() => {
        const shards = splitIntoShards(tf.tensor2d(offset), 4);
        const sums = allReduce.sum(
          shards.map((s) => tf.concat([tf.tensor1d([s.shape[0]]), tf.sum(s, 0), tf.sum(tf.square(s), 0)])),
        );
        const n = tf.slice(sums, [0], [1]);
        const mean = tf.div(tf.slice(sums, [1], [3]), n);
        return tf.sub(tf.div(tf.slice(sums, [4], [3]), n), tf.square(mean));
      }),
    );
    const errors = relativeErrors(variance, exact.variance);
    // Off by O(1) relative (often negative) — five orders of magnitude beyond the combined forms.
    assert.ok(
      Math.max(...errors) > 0.1,
      `naive variance ${Array.from(variance)} unexpectedly close to ${exact.variance}`,
    );
  });

  test('uneven shards (10 rows over 4 replicas) and a batch smaller than the replica count', () => {
    const rows = normalRows(10, 3, 2, 3, 5);
    const exact10 = exactMoments(rows);
    const few = rows.slice(0, 3); // replicas 3 and 4 hold nothing
    const exact3 = exactMoments(few);
    for (const passes of [1, 2] as const) {
      const a = combined(rows, 4, passes);
      // Values O(1–10): 1e-5 absolute.
      assertClose(a.mean, exact10.mean, 1e-5, `passes ${passes} mean (10 rows)`);
      assertClose(a.variance, exact10.variance, 1e-5, `passes ${passes} variance (10 rows)`);
      const b = combined(few, 4, passes);
      assertClose(b.mean, exact3.mean, 1e-5, `passes ${passes} mean (3 rows)`);
      assertClose(b.variance, exact3.variance, 1e-5, `passes ${passes} variance (3 rows)`);
      const c = combined(few, 1, passes);
      assertClose(c.variance, exact3.variance, 1e-5, `passes ${passes} variance (1 replica)`);
    }
  });
});

describe('synchronized batch normalization: layer', () => {
  before(useWasmBackend);

  const rows = normalRows(10, 3, 1, 2, 11);

  for (const passes of [1, 2] as const) {
    test(`passes ${passes}: training output and every gradient equal full-batch batch norm`, () => {
      const sync = withAffine(new SyncBatchNormalization({ name: 'sbn', units: 3, replicas: 4, passes }));
      const bn = withAffine(new BatchNormalization({ name: 'bn', units: 3 }));
      // L = Σ y ⊙ R for a fixed R; gradients with respect to x, γ and β.
      const r = tf.tensor2d(normalRows(10, 3, 0, 1, 12));
      const gradients = (layer: BatchNormalization) => {
        const x = tf.variable(tf.tensor2d(rows));
        const { value, grads } = tf.variableGrads(
          () => tf.sum(tf.mul(layer.apply(x as tf.Tensor as tf.Tensor2D, { training: true }), r)),
          [x, layer.gamma, layer.beta],
        );
        const out = [x, layer.gamma, layer.beta].map((v) => Array.from(grads[v.name].dataSync()));
        tf.dispose([value, x, ...Object.values(grads)]);
        return out;
      };
      const expectedY = trainForward(bn, rows).y;
      // Outputs O(1): 1e-5 absolute.
      assertClose(trainForward(sync, rows).y, expectedY, 1e-5, 'output');
      const [gx, gg, gb] = gradients(sync);
      const [ex, eg, eb] = gradients(bn);
      assertClose(gx, ex, 1e-5, 'dL/dx');
      assertClose(gg, eg, 1e-5, 'dL/dγ');
      assertClose(gb, eb, 1e-5, 'dL/dβ');
      // Hand check of the output, so the comparison above is not BN against itself only.
      const { mean, variance } = exactMoments(rows);
      const hand = rows.flatMap((row) =>
        row.map((x, j) => ((x - mean[j]) / Math.sqrt(variance[j] + 1e-3)) * GAMMA[j] + BETA[j]),
      );
      assertClose(expectedY, hand, 1e-5, 'batch norm by hand');
      r.dispose();
      tf.dispose([sync.gamma, sync.beta, sync.movingMean, sync.movingVariance]);
      tf.dispose([bn.gamma, bn.beta, bn.movingMean, bn.movingVariance]);
    });
  }

  test('running statistics move towards the full-batch mean and unbiased variance (Keras momentum once warm)', () => {
    const m = 0.9;
    const exact = exactMoments(rows);
    const mean = exact.mean;
    // n/(n − 1) times the biased variance, n the whole batch's rows (as torch's SyncBatchNorm).
    const variance = exact.variance.map((v) => (v * rows.length) / (rows.length - 1));
    // A fresh layer's first step takes the batch's statistics (the start correction of
    // runningUpdateWeights): exactly the statistics the running ones move towards.
    const fresh = new SyncBatchNormalization({ name: 'sbn', units: 3, momentum: m, replicas: 3 });
    const first = trainForward(fresh, rows).updates;
    assertClose(first[0], mean, 1e-5, 'moving mean, first step');
    assertClose(first[1], variance, 1e-5, 'moving variance, first step');
    // A warm layer (a long run behind it) takes the Keras step from its running statistics, here (0, 1).
    const sync = new SyncBatchNormalization({ name: 'sbn', units: 3, momentum: m, replicas: 3 });
    setVariable(sync.startWeight, [0]);
    const { updates } = trainForward(sync, rows);
    assertClose(
      updates[0],
      mean.map((b) => m * 0 + (1 - m) * b),
      1e-5,
      'moving mean',
    );
    assertClose(
      updates[1],
      variance.map((b) => m * 1 + (1 - m) * b),
      1e-5,
      'moving variance',
    );
  });

  test('inference uses the running statistics, row by row, and freezes to one affine op', () => {
    const sync = withAffine(new SyncBatchNormalization({ name: 'sbn', units: 3 }));
    setVariable(sync.movingMean, [0.5, -1, 2]);
    setVariable(sync.movingVariance, [0.25, 4, 9]);
    const probe = [
      [1, 2, 3],
      [-1, 0, 0.5],
    ];
    const y = take(tf.tidy(() => sync.apply(tf.tensor2d(probe), { training: false })));
    const mean = [0.5, -1, 2];
    const variance = [0.25, 4, 9];
    const hand = probe.flatMap((row) =>
      row.map((x, j) => ((x - mean[j]) / Math.sqrt(variance[j] + 1e-3)) * GAMMA[j] + BETA[j]),
    );
    assertClose(y, hand, 1e-5, 'inference');
    const ops = sync.freeze();
    assert.deepEqual(
      ops.map((op) => op.op),
      ['affine'],
    );
  });

  test('rejects a bad replica count or pass count, naming the value', () => {
    assert.throws(() => new SyncBatchNormalization({ name: 's', units: 2, replicas: 0 }), /received 0/);
    assert.throws(
      () => new SyncBatchNormalization({ name: 's', units: 2, passes: 3 as SyncPasses }),
      /one of 1, 2, received 3/,
    );
  });
});

describe('ghost batch normalization', () => {
  before(useWasmBackend);

  test('each shard is normalized with its own statistics; they differ from the full batch', () => {
    const rows = normalRows(10, 3, 1, 2, 21);
    const ghost = withAffine(new GhostBatchNormalization({ name: 'gbn', units: 3, replicas: 4 }));
    const { y, updates } = trainForward(ghost, rows);
    // Shards 3, 3, 2, 2 rows, each normalized by its own mean and biased variance.
    const hand: number[] = [];
    const shardStats: { n: number; mean: number[]; variance: number[] }[] = [];
    let start = 0;
    for (const size of [3, 3, 2, 2]) {
      const shard = rows.slice(start, start + size);
      const s = exactMoments(shard);
      shardStats.push({ n: size, ...s });
      for (const row of shard) {
        row.forEach((x, j) => hand.push(((x - s.mean[j]) / Math.sqrt(s.variance[j] + 1e-3)) * GAMMA[j] + BETA[j]));
      }
      start += size;
    }
    assertClose(y, hand, 1e-5, 'ghost output');
    // Running statistics move towards the count-weighted means of the shard statistics: a fresh
    // layer's first step takes them exactly (the start correction of runningUpdateWeights).
    const wMean = [0, 1, 2].map((j) => shardStats.reduce((s, st) => s + st.n * st.mean[j], 0) / 10);
    // Each shard's unbiased variance, n_s/(n_s − 1) times its biased one, count-weighted.
    const wVar = [0, 1, 2].map(
      (j) => shardStats.reduce((s, st) => s + (st.n * st.n * st.variance[j]) / (st.n - 1), 0) / 10,
    );
    assertClose(updates[0], wMean, 1e-5, 'moving mean');
    assertClose(updates[1], wVar, 1e-5, 'moving variance');

    // Unlike sync-batch, the statistics are not the full batch's.
    const full = exactMoments(rows);
    const bnOut = trainForward(withAffine(new BatchNormalization({ name: 'bn', units: 3 })), rows).y;
    assert.ok(
      y.some((v, i) => Math.abs(v - bnOut[i]) > 0.05),
      'ghost output should differ from full-batch output',
    );
    assert.ok(
      wVar.some((v, j) => Math.abs(v - full.variance[j]) > 0.05 * full.variance[j]),
      `within-shard variance ${wVar} ≈ full-batch variance ${full.variance}`,
    );
    const perRow = rowsOf(y, 3);
    assert.equal(perRow.length, 10);
  });

  test("a batch that would leave one-row shards (an epoch's last) is split into fewer shards of ≥ 2 rows", () => {
    // min(replicas, ⌊rows/2⌋) shards, sizes as shardSizes gives them: a one-row shard would have
    // variance 0 (output β, no gradient to the kernel) and pull the running variance towards 0.
    const cases: [number, number[]][] = [
      [5, [3, 2]],
      [3, [3]], // one shard: plain batch norm
      [7, [3, 2, 2]],
      [8, [2, 2, 2, 2]],
      [2, [2]],
    ];
    for (const [n, sizes] of cases) {
      const rows = normalRows(n, 3, 0, 1, 22 + n);
      const ghost = withAffine(new GhostBatchNormalization({ name: 'gbn', units: 3, replicas: 4 }));
      const { y, updates } = trainForward(ghost, rows);
      const hand: number[] = [];
      const weightedVariance = [0, 0, 0];
      let start = 0;
      for (const size of sizes) {
        const shard = rows.slice(start, start + size);
        const s = exactMoments(shard);
        s.variance.forEach((v, j) => (weightedVariance[j] += (size * v * size) / (size - 1) / n));
        for (const row of shard) {
          row.forEach((x, j) => hand.push(((x - s.mean[j]) / Math.sqrt(s.variance[j] + 1e-3)) * GAMMA[j] + BETA[j]));
        }
        start += size;
      }
      assertClose(y, hand, 1e-5, `${n} rows: shards ${sizes}`);
      // A fresh layer's first step takes the count-weighted unbiased shard variance (runningUpdateWeights).
      assertClose(updates[1], weightedVariance, 1e-5, `${n} rows: moving variance`);
      tf.dispose([ghost.gamma, ghost.beta, ghost.movingMean, ghost.movingVariance, ghost.startWeight]);
    }
  });
});
