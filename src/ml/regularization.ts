import * as tf from '@tensorflow/tfjs';
import type { Param } from './layers/layer';
import type { LayerRegularizationSpec, RegularizationSpec } from './spec';

/** The penalties that apply to one kernel. */
export interface KernelPenalties {
  l1: number;
  l2: number;
  weightDecay: number;
}

/** Per-kernel penalties: the global ones, overridden by a hidden layer's own. */
export interface RegularizationPlan {
  l1Mode: RegularizationSpec['l1Mode'];
  kernels: { param: Param; penalties: KernelPenalties }[];
}

/**
 * Resolves which penalties apply to which kernel. Only kernels are ever listed: biases,
 * normalization gains/shifts and scales shift or rescale every input alike, so penalizing them
 * does little against overfitting (concepts.md). `layerOverrides[i]` belongs to the kernels whose
 * name starts with `hidden{i}/`; the output layer takes the global values.
 */
export function planRegularization(
  kernels: Param[],
  global: RegularizationSpec,
  layerOverrides: (LayerRegularizationSpec | undefined)[] = [],
): RegularizationPlan {
  return {
    l1Mode: global.l1Mode,
    kernels: kernels.map((param) => {
      if (param.role !== 'kernel') throw new Error(`${param.name} is not a kernel and is never penalized`);
      const layer = /^hidden(\d+)\//.exec(param.name);
      const own = layer ? layerOverrides[Number(layer[1])] : undefined;
      return {
        param,
        penalties: {
          l1: own?.l1 ?? global.l1,
          l2: own?.l2 ?? global.l2,
          weightDecay: own?.weightDecay ?? global.weightDecay,
        },
      };
    }),
  };
}

/**
 * The penalty term Σ α₁·|w| + α₂·w² over kernels. With `includeL1` false (the proximal modes)
 * the L1 part is left out: it is applied by `applyPostStep` after the optimizer step instead.
 */
export function penaltyTerm(plan: RegularizationPlan, options: { includeL1: boolean }): tf.Scalar {
  let total: tf.Scalar = tf.scalar(0);
  for (const { param, penalties } of plan.kernels) {
    if (options.includeL1 && penalties.l1 > 0) {
      total = tf.add(total, tf.mul(tf.sum(tf.abs(param.variable)), penalties.l1));
    }
    if (penalties.l2 > 0) total = tf.add(total, tf.mul(tf.sum(tf.square(param.variable)), penalties.l2));
  }
  return total;
}

/**
 * Adds the gradient of `penaltyTerm(plan, options)` to each kernel's entry of `grads` (keyed by
 * parameter name), in closed form: 2·α₂·w, and α₁·step(w, −1) for L1 — tf's gradient of |w|,
 * which takes −1 at w = 0. The same numbers as differentiating the penalty term with tf, without
 * the ops that compute its value.
 */
export function addPenaltyGradients(
  plan: RegularizationPlan,
  grads: Record<string, tf.Tensor>,
  options: { includeL1: boolean },
): void {
  for (const { param, penalties } of plan.kernels) {
    const { name, variable } = param;
    if (penalties.l2 > 0) grads[name] = tf.add(grads[name], tf.mul(variable, 2 * penalties.l2));
    if (options.includeL1 && penalties.l1 > 0) {
      grads[name] = tf.add(grads[name], tf.mul(tf.step(variable, -1), penalties.l1));
    }
  }
}

/** α₁·Σ|w| + α₂·Σw² with one global pair, for callers without a plan. */
export function kernelPenalty(kernels: Param[], reg: { l1: number; l2: number }): tf.Scalar {
  return penaltyTerm(planRegularization(kernels, { l1: reg.l1, l2: reg.l2, l1Mode: 'subgradient', weightDecay: 0 }), {
    includeL1: true,
  });
}

/** The per-value step size of the optimizer's last update of a parameter (Optimizer.stepSize). */
export type StepSize = (param: Param) => tf.Tensor | number;

/**
 * Steps that follow the optimizer's, on kernels only: decoupled weight decay (AdamW),
 * θ ← θ − lr·λ·θ, then soft-thresholding for proximal L1, w ← sign(w)·max(|w| − τ·α₁, 0), which
 * puts weights at exactly zero. τ is the step the optimizer just took in each value's own units:
 *
 * - `proximal` (default): τ = `stepSize(param)`, the optimizer's per-value step size: lr for
 *   SGD, lr·√(1 − β₂ᵗ)/(√v + ε) for Adam, lr/√(ms + ε) for RMSprop. The proximal gradient step
 *   for J0 + α₁·Σ|w| in the metric the optimizer steps in (w ← prox(w − D·g) with D the
 *   per-value step size, whose threshold is D·α₁): with SGD it is concepts.md's lr·α₁; with an
 *   adaptive optimizer, whose steps are about lr per value whatever the gradient's scale, a
 *   threshold of lr·α₁ is a rounding error beside them and L1 does next to nothing.
 * - `proximal-lr`: τ = lr for every optimizer (the plain formula whatever the optimizer).
 *
 * `stepSize` is read after the optimizer's update, inside the caller's tidy.
 */
export function applyPostStep(plan: RegularizationPlan, learningRate: number, stepSize: StepSize): void {
  tf.tidy(() => {
    for (const { param, penalties } of plan.kernels) {
      let w: tf.Tensor = param.variable;
      let changed = false;
      if (penalties.weightDecay > 0) {
        w = tf.mul(w, 1 - learningRate * penalties.weightDecay);
        changed = true;
      }
      if (plan.l1Mode !== 'subgradient' && penalties.l1 > 0) {
        const step = plan.l1Mode === 'proximal' ? stepSize(param) : learningRate;
        const threshold = typeof step === 'number' ? step * penalties.l1 : tf.mul(step, penalties.l1);
        w = tf.mul(tf.sign(w), tf.relu(tf.sub(tf.abs(w), threshold)));
        changed = true;
      }
      if (changed) param.variable.assign(w);
    }
  });
}

/** ‖all kernels‖₂, reported per epoch: weights tend to grow with training time. */
export function kernelNorm(kernels: Param[]): number {
  return tf.tidy(() => {
    let total: tf.Scalar = tf.scalar(0);
    for (const param of kernels) total = tf.add(total, tf.sum(tf.square(param.variable)));
    return Math.sqrt(total.dataSync()[0]);
  });
}
