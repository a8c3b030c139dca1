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
  /** Keyed `${param name}#${slot kind}`, e.g. "output/dense/bias#m". */
  slots: Record<string, Float32Array>;
}

export interface Optimizer {
  /** Read at every step, so a schedule may change it between steps. */
  learningRate: number;
  /** Applies one update; `grads` is keyed by Param.name. */
  apply(params: Param[], grads: Record<string, tf.Tensor>): void;
  /**
   * The step size the last update gave each value of `param`: the factor that turned its
   * gradient (or gradient estimate) into the step, lr for SGD, lr·√(1 − β₂ᵗ)/(√v + ε) for Adam,
   * lr/√(ms + ε) for RMSprop; a number where it is the same for every value. It is the metric of
   * the optimizer's step, so the proximal L1 step can use the same one (regularization.ts).
   * Call after `apply`, inside a tidy.
   */
  stepSize(param: Param): tf.Tensor | number;
  getState(): OptimizerState;
  setState(state: OptimizerState): void;
  dispose(): void;
}

/** Parameters of at most this many values are updated together (see SlotOptimizer). */
const SMALL_PARAM = 4096;
/** The most values one such group holds. */
const GROUP_LIMIT = 16384;

/**
 * An optimizer whose update is element-wise: new parameter and slot values from the old ones and
 * the gradient, value by value. Each tf op has a fixed cost on top of its work (a few µs on
 * wasm), which dominates for small tensors: a network's biases, gains and shifts would cost as
 * much as its kernels. So parameters of up to SMALL_PARAM values are updated in groups, as one
 * concatenated vector with their slots kept concatenated too; being element-wise, the update
 * gives every value exactly what it gives it alone. Larger parameters are updated one by one
 * (splitting a large vector back into parameters copies it, which costs more than the ops saved).
 * The state is per parameter whatever the grouping.
 */
abstract class SlotOptimizer implements Optimizer {
  protected step = 0;
  /** Slot variables by `${param name}#${kind}`, or `${group key}#${kind}` for a group. */
  private readonly slots = new Map<string, tf.Variable>();
  /** Restored slot values by `${param name}#${kind}`, made into variables on first use. */
  private readonly restored = new Map<string, Float32Array>();
  /** The grouping for the parameter list last seen (rebuilt when the list changes). */
  private layout?: { signature: string; groups: { key: string; names: string[]; sizes: number[] }[] };

  constructor(public learningRate: number) {}

  /** Slot kinds, e.g. ['m', 'v']; each starts at zero. */
  protected abstract readonly slotKinds: readonly string[];

  /** One element-wise update at this.step: new parameter values and new slot values. */
  protected abstract update(w: tf.Tensor, g: tf.Tensor, slots: tf.Tensor[]): { w: tf.Tensor; slots: tf.Tensor[] };

  /** The per-value step size of the update at this.step, from the slots that update wrote. */
  protected abstract stepSizeFrom(slots: tf.Tensor[]): tf.Tensor | number;

  stepSize(param: Param): tf.Tensor | number {
    if (this.slotKinds.length === 0) return this.stepSizeFrom([]);
    const group = this.layout?.groups.find((g) => g.names.includes(param.name));
    if (!group) throw new Error(`${param.name} was not updated by the last step`);
    const slots = this.slotKinds.map((kind) => this.slots.get(`${group.key}#${kind}`)!);
    if (group.names.length === 1) return this.stepSizeFrom(slots);
    const index = group.names.indexOf(param.name);
    const offset = group.sizes.slice(0, index).reduce((a, b) => a + b, 0);
    const own = slots.map((slot) => tf.reshape(tf.slice(slot, [offset], [group.sizes[index]]), param.variable.shape));
    return this.stepSizeFrom(own);
  }

  apply(params: Param[], grads: Record<string, tf.Tensor>): void {
    this.step++;
    tf.tidy(() => {
      const present = params.filter((p) => grads[p.name]);
      const byName = new Map(present.map((p) => [p.name, p]));
      for (const group of this.groupsFor(present)) {
        const members = group.names.map((name) => byName.get(name)!);
        if (members.length === 1) {
          const [param] = members;
          const slots = this.slotKinds.map((kind) => this.slot(param.name, kind, [param]));
          const next = this.update(param.variable, grads[param.name], slots);
          next.slots.forEach((value, i) => slots[i].assign(value));
          param.variable.assign(next.w);
          continue;
        }
        const slots = this.slotKinds.map((kind) => this.slot(group.key, kind, members));
        const flat = (tensors: tf.Tensor[]) => tf.concat(tensors.map((t) => tf.reshape(t, [-1])));
        const next = this.update(flat(members.map((p) => p.variable)), flat(members.map((p) => grads[p.name])), slots);
        next.slots.forEach((value, i) => slots[i].assign(value));
        tf.split(next.w, group.sizes).forEach((values, i) => {
          members[i].variable.assign(tf.reshape(values, members[i].variable.shape));
        });
      }
    });
  }

