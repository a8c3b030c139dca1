import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { InProcessAllReduce } from '../../src/ml/collective/in-process-all-reduce';
import { replicaMoments } from '../../src/ml/collective/replica-moments';
import { splitIntoShards } from '../../src/ml/collective/shards';
import { activate } from '../../src/ml/activations';
import { Activation } from '../../src/ml/layers/activation';
import { BatchNormalization } from '../../src/ml/layers/batch-normalization';
import { COSINE_EPSILON, CosineDense } from '../../src/ml/layers/cosine-dense';
import { Dense } from '../../src/ml/layers/dense';
import { Dropout, dropoutMask } from '../../src/ml/layers/dropout';
import { GaussianDropout } from '../../src/ml/layers/gaussian-dropout';
import { GhostBatchNormalization } from '../../src/ml/layers/ghost-batch-normalization';
import type { BufferUpdate, ForwardContext, Layer } from '../../src/ml/layers/layer';
import { LayerNormalization } from '../../src/ml/layers/layer-normalization';
import { SyncBatchNormalization } from '../../src/ml/layers/sync-batch-normalization';
import { WeightNormalizedDense } from '../../src/ml/layers/weight-normalized-dense';
import { Network, type NetworkSpec } from '../../src/ml/network';
import { Trainer, type TrainerOptions, type TrainingData } from '../../src/ml/trainer';
import { Rng } from '../../src/random';
import { ACTIVATIONS, hiddenLayerSchema, regularizationSchema } from '../../src/schemas/training-request.schema';
import { setVariable, useWasmBackend } from '../helpers/tf';

/**
 * The layers' closed-form gradients — `Layer.forward(...).backward`, which `Layer.apply` hands to
 * tf.customGrad and the trainer chains by hand — against tf's autodiff of the plain formulation:
 * every layer written below with the straightforward tf ops (what the layers ran before their
 * gradients were written out), differentiated by tf.variableGrads. Then one whole training step
 * of the Trainer against the same plain network, tf's loss functions, the penalty and the
 * optimizer's first step written out.
 */

/** Standard normal values from a seeded generator (Box–Muller). */
function normals(count: number, seed: number, mean = 0, std = 1): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: count }, () => {
    const u = 1 - rng.next();
    return mean + std * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.next());
  });
}

function matrix(rows: number, cols: number, seed: number, mean = 0, std = 1): tf.Tensor2D {
  return tf.tensor2d(normals(rows * cols, seed, mean, std), [rows, cols]);
}

/**
 * |actual − expected| ≤ tol·max(1, |expected|) per value — relative above 1, absolute below — or,
 * with `wholeTensor`, ≤ tol·max(1, max |expected|) over the tensor: the bound for sums whose
 * terms cancel, where rounding is relative to the terms rather than to the result.
 */
function assertNear(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  label: string,
  tol = 1e-5,
  wholeTensor = false,
): void {
  assert.equal(actual.length, expected.length, `${label}: length`);
  let largest = 0;
  for (let i = 0; i < expected.length; i++) largest = Math.max(largest, Math.abs(expected[i]));
  for (let i = 0; i < expected.length; i++) {
    const bound = tol * Math.max(1, wholeTensor ? largest : Math.abs(expected[i]));
    const diff = Math.abs(actual[i] - expected[i]);
    assert.ok(diff <= bound, `${label}[${i}]: got ${actual[i]}, expected ${expected[i]} (|diff| ${diff} > ${bound})`);
  }
}

// ---------------------------------------------------------------------------------------------
// The plain formulation of every layer: tf ops whose gradients tf derives itself.

/** (x − μ)·rsqrt(σ² + ε)·γ + β. */
function plainNormalize(bn: BatchNormalization, x: tf.Tensor, mean: tf.Tensor, variance: tf.Tensor): tf.Tensor2D {
  const inv = tf.mul(tf.rsqrt(tf.add(variance, bn.epsilon)), bn.gamma);
  return tf.add<tf.Tensor2D>(tf.mul(tf.sub(x, mean), inv), bn.beta);
}

/** n/(n − 1), the biased-to-unbiased factor (1 for a single row, whose variance stays 0). */
const besselFactor = (n: number) => (n > 1 ? n / (n - 1) : 1);

