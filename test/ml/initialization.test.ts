import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { CosineDense } from '../../src/ml/layers/cosine-dense';
import { Dense } from '../../src/ml/layers/dense';
import { initBias, initKernel, kernelDistribution, TRUNCATED_NORMAL_STD } from '../../src/ml/layers/init';
import { WeightNormalizedDense } from '../../src/ml/layers/weight-normalized-dense';
import { Network } from '../../src/ml/network';
import { Rng } from '../../src/random';
import { INITIALIZERS, trainingRequestSchema, type Initializer } from '../../src/schemas/training-request.schema';
import { take, useWasmBackend } from '../helpers/tf';

/**
 * Each initializer against its formula (src/ml/layers/init.ts). The draws are seeded, so every
 * check is deterministic; the tolerances are still chosen as if they were not (≥ 6 standard
 * errors of the estimate), so a correct implementation passes under any seed and a wrong
 * formula (a factor of √2, √3, fan_in vs fan_in + fan_out) fails by far more.
 */

const FAN_IN = 400;
const FAN_OUT = 300;
const N = FAN_IN * FAN_OUT;

/** Formulas written out again here, independently of the code under test. */
const EXPECTED: Record<Initializer, { uniformLimit?: number; normalStd?: number }> = {
  'he-uniform': { uniformLimit: Math.sqrt(6 / FAN_IN) },
  'glorot-uniform': { uniformLimit: Math.sqrt(6 / (FAN_IN + FAN_OUT)) },
  'lecun-uniform': { uniformLimit: Math.sqrt(3 / FAN_IN) },
  'torch-default': { uniformLimit: 1 / Math.sqrt(FAN_IN) },
  'he-normal': { normalStd: Math.sqrt(2 / FAN_IN) },
  'glorot-normal': { normalStd: Math.sqrt(2 / (FAN_IN + FAN_OUT)) },
  'lecun-normal': { normalStd: Math.sqrt(1 / FAN_IN) },
};

function moments(values: ArrayLike<number>): { mean: number; std: number; maxAbs: number } {
  let sum = 0;
  let maxAbs = 0;
  for (let i = 0; i < values.length; i++) {
    sum += values[i];
    maxAbs = Math.max(maxAbs, Math.abs(values[i]));
  }
  const mean = sum / values.length;
  let squares = 0;
  for (let i = 0; i < values.length; i++) squares += (values[i] - mean) ** 2;
  return { mean, std: Math.sqrt(squares / values.length), maxAbs };
}

/** erf to 1.5e-7 (Abramowitz & Stegun 7.1.26), for the truncated normal's probabilities. */
function erf(x: number): number {
  const t = 1 / (1 + 0.3275911 * Math.abs(x));
  const poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  return Math.sign(x) * (1 - poly * Math.exp(-x * x));
}

function drawKernel(scheme: Initializer, seed = 1): Float32Array {
  return take(initKernel(new Rng(seed), FAN_IN, FAN_OUT, scheme));
}