  /**
   * Consecutive small parameters form groups of up to GROUP_LIMIT values; every other parameter
   * is a group of its own. Kept while the parameter list stays the same.
   */
  private groupsFor(params: Param[]): { key: string; names: string[]; sizes: number[] }[] {
    const signature = params.map((p) => `${p.name}:${p.variable.size}`).join('\n');
    if (this.layout?.signature === signature) return this.layout.groups;
    this.ungroupSlots();
    const groups: { key: string; names: string[]; sizes: number[] }[] = [];
    let open: { names: string[]; sizes: number[]; total: number } | null = null;
    const close = () => {
      if (!open) return;
      const key = open.names.length === 1 ? open.names[0] : `group(${open.names.join(',')})`;
      groups.push({ key, names: open.names, sizes: open.sizes });
      open = null;
    };
    for (const { name, variable } of params) {
      if (variable.size > SMALL_PARAM || !this.groupsSmallParams) {
        close();
        groups.push({ key: name, names: [name], sizes: [variable.size] });
        continue;
      }
      if (open && open.total + variable.size > GROUP_LIMIT) close();
      open ??= { names: [], sizes: [], total: 0 };
      open.names.push(name);
      open.sizes.push(variable.size);
      open.total += variable.size;
    }
    close();
    this.layout = { signature, groups };
    return groups;
  }

  /** Whether grouping pays: it adds a concatenation and a split, worth it for longer updates. */
  protected get groupsSmallParams(): boolean {
    return this.slotKinds.length > 0;
  }

  /** The slot of one parameter, or of a group (`members` in order), created on first use. */
  private slot(key: string, kind: string, members: Param[]): tf.Variable {
    const slotKey = `${key}#${kind}`;
    let slot = this.slots.get(slotKey);
    if (!slot) {
      const total = members.reduce((n, p) => n + p.variable.size, 0);
      const values = new Float32Array(total);
      let offset = 0;
      for (const p of members) {
        const saved = this.restored.get(`${p.name}#${kind}`);
        if (saved) values.set(saved, offset);
        this.restored.delete(`${p.name}#${kind}`);
        offset += p.variable.size;
      }
      const shape = members.length === 1 ? members[0].variable.shape : [total];
      slot = tf.variable(tf.tensor(values, shape), false);
      this.slots.set(slotKey, slot);
    }
    return slot;
  }

  /** Each slot variable's values by `${param name}#${kind}`. */
  private slotValues(): Map<string, Float32Array> {
    const out = new Map<string, Float32Array>();
    const groups = new Map((this.layout?.groups ?? []).map((g) => [g.key, g]));
    for (const [slotKey, variable] of this.slots) {
      const hash = slotKey.lastIndexOf('#');
      const key = slotKey.slice(0, hash);
      const kind = slotKey.slice(hash + 1);
      const values = variable.dataSync() as Float32Array;
      const group = groups.get(key);
      if (!group || group.names.length === 1) {
        out.set(slotKey, values);
        continue;
      }
      let offset = 0;
      group.names.forEach((name, i) => {
        out.set(`${name}#${kind}`, values.slice(offset, offset + group.sizes[i]));
        offset += group.sizes[i];
      });
    }
    return out;
  }

  /** Moves every slot back to per-parameter values, to be regrouped on the next step. */
  private ungroupSlots(): void {
    for (const [key, values] of this.slotValues()) this.restored.set(key, values);
    this.disposeSlots();
  }

  getState(): OptimizerState {
    const slots: Record<string, Float32Array> = Object.fromEntries(this.restored);
    for (const [key, values] of this.slotValues()) slots[key] = values;
    return { step: this.step, slots };
  }

  setState(state: OptimizerState): void {
    this.dispose();
    this.step = state.step;
    for (const [key, values] of Object.entries(state.slots)) this.restored.set(key, values);
  }

  private disposeSlots(): void {
    for (const variable of this.slots.values()) variable.dispose();
    this.slots.clear();
    this.layout = undefined;
  }

  dispose(): void {
    this.disposeSlots();
    this.restored.clear();
  }
}