/**
 * Running statistics as the layers update them: the Keras rule running·m + batch·(1 − m) on the
 * uncorrected average r = running·(1 − mᵗ⁻¹), then divided by 1 − mᵗ; mᵗ = startWeight·m.
 * `variance` is the one the running variance moves to: the batch's unbiased variance.
 */
function plainUpdates(bn: BatchNormalization, mean: tf.Tensor, variance: tf.Tensor, out?: BufferUpdate[]): void {
  const m = bn.momentum;
  const start = tf.mul(bn.startWeight, m);
  const corrected = (running: tf.Tensor, batch: tf.Tensor) =>
    tf.div(tf.add(tf.mul(tf.mul(running, tf.sub(1, bn.startWeight)), m), tf.mul(batch, 1 - m)), tf.sub(1, start));
  out?.push(
    { variable: bn.movingMean, value: tf.keep(corrected(bn.movingMean, mean)) },
    { variable: bn.movingVariance, value: tf.keep(corrected(bn.movingVariance, variance)) },
    { variable: bn.startWeight, value: tf.keep(start) },
  );
}

function plainApply(layer: Layer, x: tf.Tensor2D, ctx: ForwardContext): tf.Tensor2D {
  if (layer instanceof Dense) {
    const y = tf.matMul(x, layer.kernel);
    return (layer.bias ? tf.add(y, layer.bias) : y) as tf.Tensor2D;
  }
  if (layer instanceof WeightNormalizedDense) {
    const inverseNorm = tf.rsqrt(tf.maximum(tf.sum(tf.square(layer.v), 0), layer.squaredNormFloor));
    const w = tf.mul<tf.Tensor2D>(layer.v, tf.mul(layer.g, inverseNorm));
    return tf.add(tf.matMul(x, w), layer.bias);
  }
  if (layer instanceof CosineDense) {
    const xHat = tf.mul(x, tf.rsqrt(tf.maximum(tf.sum(tf.square(x), 1, true), COSINE_EPSILON)));
    const wNorm = tf.maximum(tf.sum(tf.square(layer.kernel), 0), layer.squaredNormFloor);
    const wHat = tf.mul(layer.kernel, tf.rsqrt(wNorm));
    return tf.mul(tf.matMul(xHat as tf.Tensor2D, wHat as tf.Tensor2D), layer.scale);
  }
  if (layer instanceof LayerNormalization) {
    const { mean, variance } = tf.moments(x, 1, true);
    return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, layer.epsilon))), layer.gain), layer.bias);
  }
  if (layer instanceof BatchNormalization) {
    if (!ctx.training) return plainNormalize(layer, x, layer.movingMean, layer.movingVariance);
    if (layer instanceof SyncBatchNormalization) {
      const shards = splitIntoShards(x, layer.replicas);
      const { mean, variance } = replicaMoments(shards, new InProcessAllReduce(layer.replicas), layer.passes);
      plainUpdates(layer, mean, tf.mul(variance, besselFactor(x.shape[0])), ctx.bufferUpdates);
      const outputs = shards.filter((s) => s.shape[0] > 0).map((s) => plainNormalize(layer, s, mean, variance));
      return outputs.length === 1 ? outputs[0] : tf.concat(outputs, 0);
    }
    if (layer instanceof GhostBatchNormalization) {
      const rows = x.shape[0];
      // Never a one-row shard: a short batch gets fewer shards (min(replicas, ⌊rows/2⌋), at least 1).
      const shards = splitIntoShards(x, Math.max(1, Math.min(layer.replicas, Math.floor(rows / 2))));
      const moments = shards.map((s) => tf.moments(s, 0));
      const weighted = (key: 'mean' | 'variance', unbiased = false) =>
        tf.addN(
          moments.map((m, i) => {
            const n = shards[i].shape[0];
            return tf.mul(m[key], ((unbiased ? besselFactor(n) : 1) * n) / rows);
          }),
        );
      plainUpdates(layer, weighted('mean'), weighted('variance', true), ctx.bufferUpdates);
      const outputs = shards.map((s, i) => plainNormalize(layer, s, moments[i].mean, moments[i].variance));
      return outputs.length === 1 ? outputs[0] : tf.concat(outputs, 0);
    }
    const { mean, variance } = tf.moments(x, 0);
    plainUpdates(layer, mean, tf.mul(variance, besselFactor(x.shape[0])), ctx.bufferUpdates);
    return plainNormalize(layer, x, mean, variance);
  }
  if (layer instanceof Activation) return activate(x, layer.fn);
  if (layer instanceof Dropout) {
    if (!ctx.training || layer.rate === 0) return x;
    const mask = dropoutMask(x.size, layer.rate, ctx.rng!.seed());
    return tf.mul(x, tf.tensor2d(mask, x.shape));
  }
  if (layer instanceof GaussianDropout) {
    if (!ctx.training || layer.rate === 0) return x;
    return tf.mul(x, tf.randomNormal(x.shape, 1, layer.stddev, 'float32', ctx.rng!.seed()));
  }
  throw new Error(`no plain formulation for ${layer.name}`);
}