describe('initializers', () => {
  before(useWasmBackend);

  test('the schema and the implementation know the same seven schemes', () => {
    assert.deepEqual([...INITIALIZERS].sort(), Object.keys(EXPECTED).sort());
  });

  for (const scheme of INITIALIZERS) {
    const { uniformLimit, normalStd } = EXPECTED[scheme];
    test(`${scheme}: limits and standard deviation match the formula`, () => {
      const values = drawKernel(scheme);
      assert.equal(values.length, N);
      const m = moments(values);
      if (uniformLimit !== undefined) {
        assert.deepEqual(kernelDistribution(scheme, FAN_IN, FAN_OUT), { kind: 'uniform', limit: uniformLimit });
        const std = uniformLimit / Math.sqrt(3);
        // U(−l, l): every value within l, the largest of 120 000 within 0.05 % of it (a miss has
        // probability 0.9995^120000 ≈ 1e-26).
        assert.ok(m.maxAbs <= uniformLimit, `max |w| ${m.maxAbs} > limit ${uniformLimit}`);
        assert.ok(m.maxAbs > uniformLimit * 0.9995, `max |w| ${m.maxAbs} well below limit ${uniformLimit}`);
        // Standard error of the sample std of a uniform: std·√(0.8/(4N)) ≈ 0.13 %; allow 1 %.
        assert.ok(Math.abs(m.std / std - 1) < 0.01, `std ${m.std}, expected ${std}`);
        assert.ok(Math.abs(m.mean) < (6 * std) / Math.sqrt(N), `mean ${m.mean}`);
      } else {
        const sigma = normalStd!;
        assert.deepEqual(kernelDistribution(scheme, FAN_IN, FAN_OUT), { kind: 'truncated-normal', std: sigma });
        // Truncated (Keras): N(0, (σ/0.8796)²) cut at ±2·σ/0.8796, whose std is σ.
        const cut = (2 * sigma) / TRUNCATED_NORMAL_STD;
        assert.ok(m.maxAbs <= cut * (1 + 1e-6), `max |w| ${m.maxAbs} beyond the ±2σ' cut ${cut}`);
        assert.ok(m.maxAbs > cut * 0.995, `max |w| ${m.maxAbs}: the tails up to the cut ${cut} are missing`);
        assert.ok(Math.abs(m.std / sigma - 1) < 0.01, `std ${m.std}, expected ${sigma}`);
        assert.ok(Math.abs(m.mean) < (6 * sigma) / Math.sqrt(N), `mean ${m.mean}`);
        // The shape, not only the scale: the share within ±σ of a normal truncated at ±2 (in units
        // of σ' = σ/0.8796, ±σ is ±0.8796σ'), P(|z| < 0.8796) / P(|z| < 2). A plain normal would
        // give 0.683, a uniform with this std 0.577; this is 0.7218. Standard error ≈ 0.0013.
        const inside = values.filter((v) => Math.abs(v) < sigma).length / N;
        const expected = erf(TRUNCATED_NORMAL_STD / Math.SQRT2) / erf(2 / Math.SQRT2);
        assert.ok(Math.abs(inside - expected) < 0.008, `share within ±σ ${inside}, expected ${expected}`);
      }
    });
  }

  test('the truncated-normal constant is the std of N(0, 1) cut at ±2', () => {
    // Var = 1 − 2·2·φ(2) / (2Φ(2) − 1) for a standard normal truncated to [−2, 2].
    const phi2 = Math.exp(-2) / Math.sqrt(2 * Math.PI);
    const std = Math.sqrt(1 - (4 * phi2) / erf(Math.SQRT2));
    assert.ok(Math.abs(std - TRUNCATED_NORMAL_STD) < 1e-6, `${std}`);
  });

  test('the same seed gives the same kernel, a different seed a different one', () => {
    for (const scheme of INITIALIZERS) {
      assert.deepEqual(drawKernel(scheme, 5), drawKernel(scheme, 5));
      assert.notDeepEqual(drawKernel(scheme, 5).slice(0, 10), drawKernel(scheme, 6).slice(0, 10));
    }
  });

  describe('torch-default is PyTorch nn.Linear (test/fixtures/init-reference.json)', () => {
    const fixture = JSON.parse(
      readFileSync(join(__dirname, '..', '..', '..', 'test', 'fixtures', 'init-reference.json'), 'utf8'),
    ) as {
      cases: {
        fanIn: number;
        fanOut: number;
        weightBound: number;
        weightMaxAbs: number;
        weightStd: number;
        biasBound: number;
        biasMaxAbs: number;
        biasStd: number;
      }[];
    };

    for (const c of fixture.cases) {
      test(`nn.Linear(${c.fanIn}, ${c.fanOut}): the same bounds and spread for weight and bias`, () => {
        const limit = 1 / Math.sqrt(c.fanIn);
        // PyTorch's own bound (gain(leaky_relu, √5)·√(3/fan_in)) and its empirical largest draw.
        assert.ok(Math.abs(c.weightBound / limit - 1) < 1e-12);
        assert.ok(Math.abs(c.biasBound / limit - 1) < 1e-12);
        assert.ok(c.weightMaxAbs <= limit * (1 + 1e-6) && c.weightMaxAbs > limit * 0.999);
        assert.ok(c.biasMaxAbs <= limit * (1 + 1e-6) && c.biasMaxAbs > limit * 0.99);

        const rng = new Rng(3);
        const layer = new Dense({ name: 'd', inputSize: c.fanIn, units: c.fanOut, init: 'torch-default', rng });
        const kernel = moments(take(tf.clone(layer.kernel)));
        const bias = moments(take(tf.clone(layer.bias!)));
        layer.kernel.dispose();
        layer.bias!.dispose();
        assert.ok(kernel.maxAbs <= limit && kernel.maxAbs > limit * 0.99, `kernel max ${kernel.maxAbs}`);
        assert.ok(Math.abs(kernel.std / c.weightStd - 1) < 0.02, `kernel std ${kernel.std} vs torch ${c.weightStd}`);
        // The bias is drawn too, U(±1/√fan_in) (fan_in of the kernel), not zeros.
        assert.ok(bias.maxAbs <= limit, `bias max ${bias.maxAbs}`);
        const biasTolerance = 6 * Math.sqrt(0.2 / c.fanOut); // ≥ 6 standard errors of the std
        assert.ok(
          Math.abs(bias.std / c.biasStd - 1) < Math.max(biasTolerance, 0.02),
          `bias std ${bias.std} vs torch ${c.biasStd}`,
        );
      });
    }
  });

  test('only torch-default draws a bias; every other scheme starts it at zero', () => {
    for (const scheme of INITIALIZERS) {
      const bias = take(initBias(new Rng(1), 64, 4096, scheme));
      const m = moments(bias);
      if (scheme === 'torch-default') {
        assert.ok(m.maxAbs <= 1 / 8 && m.maxAbs > 0.99 / 8, `max ${m.maxAbs}`);
        assert.ok(Math.abs(m.std / (1 / 8 / Math.sqrt(3)) - 1) < 0.05, `std ${m.std}`);
      } else {
        assert.equal(m.maxAbs, 0, scheme);
      }
    }
  });

  test('weight-normalized and cosine layers use the scheme for their kernel (and bias)', () => {
    const wn = new WeightNormalizedDense({
      name: 'wn',
      inputSize: 256,
      units: 512,
      init: 'torch-default',
      rng: new Rng(2),
    });
    const v = moments(take(tf.clone(wn.v)));
    const bias = moments(take(tf.clone(wn.bias)));
    assert.ok(v.maxAbs <= 1 / 16 && v.maxAbs > 0.99 / 16, `v max ${v.maxAbs}`);
    assert.ok(bias.maxAbs <= 1 / 16 && bias.maxAbs > 0.9 / 16, `bias max ${bias.maxAbs}`);
    const he = new WeightNormalizedDense({
      name: 'wn',
      inputSize: 256,
      units: 512,
      init: 'he-uniform',
      rng: new Rng(2),
    });
    assert.ok(Math.abs(moments(take(tf.clone(he.v))).maxAbs / Math.sqrt(6 / 256) - 1) < 0.01);
    assert.equal(moments(take(tf.clone(he.bias))).maxAbs, 0);
    const cos = new CosineDense({ name: 'cos', inputSize: 256, units: 512, init: 'glorot-normal', rng: new Rng(2) });
    const k = moments(take(tf.clone(cos.kernel)));
    assert.ok(Math.abs(k.std / Math.sqrt(2 / (256 + 512)) - 1) < 0.02, `cosine kernel std ${k.std}`);
    for (const p of [...wn.params, ...he.params, ...cos.params]) p.variable.dispose();
  });

  test('model.init reaches every layer, the output layer included; hidden[i].init overrides it', () => {
    const request = trainingRequestSchema.parse({
      datasetId: 'd',
      target: 't',
      task: 'classification',
      model: {
        init: 'torch-default',
        hidden: [
          { units: 200 },
          { units: 300, init: 'he-uniform', normalization: 'batch' },
          { units: 100, normalization: 'weight' },
        ],
      },
    });
    const network = new Network(
      { inputSize: 50, hidden: request.model.hidden, init: request.model.init, outputSize: 64, output: 'softmax' },
      new Rng(4),
    );
    const byName = new Map(network.params.map((p) => [p.name, moments(take(tf.clone(p.variable)))]));
    const near = (name: string, limit: number) => {
      const m = byName.get(name);
      assert.ok(m, `no parameter ${name}; have ${[...byName.keys()].join(', ')}`);
      assert.ok(m.maxAbs <= limit && m.maxAbs > 0.97 * limit, `${name}: max ${m.maxAbs}, expected about ${limit}`);
    };
    near('hidden0/dense/kernel', 1 / Math.sqrt(50));
    near('hidden0/dense/bias', 1 / Math.sqrt(50));
    near('hidden1/dense/kernel', Math.sqrt(6 / 200)); // the override; no bias before batch norm
    assert.equal(byName.has('hidden1/dense/bias'), false);
    near('hidden2/weight_norm_dense/v', 1 / Math.sqrt(300));
    near('hidden2/weight_norm_dense/bias', 1 / Math.sqrt(300));
    near('output/dense/kernel', 1 / Math.sqrt(100));
    near('output/dense/bias', 1 / Math.sqrt(100));
    network.dispose();
  });

  test('bad values are refused naming the allowed ones and the value', () => {
    const base = { datasetId: 'd', target: 't', task: 'classification' as const };
    const list = INITIALIZERS.join(', ');
    const global = trainingRequestSchema.safeParse({ ...base, model: { init: 'xavier' } });
    assert.equal(global.success, false);
    assert.equal(global.error.issues[0].message, `Expected one of ${list}, received "xavier"`);
    assert.deepEqual(global.error.issues[0].path, ['model', 'init']);
    const layer = trainingRequestSchema.safeParse({ ...base, model: { hidden: [{ units: 4, init: 3 }] } });
    assert.equal(layer.success, false);
    assert.equal(layer.error.issues[0].message, `Expected one of ${list}, received 3`);
    assert.deepEqual(layer.error.issues[0].path, ['model', 'hidden', 0, 'init']);
  });
});
