import type { Pruner } from '../schemas/search.schema';

/**
 * Pruning decisions from the per-epoch objective of every trial ("curves", lower is better),
 * pure: the coordinator passes the curves it has read from the trials' metrics lists and the
 * epochs already judged, and gets back whether to stop the trial.
 */

export interface CurveOfTrial {
  trial: number;
  /** The objective after each epoch, as a loss (lower is better); index 0 is epoch 1. */
  curve: readonly number[];
}

export interface PruneDecision {
  /** Set when the trial should stop: the epoch (rung) at which it lost. */
  prunedAtEpoch?: number;
  /** The last epoch judged now (judge from the next one on the next call). */
  judgedThrough: number;
}

/** ASHA's rungs: grace·η^k epochs, below the trial's last epoch (the last epoch is no rung). */
export function ashaRungs(gracePeriod: number, reductionFactor: number, maxEpochs: number): number[] {
  const rungs: number[] = [];
  for (let r = gracePeriod; r < maxEpochs; r *= reductionFactor) rungs.push(r);
  return rungs;
}

/**
 * Judges `trial` at every epoch it has reached since `judgedThrough`. ASHA (Li et al. 2020,
 * asynchronous successive halving as Optuna's SuccessiveHalvingPruner does it): at a rung the
 * trial continues only if its loss there is among the best ⌊n/η⌋ of the n trials that have
 * reached the rung so far, itself included; while n < η it must be the best of them (the first
 * trial at a rung always continues). Median: from `warmupEpochs` on, once at least `minTrials`
 * other trials have reached the epoch, stop when the trial's loss is worse than their median.
 */
export function judge(
  pruner: Pruner,
  trial: CurveOfTrial,
  all: readonly CurveOfTrial[],
  judgedThrough: number,
  maxEpochs: number,
): PruneDecision {
  const reached = trial.curve.length;
  if (pruner.type === 'none' || reached <= judgedThrough) return { judgedThrough: Math.max(judgedThrough, reached) };
  if (pruner.type === 'asha') {
    for (const rung of ashaRungs(pruner.gracePeriod, pruner.reductionFactor, maxEpochs)) {
      if (rung <= judgedThrough || rung > reached) continue;
      const competing = all
        .filter((t) => t.curve.length >= rung)
        .map((t) => t.curve[rung - 1])
        .sort((a, b) => a - b);
      if (!competing.length) continue;
      const promotable = Math.max(Math.floor(competing.length / pruner.reductionFactor) - 1, 0);
      if (trial.curve[rung - 1] > competing[promotable]) return { prunedAtEpoch: rung, judgedThrough: rung };
    }
    return { judgedThrough: reached };
  }
  for (
    let epoch = Math.max(judgedThrough + 1, pruner.warmupEpochs + 1);
    epoch <= Math.min(reached, maxEpochs - 1);
    epoch++
  ) {
    const others = all.filter((t) => t.trial !== trial.trial && t.curve.length >= epoch).map((t) => t.curve[epoch - 1]);
    if (others.length < pruner.minTrials) return { judgedThrough: epoch - 1 };
    if (trial.curve[epoch - 1] > median(others)) return { prunedAtEpoch: epoch, judgedThrough: epoch };
  }
  return { judgedThrough: reached };
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