// ---------------------------------------------------------------------------------------------
// Layer by layer.

interface Gradients {
  output: Float32Array;
  /** dL/dx, then dL/d(param) in the layer's params order. */
  grads: Float32Array[];
  /** The new running statistics the pass computed (not applied). */
  updates: Float32Array[];
}

/** L = Σ f(x) ⊙ R, differentiated by tf.variableGrads with respect to x and the layer's params. */
function autodiff(layer: Layer, f: typeof plainApply, x: tf.Tensor2D, r: tf.Tensor2D, training: boolean): Gradients {
  const xv = tf.variable(x, true);
  const updates: BufferUpdate[] = [];
  let output: tf.Tensor | undefined;
  const ctx: ForwardContext = { training, rng: new Rng(77), bufferUpdates: updates };
  const variables = [xv, ...layer.params.map((p) => p.variable)];
  const { value, grads } = tf.variableGrads(() => {
    const y = f(layer, xv as tf.Tensor as tf.Tensor2D, ctx);
    output = tf.keep(tf.clone(y));
    return tf.sum(tf.mul(y, r));
  }, variables);
  const result = {
    output: Float32Array.from(output!.dataSync()),
    grads: variables.map((v) => Float32Array.from(grads[v.name].dataSync())),
    updates: updates.map((u) => Float32Array.from(u.value.dataSync())),
  };
  tf.dispose([xv, value, output!, ...Object.values(grads), ...updates.map((u) => u.value)]);
  return result;
}

/** The same through the pass the trainer chains by hand (Layer.forward), without tf's tape. */
function byHand(layer: Layer, x: tf.Tensor2D, r: tf.Tensor2D, training: boolean): Gradients {
  const updates: BufferUpdate[] = [];
  const result = tf.tidy(() => {
    const pass = layer.forward(x, { training, rng: new Rng(77), bufferUpdates: updates });
    const { dx, params } = pass.backward(r, pass.saved, true);
    return {
      output: Float32Array.from(pass.output.dataSync()),
      grads: [dx!, ...params].map((g) => Float32Array.from(g.dataSync())),
    };
  });
  const out = { ...result, updates: updates.map((u) => Float32Array.from(u.value.dataSync())) };
  tf.dispose(updates.map((u) => u.value));
  return out;
}

/** Outputs, gradients and running statistics to 1e-5; sums over 128 rows to 1e-5 of the tensor's largest value. */
function compare(label: string, actual: Gradients, expected: Gradients, names: string[], rows: number): void {
  const large = rows >= 128;
  assertNear(actual.output, expected.output, `${label}: output`, 1e-5, large);
  assert.equal(actual.grads.length, expected.grads.length, `${label}: number of gradients`);
  expected.grads.forEach((g, i) => assertNear(actual.grads[i], g, `${label}: d/d${names[i]}`, 1e-5, large));
  assert.equal(actual.updates.length, expected.updates.length, `${label}: running statistics`);
  expected.updates.forEach((u, i) => assertNear(actual.updates[i], u, `${label}: running statistic ${i}`, 1e-5, large));
}

interface Case {
  name: string;
  /** The layer for `inputs` input units (its output width follows). */
  make: (inputs: number, rng: Rng) => Layer;
  /** Input rows are drawn around this mean. */
  mean?: number;
  /** Edits the input before use, e.g. a zero row. */
  input?: (x: Float32Array, cols: number) => void;
}