export class Sgd extends SlotOptimizer {
  protected readonly slotKinds = [] as const;

  protected update(w: tf.Tensor, g: tf.Tensor): { w: tf.Tensor; slots: tf.Tensor[] } {
    return { w: tf.sub(w, tf.mul(g, this.learningRate)), slots: [] };
  }

  protected stepSizeFrom(): number {
    return this.learningRate;
  }
}

/**
 * Adam as Keras 3 writes it: m, v the moving averages of g and g² (β₁ 0.9, β₂ 0.999), and
 * w ← w − lr_t·m/(√v + ε) with lr_t = lr·√(1 − β₂ᵗ)/(1 − β₁ᵗ), ε = 1e-7 outside the root. PyTorch
 * (ε 1e-8) and tf.train.adam add ε to √v̂ instead (v̂ = v/(1 − β₂ᵗ)): ours is their form with
 * ε/√(1 − β₂ᵗ) for ε, 3.2e-6 at step 1 falling towards 1e-7, so in the first steps gradients
 * below ~1e-5 move less than in PyTorch (a first gradient of 1e-6: 0.24× PyTorch's step); above
 * that the two agree.
 */
export class Adam extends SlotOptimizer {
  protected readonly slotKinds = ['m', 'v'] as const;

  constructor(
    learningRate: number,
    readonly beta1 = 0.9,
    readonly beta2 = 0.999,
    readonly epsilon = 1e-7,
  ) {
    super(learningRate);
  }

  protected update(w: tf.Tensor, g: tf.Tensor, [mSlot, vSlot]: tf.Tensor[]): { w: tf.Tensor; slots: tf.Tensor[] } {
    const t = this.step;
    const lr = (this.learningRate * Math.sqrt(1 - this.beta2 ** t)) / (1 - this.beta1 ** t);
    const m = tf.add(tf.mul(mSlot, this.beta1), tf.mul(g, 1 - this.beta1));
    const v = tf.add(tf.mul(vSlot, this.beta2), tf.mul(tf.square(g), 1 - this.beta2));
    return { w: tf.sub(w, tf.div(tf.mul(m, lr), tf.add(tf.sqrt(v), this.epsilon))), slots: [m, v] };
  }

  /**
   * lr·√(1 − β₂ᵗ)/(√v + ε): the update is this times m/(1 − β₁ᵗ), the bias-corrected gradient
   * estimate; in PyTorch's notation lr/(√v̂ + ε′), the preconditioner of Adam's step.
   */
  protected stepSizeFrom([, v]: tf.Tensor[]): tf.Tensor {
    const scale = this.learningRate * Math.sqrt(1 - this.beta2 ** this.step);
    return tf.div(scale, tf.add(tf.sqrt(v), this.epsilon));
  }
}

/**
 * RMSprop as Keras 3, tf.train.rmsprop and TensorFlow's ApplyRMSProp kernel write it:
 * ms ← ρ·ms + (1 − ρ)·g², w ← w − lr·g/√(ms + ε), ρ 0.9, ε 1e-7 inside the root. PyTorch's
 * torch.optim.RMSprop adds ε outside (lr·g/(√ms + ε), ε 1e-8, α = ρ 0.99). Inside, because ε's
 * default means something only with its placement and these are Keras' defaults, and because it
 * keeps the step proportional to the gradient for gradients far below √ε ≈ 3.2e-4: with 1e-7
 * outside, a gradient of 1e-5 (e.g. a weight of a pure-noise input) got a step 40–100× larger,
 * ~3·lr, nearly the step of a gradient of 1. Above ~1e-2 the two conventions agree.
 */
export class RmsProp extends SlotOptimizer {
  protected readonly slotKinds = ['ms'] as const;

  constructor(
    learningRate: number,
    readonly rho = 0.9,
    readonly epsilon = 1e-7,
  ) {
    super(learningRate);
  }

  protected update(w: tf.Tensor, g: tf.Tensor, [slot]: tf.Tensor[]): { w: tf.Tensor; slots: tf.Tensor[] } {
    const ms = tf.add(tf.mul(slot, this.rho), tf.mul(tf.square(g), 1 - this.rho));
    return {
      w: tf.sub(w, tf.div(tf.mul(g, this.learningRate), tf.sqrt(tf.add(ms, this.epsilon)))),
      slots: [ms],
    };
  }

  /** lr/√(ms + ε): the update is this times g. */
  protected stepSizeFrom([ms]: tf.Tensor[]): tf.Tensor {
    return tf.div(this.learningRate, tf.sqrt(tf.add(ms, this.epsilon)));
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
