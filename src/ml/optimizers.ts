import * as tf from '@tensorflow/tfjs';
import type { Param } from './layers/layer';

/**
 * The service's own optimizers rather than tf.train's: their whole state (step count and slot
 * tensors per parameter name) can be read out for a checkpoint and restored exactly, and the
 * update is ordinary tf ops, so proximal and decoupled-decay steps can follow it.
 * Hyper-parameters follow Keras' defaults.
 */
export interface OptimizerState {
  step: number;
  slots: Record<string, Float32Array>;
}

export interface Optimizer {
  readonly learningRate: number;
  /** Applies one update; `grads` is keyed by Param.name. */
  apply(params: Param[], grads: Record<string, tf.Tensor>): void;
  getState(): OptimizerState;
  setState(state: OptimizerState): void;
  dispose(): void;
}

abstract class SlotOptimizer implements Optimizer {
  protected step = 0;
  private readonly slots = new Map<string, tf.Variable>();
  /** Restored slot values, turned into variables of the parameter's shape on first use. */
  private readonly restored = new Map<string, Float32Array>();

  constructor(readonly learningRate: number) {}

  abstract apply(params: Param[], grads: Record<string, tf.Tensor>): void;

  protected slot(param: Param, kind: string): tf.Variable {
    const key = `${param.name}#${kind}`;
    let slot = this.slots.get(key);
    if (!slot) {
      const saved = this.restored.get(key);
      slot = tf.variable(
        saved ? tf.tensor(saved, param.variable.shape) : tf.zerosLike(param.variable),
        false,
      );
      this.restored.delete(key);
      this.slots.set(key, slot);
    }
    return slot;
  }

  getState(): OptimizerState {
    const slots: Record<string, Float32Array> = Object.fromEntries(this.restored);
    for (const [key, variable] of this.slots) slots[key] = variable.dataSync() as Float32Array;
    return { step: this.step, slots };
  }

  setState(state: OptimizerState): void {
    this.dispose();
    this.step = state.step;
    for (const [key, values] of Object.entries(state.slots)) this.restored.set(key, values);
  }

  dispose(): void {
    for (const variable of this.slots.values()) variable.dispose();
    this.slots.clear();
    this.restored.clear();
  }
}

export class Sgd extends SlotOptimizer {
  apply(params: Param[], grads: Record<string, tf.Tensor>): void {
    this.step++;
    tf.tidy(() => {
      for (const param of params) {
        const g = grads[param.name];
        if (g) param.variable.assign(tf.sub(param.variable, tf.mul(g, this.learningRate)));
      }
    });
  }
}

export class Adam extends SlotOptimizer {
  constructor(
    learningRate: number,
    readonly beta1 = 0.9,
    readonly beta2 = 0.999,
    readonly epsilon = 1e-7,
  ) {
    super(learningRate);
  }

  apply(params: Param[], grads: Record<string, tf.Tensor>): void {
    this.step++;
    const t = this.step;
    const lr = (this.learningRate * Math.sqrt(1 - this.beta2 ** t)) / (1 - this.beta1 ** t);
    tf.tidy(() => {
      for (const param of params) {
        const g = grads[param.name];
        if (!g) continue;
        const mSlot = this.slot(param, 'm');
        const vSlot = this.slot(param, 'v');
        const m = tf.add(tf.mul(mSlot, this.beta1), tf.mul(g, 1 - this.beta1));
        const v = tf.add(tf.mul(vSlot, this.beta2), tf.mul(tf.square(g), 1 - this.beta2));
        mSlot.assign(m);
        vSlot.assign(v);
        param.variable.assign(tf.sub(param.variable, tf.div(tf.mul(m, lr), tf.add(tf.sqrt(v), this.epsilon))));
      }
    });
  }
}

export class RmsProp extends SlotOptimizer {
  constructor(
    learningRate: number,
    readonly rho = 0.9,
    readonly epsilon = 1e-7,
  ) {
    super(learningRate);
  }

  apply(params: Param[], grads: Record<string, tf.Tensor>): void {
    this.step++;
    tf.tidy(() => {
      for (const param of params) {
        const g = grads[param.name];
        if (!g) continue;
        const slot = this.slot(param, 'ms');
        const ms = tf.add(tf.mul(slot, this.rho), tf.mul(tf.square(g), 1 - this.rho));
        slot.assign(ms);
        param.variable.assign(
          tf.sub(param.variable, tf.div(tf.mul(g, this.learningRate), tf.add(tf.sqrt(ms), this.epsilon))),
        );
      }
    });
  }
}

export function createOptimizer(name: 'adam' | 'sgd' | 'rmsprop', learningRate: number): Optimizer {
  switch (name) {
    case 'adam':
      return new Adam(learningRate);
    case 'sgd':
      return new Sgd(learningRate);
    case 'rmsprop':
      return new RmsProp(learningRate);
  }
}
