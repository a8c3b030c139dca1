import type { LearningRateScheduleSpec } from './spec';

/** ReduceLROnPlateau's state: plain data, saved in checkpoints. */
export interface PlateauState {
  learningRate: number;
  /** The best monitored value so far; null before the first epoch. */
  best: number | null;
  /** Epochs in a row without improvement (not counted during cooldown). */
  badEpochs: number;
  /** Epochs of cooldown left. */
  cooldown: number;
}

/** The part of a schedule that is not a function of the step: only reduce-on-plateau has any. */
export interface LearningRateScheduleState {
  plateau?: PlateauState;
}

/** How long the run is, in the units the schedules count in. */
export interface ScheduleRun {
  epochs: number;
  /** Optimizer steps in one epoch. */
  stepsPerEpoch: number;
}

/** torch's ReduceLROnPlateau eps: a reduction smaller than this is not made. */
const PLATEAU_EPS = 1e-8;

/**
 * The learning rate of every optimizer step, following PyTorch's schedulers (the README lists
 * each formula): `step` and `reduce-on-plateau` change the rate between epochs, `cosine` and
 * `one-cycle` at every step. A run's step t (from 0) in epoch e (from 0) uses `rateAt(t, e)`;
 * after each epoch, `endEpoch` shows reduce-on-plateau the epoch's metrics.
 */
export class LearningRateSchedule {
  private plateau?: PlateauState;
  private readonly totalSteps: number;

  constructor(
    readonly spec: LearningRateScheduleSpec,
    private readonly baseRate: number,
    private readonly run: ScheduleRun,
  ) {
    this.totalSteps = Math.max(1, run.epochs * run.stepsPerEpoch);
    if (spec.type === 'reduce-on-plateau')
      this.plateau = { learningRate: baseRate, best: null, badEpochs: 0, cooldown: 0 };
  }

  rateAt(step: number, epoch: number): number {
    const spec = this.spec;
    // Never past the last planned step, should the run take more steps than planned.
    const t = Math.min(step, this.totalSteps - 1);
    switch (spec.type) {
      case 'step':
        return this.baseRate * spec.gamma ** Math.floor(epoch / spec.stepSize);
      case 'cosine': {
        const warmup = spec.warmupSteps ?? (spec.warmupEpochs ?? 0) * this.run.stepsPerEpoch;
        if (t < warmup) return (this.baseRate * (t + 1)) / warmup;
        const progress = (t - warmup) / (this.totalSteps - warmup);
        return spec.minLearningRate + ((this.baseRate - spec.minLearningRate) * (1 + Math.cos(Math.PI * progress))) / 2;
      }
      case 'one-cycle':
        return oneCycleRate(spec, spec.maxLearningRate ?? this.baseRate, this.totalSteps, t);
      case 'reduce-on-plateau':
        return this.plateau!.learningRate;
    }
  }

  /**
   * reduce-on-plateau: one epoch's value of the monitor (torch's `scheduler.step(metric)`); a
   * missing or NaN value counts as no improvement, as in torch. Other schedules ignore it.
   */
  endEpoch(metrics: { valLoss?: number; valAccuracy?: number; valMae?: number }): void {
    if (this.spec.type !== 'reduce-on-plateau') return;
    const spec = this.spec;
    const state = this.plateau!;
    const value = metrics[spec.monitor] ?? NaN;
    if (this.isBetter(value, state.best)) {
      state.best = value;
      state.badEpochs = 0;
    } else {
      state.badEpochs++;
    }
    if (state.cooldown > 0) {
      state.cooldown--;
      state.badEpochs = 0;
    }
    if (state.badEpochs > spec.patience) {
      const reduced = Math.max(state.learningRate * spec.factor, spec.minLearningRate);
      if (state.learningRate - reduced > PLATEAU_EPS) state.learningRate = reduced;
      state.cooldown = spec.cooldown;
      state.badEpochs = 0;
    }
  }

  private isBetter(value: number, best: number | null): boolean {
    if (this.spec.type !== 'reduce-on-plateau') return false;
    if (best === null) return !Number.isNaN(value);
    const { threshold, thresholdMode, monitor } = this.spec;
    if (monitor === 'valAccuracy') {
      return thresholdMode === 'rel' ? value > best * (1 + threshold) : value > best + threshold;
    }
    return thresholdMode === 'rel' ? value < best * (1 - threshold) : value < best - threshold;
  }

  get state(): LearningRateScheduleState {
    return this.plateau ? { plateau: { ...this.plateau } } : {};
  }

  set state(state: LearningRateScheduleState) {
    if (this.plateau && state.plateau) this.plateau = { ...state.plateau };
  }
}

/**
 * OneCycleLR with anneal_strategy "cos" and two phases: from max/divFactor up to max over the
 * first pctStart·T − 1 steps, then down to max/(divFactor·finalDivFactor) at step T − 1; the
 * phase boundary is fractional, as in torch.
 */
function oneCycleRate(
  spec: Extract<LearningRateScheduleSpec, { type: 'one-cycle' }>,
  maxRate: number,
  totalSteps: number,
  t: number,
): number {
  const initial = maxRate / spec.divFactor;
  const final = initial / spec.finalDivFactor;
  const peakStep = spec.pctStart * totalSteps - 1;
  const anneal = (start: number, end: number, pct: number) => end + ((start - end) / 2) * (Math.cos(Math.PI * pct) + 1);
  // A phase of length 0 (torch divides by zero there) is taken as already finished.
  const share = (from: number, to: number) => (to > from ? (t - from) / (to - from) : 1);
  if (t <= peakStep) return anneal(initial, maxRate, share(0, peakStep));
  return anneal(maxRate, final, share(peakStep, totalSteps - 1));
}