/**
 * Vectors (γ, β, running statistics, gains, biases) away from their initial 0 and 1; batch
 * norm's start weight half way through its warm-up (mᵗ = 0.5), where its correction matters.
 * Norm floors stay: they are constants of the initial kernel, never moved by training.
 */
function perturb<L extends Layer>(layer: L, seed: number): L {
  [...layer.params, ...layer.buffers].forEach(({ name, variable }, i) => {
    if (name.endsWith('start_weight')) setVariable(variable, [0.5]);
    if (variable.rank !== 1 || name.endsWith('squared_norm_floor')) return;
    const z = normals(variable.size, seed + i, 0, 0.5);
    const value = (v: number) =>
      name.endsWith('moving_variance') ? 0.5 + v * v : name.endsWith('moving_mean') ? v : 1 + v;
    setVariable(variable, z.map(value));
  });
  return layer;
}

const CASES: Case[] = [
  { name: 'Dense', make: (n, rng) => perturb(new Dense({ name: 'd', inputSize: n, units: 9, rng }), 1) },
  {
    name: 'Dense without bias',
    make: (n, rng) => new Dense({ name: 'd', inputSize: n, units: 9, useBias: false, rng }),
  },
  {
    name: 'Dense 128 → 64 (blocked transposes)',
    make: (n, rng) => perturb(new Dense({ name: 'd', inputSize: n, units: 64, rng }), 2),
  },
  ...ACTIVATIONS.map((fn) => ({ name: `Activation ${fn}`, make: () => new Activation('a', fn) })),
  {
    name: 'BatchNormalization',
    make: (n) => perturb(new BatchNormalization({ name: 'bn', units: n, momentum: 0.9 }), 3),
    mean: 3,
  },
  ...([1, 2] as const).map((passes) => ({
    name: `SyncBatchNormalization, passes ${passes}`,
    make: (n: number) => perturb(new SyncBatchNormalization({ name: 'sbn', units: n, replicas: 4, passes }), 4),
    mean: 3,
  })),
  {
    name: 'GhostBatchNormalization',
    make: (n) => perturb(new GhostBatchNormalization({ name: 'gbn', units: n, replicas: 4, momentum: 0.8 }), 5),
  },
  { name: 'LayerNormalization', make: (n) => perturb(new LayerNormalization({ name: 'ln', units: n }), 6), mean: -2 },
  {
    name: 'WeightNormalizedDense, one column of v zero',
    make: (n, rng) => {
      const layer = perturb(new WeightNormalizedDense({ name: 'wn', inputSize: n, units: 6, rng }), 7);
      const v = Float32Array.from(layer.v.dataSync());
      for (let i = 0; i < n; i++) v[i * 6 + 2] = 0;
      setVariable(layer.v, v);
      return layer;
    },
  },
  {
    name: 'CosineDense, learned scale, a zero row',
    make: (n, rng) => new CosineDense({ name: 'cos', inputSize: n, units: 7, scale: 2.5, rng }),
    input: (x, cols) => x.fill(0, 0, cols),
  },
  {
    name: 'CosineDense, fixed scale',
    make: (n, rng) => new CosineDense({ name: 'cos', inputSize: n, units: 7, scale: 3, learnScale: false, rng }),
  },
  { name: 'Dropout 0.3', make: () => new Dropout({ name: 'drop', rate: 0.3 }) },
  { name: 'GaussianDropout 0.3', make: () => new GaussianDropout({ name: 'gdrop', rate: 0.3 }) },
];

/** Batch shapes: one row, odd sizes, and [128, 128] where the blocked transposes and sums run. */
const SHAPES: [number, number][] = [
  [1, 5],
  [7, 5],
  [13, 3],
  [128, 128],
];

