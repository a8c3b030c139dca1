import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import type { Param } from '../../src/ml/layers/layer';
import { Adam, createOptimizer, type Optimizer, RmsProp, Sgd } from '../../src/ml/optimizers';
import { assertClose, useWasmBackend } from '../helpers/tf';

/**
 * A separable quadratic f(w) = Σ_i a_i·(w_i − c_i)² over two parameters (a 2×3 "kernel" and a
 * 3-vector "bias"), with gradient ∂f/∂w_i = 2·a_i·(w_i − c_i) computed here in plain JS, so both
 * optimizers under comparison are fed the same, independently computed gradient.
 * Starting points are 1–3 away from the minimum so gradients stay O(1) over 5 steps.
 */
const PROBLEM = {
  kernel: {
    shape: [2, 3],
    a: [0.5, 1.0, 2.0, 1.5, 0.75, 1.25],
    c: [0.1, -0.2, 0.3, 1.0, -1.0, 0.0],
    w0: [2.1, -2.2, 1.3, -1.0, 1.5, 3.0],
  },
  bias: { shape: [3], a: [1.0, 2.0, 0.5], c: [0.5, 0.0, -0.5], w0: [-1.5, 2.0, 1.5] },
} as const;
type Key = keyof typeof PROBLEM;
const KEYS: Key[] = ['kernel', 'bias'];

interface Vars {
  kernel: tf.Variable;
  bias: tf.Variable;
}

/** Fresh variables at the given values (default: the starting point). Names are unique per call. */
function makeVars(values?: Record<Key, ArrayLike<number>>): Vars {
  const make = (key: Key) =>
    tf.variable(tf.tensor(Float32Array.from(values?.[key] ?? PROBLEM[key].w0), [...PROBLEM[key].shape]), true);
  return { kernel: make('kernel'), bias: make('bias') };
}

function params(vars: Vars): Param[] {
  return [
    { name: 'layer/kernel', role: 'kernel', variable: vars.kernel },
    { name: 'layer/bias', role: 'bias', variable: vars.bias },
  ];
}

/** ∂f/∂w = 2·a·(w − c), element-wise. */
function gradient(key: Key, w: ArrayLike<number>): Float32Array {
  const { a, c } = PROBLEM[key];
  return Float32Array.from(a, (ai, i) => 2 * ai * (w[i] - c[i]));
}

function values(vars: Vars): Record<Key, Float32Array> {
  return { kernel: Float32Array.from(vars.kernel.dataSync()), bias: Float32Array.from(vars.bias.dataSync()) };
}

/** f(w) = Σ a·(w − c)², in double precision. */
function loss(vals: Record<Key, ArrayLike<number>>): number {
  let f = 0;
  for (const key of KEYS) {
    const { a, c } = PROBLEM[key];
    a.forEach((ai, i) => (f += ai * (vals[key][i] - c[i]) ** 2));
  }
  return f;
}

function ownStep(optimizer: Optimizer, vars: Vars): void {
  const grads: Record<string, tf.Tensor> = {};
  const ps = params(vars);
  for (const key of KEYS) {
    grads[`layer/${key}`] = tf.tensor(gradient(key, vars[key].dataSync()), [...PROBLEM[key].shape]);
  }
  optimizer.apply(ps, grads);
  tf.dispose(Object.values(grads));
}

function referenceStep(optimizer: tf.Optimizer, vars: Vars): void {
  const grads: tf.NamedTensorMap = {};
  for (const key of KEYS) {
    grads[vars[key].name] = tf.tensor(gradient(key, vars[key].dataSync()), [...PROBLEM[key].shape]);
  }
  optimizer.applyGradients(grads);
  tf.dispose(Object.values(grads));
}

function disposeVars(...all: Vars[]): void {
  for (const vars of all) tf.dispose([vars.kernel, vars.bias]);
}

const CASES: { name: string; own: () => Optimizer; reference: () => tf.Optimizer }[] = [
  { name: 'SGD (lr 0.1)', own: () => new Sgd(0.1), reference: () => tf.train.sgd(0.1) },
  {
    name: 'Adam (lr 0.1, β₁ 0.9, β₂ 0.999, ε 1e-7)',
    own: () => new Adam(0.1),
    reference: () => tf.train.adam(0.1, 0.9, 0.999, 1e-7),
  },
  {
    name: 'RMSprop (lr 0.05, ρ 0.9, no momentum, ε 1e-7)',
    own: () => new RmsProp(0.05),
    reference: () => tf.train.rmsprop(0.05, 0.9, 0, 1e-7),
  },
];

const STEPS = 5;