describe('custom gradients equal tf autodiff of the plain formulation', () => {
  before(useWasmBackend);

  for (const c of CASES) {
    for (const [rows, cols] of SHAPES) {
      if (c.name.includes('128 → 64') && rows !== 128) continue;
      for (const training of [true, false]) {
        test(`${c.name}: ${rows}×${cols}, ${training ? 'training' : 'inference'} mode`, () => {
          const layer = c.make(cols, new Rng(rows * 31 + cols));
          const values = normals(rows * cols, rows + cols, c.mean ?? 0, 1.5);
          c.input?.(values, cols);
          const x = tf.tensor2d(values, [rows, cols]);
          const probe = tf.tidy(() => layer.apply(x, { training, rng: new Rng(77) }));
          const width = probe.shape[1];
          if (probe !== x) probe.dispose();
          const r = matrix(rows, width, 1000 + rows);
          const before = tf.memory().numTensors;
          const names = ['x', ...layer.params.map((p) => p.name)];
          const expected = autodiff(layer, plainApply, x, r, training);
          const custom = autodiff(layer, (l, input, ctx) => l.apply(input, ctx), x, r, training);
          compare('apply (tf.customGrad)', custom, expected, names, rows);
          compare('forward/backward by hand', byHand(layer, x, r, training), expected, names, rows);
          // Not vacuous: some gradient is non-zero, and with more than one row every parameter's
          // (one row leaves batch norm's γ nothing to scale and a zero row no direction).
          assert.ok(
            expected.grads.some((g) => g.some((v) => v !== 0)),
            'every gradient is zero',
          );
          if (rows > 1) {
            for (const g of expected.grads.slice(1)) {
              assert.ok(
                g.some((v) => v !== 0),
                'a parameter gradient is all zeros',
              );
            }
          }
          assert.equal(tf.memory().numTensors, before, 'no tensors leaked by the passes');
          tf.dispose([x, r, ...[...layer.params, ...layer.buffers].map((p) => p.variable)]);
        });
      }
    }
  }

  test('the backward step skips dx when asked, and still returns every parameter gradient', () => {
    const layer = new Dense({ name: 'd', inputSize: 4, units: 3, rng: new Rng(1) });
    tf.tidy(() => {
      const pass = layer.forward(matrix(5, 4, 1));
      const { dx, params } = pass.backward(matrix(5, 3, 2), pass.saved, false);
      assert.equal(dx, null);
      assert.deepEqual(
        params.map((p) => p.shape),
        [[4, 3], [3]],
      );
    });
    tf.dispose(layer.params.map((p) => p.variable));
  });
});

// ---------------------------------------------------------------------------------------------
// One whole training step.

/** The network's training-mode forward pass in the plain formulation, with its running statistics. */
function plainForward(network: Network, x: tf.Tensor2D, ctx: ForwardContext): tf.Tensor2D {
  let h = x;
  for (const layer of network.layers) h = plainApply(layer, h, ctx);
  return h;
}

function data(task: 'classification' | 'regression', rows: number, inputs: number, classes: number): TrainingData {
  const x = normals(rows * inputs, 5, 0.5, 1.2);
  const rng = new Rng(6);
  // Classes 0–2 from x0 and noise; a regression target from x0 − x1 and noise.
  const y = Float32Array.from({ length: rows }, (_, i) =>
    task === 'classification'
      ? (x[i * inputs] > 0.5 ? 1 : 0) + (rng.next() < 0.4 ? 1 : 0)
      : x[i * inputs] - x[i * inputs + 1] + rng.next(),
  );
  return {
    task,
    x,
    y,
    inputSize: inputs,
    outputSize: task === 'classification' ? classes : 1,
    trainRows: Int32Array.from({ length: rows }, (_, i) => i),
    validationRows: new Int32Array(0),
  };
}

/** A first optimizer step, w ← w − Δ(g), written out. */
type FirstStep = (w: tf.Tensor, g: tf.Tensor) => tf.Tensor;

const sgdStep =
  (lr: number): FirstStep =>
  (w, g) =>
    tf.sub(w, tf.mul(g, lr));

/**
 * Adam's first step from zero moments in the Keras form fitwell documents (ε added to sqrt(v)
 * before the bias correction, which tf.train.adam adds after it — a visible difference for
 * gradients below ~1e-4): m = (1 − β₁)·g, v = (1 − β₂)·g², w ← w − lr·sqrt(1 − β₂)/(1 − β₁)·m/(sqrt(v) + ε).
 */