describe('optimizers against tf.train', () => {
  before(useWasmBackend);

  for (const { name, own, reference } of CASES) {
    test(`${name} matches tf.train over ${STEPS} steps to 1e-5`, () => {
      const mine = makeVars();
      const theirs = makeVars();
      const optimizer = own();
      const ref = reference();
      try {
        for (let step = 1; step <= STEPS; step++) {
          ownStep(optimizer, mine);
          referenceStep(ref, theirs);
          const a = values(mine);
          const b = values(theirs);
          // Both run float32 ops on O(1) values; the implementations place ε slightly differently
          // (Keras' ε-hat form vs tf.train's), which is < 1e-6 here: 1e-5 absolute.
          for (const key of KEYS) assertClose(a[key], b[key], 1e-5, `${key} after step ${step}`);
        }
        // Not vacuous: the parameters moved much further than the tolerance, downhill.
        const start = { kernel: PROBLEM.kernel.w0, bias: PROBLEM.bias.w0 };
        const end = values(mine);
        assert.ok(loss(end) < 0.9 * loss(start), `loss ${loss(start)} → ${loss(end)}`);
        assert.ok(Math.abs(end.kernel[0] - start.kernel[0]) > 0.01);
      } finally {
        optimizer.dispose();
        ref.dispose();
        disposeVars(mine, theirs);
      }
    });
  }

  test('SGD is w ← w − lr·g (hand computed, one step)', () => {
    const vars = makeVars();
    const optimizer = new Sgd(0.1);
    try {
      ownStep(optimizer, vars);
      for (const key of KEYS) {
        const g = gradient(key, PROBLEM[key].w0);
        const expected = Array.from(PROBLEM[key].w0, (w, i) => w - 0.1 * g[i]);
        assertClose(vars[key].dataSync(), expected, 1e-6, key);
      }
    } finally {
      optimizer.dispose();
      disposeVars(vars);
    }
  });

  test('createOptimizer maps names to the classes with the given learning rate', () => {
    for (const [name, cls] of [
      ['adam', Adam],
      ['sgd', Sgd],
      ['rmsprop', RmsProp],
    ] as const) {
      const optimizer = createOptimizer(name, 0.003);
      assert.ok(optimizer instanceof cls, name);
      assert.equal(optimizer.learningRate, 0.003);
      optimizer.dispose();
    }
  });
});

/**
 * Where ε goes matters once gradients are small next to √ε ≈ 3.2e-4 (ε = 1e-7): the O(1)
 * gradients above cannot tell. One weight per gradient scale, driven by a fixed sequence of
 * gradients of that scale (signs and sizes varying), is stepped by the service's optimizer and by
 * the float64 update written out below; RMSprop also by tf.train.rmsprop.
 */
describe('epsilon conventions at small gradients', () => {
  before(useWasmBackend);

  const SCALES = [1e-6, 1e-5, 1e-4, 1e-2, 1];
  const PATTERN = [1, -0.5, 2, 0.25, -1.5, 1, 0.75];
  const gradients = (step: number) => SCALES.map((scale) => scale * PATTERN[step % PATTERN.length]);

  /** w after each step from w₀ = 0 (so float32 keeps small steps exact), through one of ours. */
  function own(optimizer: Optimizer, steps: number): number[][] {
    const variable = tf.variable(tf.zeros([SCALES.length]), true);
    const param: Param = { name: 'w', role: 'kernel', variable };
    const out: number[][] = [];
    for (let t = 0; t < steps; t++) {
      const g = tf.tensor1d(gradients(t));
      optimizer.apply([param], { w: g });
      g.dispose();
      out.push(Array.from(variable.dataSync()));
    }
    optimizer.dispose();
    variable.dispose();
    return out;
  }

  /** |a − e| ≤ 1e-4·|e| per value: relative, since the steps span many orders of magnitude. */
  function assertRelative(actual: number[], expected: number[], label: string): void {
    actual.forEach((a, i) => {
      const bound = 1e-4 * Math.abs(expected[i]);
      assert.ok(Math.abs(a - expected[i]) <= bound, `${label}, gradient scale ${SCALES[i]}: ${a} vs ${expected[i]}`);
    });
  }

  test('RMSprop: w ← w − lr·g/√(ms + ε), ε inside the root (Keras 3, tf.train.rmsprop), ρ 0.9, ε 1e-7', () => {
    const lr = 0.01;
    const rho = 0.9;
    const eps = 1e-7;
    const steps = 7;
    const mine = own(new RmsProp(lr), steps);
    // Float64 reference, the update as Keras 3 writes it.
    const ms = SCALES.map(() => 0);
    const w = SCALES.map(() => 0);
    for (let t = 0; t < steps; t++) {
      gradients(t).forEach((g, i) => {
        ms[i] = rho * ms[i] + (1 - rho) * g * g;
        w[i] -= (lr * g) / Math.sqrt(ms[i] + eps);
      });
      assertRelative(mine[t], w, `step ${t + 1} against the float64 update`);
    }
    // And against tf.train.rmsprop (momentum 0) on the same gradients.
    const variable = tf.variable(tf.zeros([SCALES.length]), true);
    const reference = tf.train.rmsprop(lr, rho, 0, eps);
    for (let t = 0; t < steps; t++) {
      const g = tf.tensor1d(gradients(t));
      reference.applyGradients({ [variable.name]: g });
      g.dispose();
      assertRelative(mine[t], Array.from(variable.dataSync()), `step ${t + 1} against tf.train.rmsprop`);
    }
    reference.dispose();
    variable.dispose();
    // Not vacuous: at gradients of 1e-5 the step is ~g/√ε, 30× smaller than ε outside would give.
    const outside = (lr * 1e-5) / (Math.sqrt((1 - rho) * 1e-10) + eps);
    assert.ok(Math.abs(mine[0][1]) < outside / 30, `first step at 1e-5: ${mine[0][1]} vs ε outside ${outside}`);
  });

  test('Adam: ε added to √v with the bias correction in the step size (Keras ε-hat form), ε 1e-7', () => {
    const lr = 0.01;
    const [beta1, beta2, eps] = [0.9, 0.999, 1e-7];
    const steps = 7;
    const mine = own(new Adam(lr), steps);
    const m = SCALES.map(() => 0);
    const v = SCALES.map(() => 0);
    const w = SCALES.map(() => 0);
    for (let t = 1; t <= steps; t++) {
      const lrT = (lr * Math.sqrt(1 - beta2 ** t)) / (1 - beta1 ** t);
      gradients(t - 1).forEach((g, i) => {
        m[i] = beta1 * m[i] + (1 - beta1) * g;
        v[i] = beta2 * v[i] + (1 - beta2) * g * g;
        w[i] -= (lrT * m[i]) / (Math.sqrt(v[i]) + eps);
      });
      assertRelative(mine[t - 1], w, `step ${t}`);
    }
    // PyTorch's form, lr·m̂/(√v̂ + ε) with ε 1e-8 (tf.train.adam's too, with its ε): ours is that
    // form with ε/√(1 − β₂ᵗ) in place of ε, 3.2e-6 at step 1. So a first gradient of 1e-6 moves
    // lr·g/(g + 3.2e-6) = 0.240·lr here against lr·g/(g + 1e-8) = 0.990·lr in PyTorch: 0.243×.
    const torchFirst = (lr * 1e-6) / (1e-6 + 1e-8);
    const ratio = Math.abs(mine[0][0]) / torchFirst;
    assert.ok(Math.abs(ratio - 0.2427) < 1e-3, `first step at 1e-6 is ${ratio} of PyTorch's`);
  });
});

describe('optimizer getState/setState', () => {
  before(useWasmBackend);

  for (const { name, own } of CASES) {
    test(`${name}: a restored optimizer continues exactly like the original`, () => {
      const original = makeVars();
      const first = own();
      for (let i = 0; i < 3; i++) ownStep(first, original);

      // What a checkpoint keeps: a deep copy, so nothing can alias live tensors.
      const live = first.getState();
      const state = structuredClone(live);
      const snapshot = values(original);
      assert.equal(state.step, 3);

      const resumed = makeVars(snapshot);
      const second = own();
      second.setState(state);
      // Read back before any step: the restored slots are reported unchanged.
      assert.deepEqual(second.getState(), state);

      for (let i = 0; i < 2; i++) {
        ownStep(first, original);
        ownStep(second, resumed);
      }
      const a = values(original);
      const b = values(resumed);
      for (const key of KEYS) assert.deepEqual(b[key], a[key], `${key} after resume (bitwise)`);
      assert.deepEqual(second.getState(), first.getState());

      // The state read at step 3 is a snapshot: later steps did not write into it.
      assert.deepEqual(live, state);
      first.dispose();
      second.dispose();
      disposeVars(original, resumed);
    });
  }

  test('Adam: the resume test can fail — dropping the slots or the step count changes the result', () => {
    const original = makeVars();
    const first = new Adam(0.1);
    for (let i = 0; i < 3; i++) ownStep(first, original);
    const state = structuredClone(first.getState());
    assert.deepEqual(Object.keys(state.slots).sort(), [
      'layer/bias#m',
      'layer/bias#v',
      'layer/kernel#m',
      'layer/kernel#v',
    ]);
    const snapshot = values(original);
    for (let i = 0; i < 2; i++) ownStep(first, original);
    const expected = values(original);

    for (const broken of [
      { ...state, step: 0 },
      { ...state, slots: {} },
    ]) {
      const vars = makeVars(snapshot);
      const optimizer = new Adam(0.1);
      optimizer.setState(broken);
      for (let i = 0; i < 2; i++) ownStep(optimizer, vars);
      assert.notDeepEqual(values(vars).kernel, expected.kernel);
      optimizer.dispose();
      disposeVars(vars);
    }
    first.dispose();
    disposeVars(original);
  });
});