const adamStep =
  (lr: number, beta1 = 0.9, beta2 = 0.999, epsilon = 1e-7): FirstStep =>
  (w, g) => {
    const m = tf.mul(g, 1 - beta1);
    const v = tf.mul(tf.square(g), 1 - beta2);
    const lrT = (lr * Math.sqrt(1 - beta2)) / (1 - beta1);
    return tf.sub(w, tf.div(tf.mul(m, lrT), tf.add(tf.sqrt(v), epsilon)));
  };

/**
 * The reference step: the same initial network (the same seed draws the same weights), the same
 * shuffle and dropout seeds from the same Rng, the plain forward pass, tf's loss function plus the
 * penalty α₁·Σ|w| + α₂·Σw² over the kernels, tf.variableGrads, and the optimizer's first step.
 */
function referenceStep(
  training: TrainingData,
  options: TrainerOptions,
  penalties: Record<string, { l1: number; l2: number }>,
  firstStep: FirstStep,
): { network: Network; loss: number } {
  const rng = new Rng(options.seed);
  const spec: NetworkSpec = {
    inputSize: training.inputSize,
    hidden: options.hidden,
    outputSize: training.outputSize,
    output: training.task === 'classification' ? 'softmax' : 'identity',
  };
  const network = new Network(spec, rng);
  const order = Int32Array.from(training.trainRows);
  rng.shuffle(order);
  const n = order.length;
  const xs = new Float32Array(n * training.inputSize);
  const width = training.inputSize;
  order.forEach((row, i) => xs.set(training.x.subarray(row * width, (row + 1) * width), i * width));
  const updates: BufferUpdate[] = [];
  let loss = 0;
  tf.tidy(() => {
    const x = tf.tensor2d(xs, [n, training.inputSize]);
    const labels = Array.from(order, (row) => training.y[row]);
    const targets =
      training.task === 'classification'
        ? tf.oneHot(tf.tensor1d(labels, 'int32'), training.outputSize).toFloat()
        : tf.tensor2d(labels, [n, 1]);
    const variables = network.params.map((p) => p.variable);
    const { value, grads } = tf.variableGrads(() => {
      const output = plainForward(network, x, { training: true, rng, bufferUpdates: updates });
      const data =
        training.task === 'classification'
          ? tf.losses.softmaxCrossEntropy(targets, output)
          : tf.losses.meanSquaredError(targets, output);
      loss = data.dataSync()[0];
      let total = data as tf.Scalar;
      for (const p of network.kernels) {
        const { l1, l2 } = penalties[p.name] ?? { l1: 0, l2: 0 };
        if (l1 > 0) total = tf.add(total, tf.mul(tf.sum(tf.abs(p.variable)), l1));
        if (l2 > 0) total = tf.add(total, tf.mul(tf.sum(tf.square(p.variable)), l2));
      }
      return total;
    }, variables);
    for (const v of variables) v.assign(firstStep(v, grads[v.name]));
    tf.dispose(value);
  });
  for (const update of updates) {
    update.variable.assign(update.value);
    update.value.dispose();
  }
  return { network, loss };
}

describe('one training step equals the plain reference', () => {
  before(useWasmBackend);

  const cases: {
    name: string;
    task: 'classification' | 'regression';
    options: TrainerOptions;
    penalties: Record<string, { l1: number; l2: number }>;
    firstStep: FirstStep;
    /** Absolute, on parameters of order 0.1–1 after one step. */
    tol: number;
  }[] = [
    {
      name: 'the benchmark network: BN, layer norm, dropout, L2 on the first kernel, Adam',
      task: 'classification',
      options: {
        hidden: [
          hiddenLayerSchema.parse({ units: 24, normalization: 'batch', dropout: 0.3, regularization: { l2: 1e-2 } }),
          hiddenLayerSchema.parse({ units: 20, normalization: 'layer', dropout: 0.3 }),
        ],
        regularization: regularizationSchema.parse({}),
        epochs: 1,
        batchSize: 37,
        optimizer: 'adam',
        learningRate: 1e-3,
        seed: 11,
      },
      penalties: { 'hidden0/dense/kernel': { l1: 0, l2: 1e-2 } },
      firstStep: adamStep(1e-3),
      // Adam's first step is lr·g/(|g| + ε′) per value, ε′ = ε/sqrt(1 − β₂): gradients that differ
      // by float rounding move it by far less than lr; 1e-6 is 0.1 % of a step (measured: within
      // one float32 ulp of the parameters).
      tol: 1e-6,
    },
    {
      name: 'every other layer kind, elastic net by subgradient, regression, SGD',
      task: 'regression',
      options: {
        hidden: [
          hiddenLayerSchema.parse({
            units: 16,
            normalization: { type: 'sync-batch', replicas: 3 },
            activation: 'tanh',
          }),
          hiddenLayerSchema.parse({
            units: 12,
            normalization: 'weight',
            dropout: { rate: 0.2, kind: 'gaussian' },
            activation: 'elu',
          }),
          hiddenLayerSchema.parse({
            units: 10,
            normalization: { type: 'ghost-batch', replicas: 4 },
            activation: 'selu',
          }),
          hiddenLayerSchema.parse({ units: 8, normalization: 'cosine', activation: 'sigmoid', dropout: 0.1 }),
          hiddenLayerSchema.parse({
            units: 6,
            normalization: { type: 'batch', placement: 'after-activation', momentum: 0.7 },
          }),
        ],
        regularization: regularizationSchema.parse({ l1: 1e-3, l2: 1e-3, l1Mode: 'subgradient' }),
        epochs: 1,
        batchSize: 37,
        optimizer: 'sgd',
        learningRate: 0.05,
        seed: 12,
      },
      penalties: Object.fromEntries(
        [
          'hidden0/dense/kernel',
          'hidden1/weight_norm_dense/v',
          'hidden2/dense/kernel',
          'hidden3/cosine_dense/kernel',
          'hidden4/dense/kernel',
          'output/dense/kernel',
        ].map((name) => [name, { l1: 1e-3, l2: 1e-3 }]),
      ),
      firstStep: sgdStep(0.05),
      tol: 1e-6,
    },
  ];

  test('epochs of every layer kind and optimizer leave no tensors behind', async () => {
    for (const c of cases) {
      for (const optimizer of ['adam', 'sgd', 'rmsprop'] as const) {
        const trainer = new Trainer(data(c.task, 37, 6, 3), { ...c.options, batchSize: 8, epochs: 3, optimizer });
        try {
          await trainer.runEpoch(); // creates the optimizer's slots
          const before = tf.memory().numTensors;
          await trainer.runEpoch();
          assert.equal(tf.memory().numTensors, before, `${c.name}, ${optimizer}`);
        } finally {
          trainer.dispose();
        }
      }
    }
  });

  for (const c of cases) {
    test(c.name, async () => {
      const training = data(c.task, 37, 6, 3);
      const trainer = new Trainer(training, c.options);
      const start = trainer.network.getWeights();
      const metrics = await trainer.runEpoch();
      assert.ok(metrics);
      const actual = trainer.network.getWeights();
      trainer.dispose();

      const reference = referenceStep(training, c.options, c.penalties, c.firstStep);
      const expected = reference.network.getWeights();
      reference.network.dispose();

      assert.deepEqual(Object.keys(actual).sort(), Object.keys(expected).sort());
      // Both started from the same weights.
      assert.ok(Object.keys(start).some((name) => start[name].some((v, i) => v !== actual[name][i])));
      for (const name of Object.keys(expected)) {
        // Running statistics after a fresh layer's first step are the batch's own mean and
        // variance (order 1–10, summed in another order by tf.moments): 1e-5 of their size, as
        // in the layer tests. Parameters moved by one optimizer step: c.tol.
        const buffer = /moving_(mean|variance)$/.test(name);
        for (let i = 0; i < expected[name].length; i++) {
          const diff = Math.abs(actual[name][i] - expected[name][i]);
          const message = `${name}[${i}]: ${actual[name][i]} vs reference ${expected[name][i]} (|diff| ${diff})`;
          assert.ok(diff <= (buffer ? 1e-5 * Math.max(1, Math.abs(expected[name][i])) : c.tol), message);
        }
      }
      const lossDiff = Math.abs(metrics.trainingModeLoss - reference.loss);
      assert.ok(
        lossDiff <= 1e-5 * Math.max(1, reference.loss),
        `loss ${metrics.trainingModeLoss} vs ${reference.loss}`,
      );
    });
  }
});
