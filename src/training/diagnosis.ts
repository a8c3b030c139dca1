import type { EpochMetrics, VERDICTS } from '../schemas/api.schema';
import type { TrainingRequest } from '../schemas/training-request.schema';
import { CONTINUOUS_TARGET, looksContinuous, type TargetFacts } from './trainable';

/**
 * Under- or overfitting, judged from a finished run's curves (concepts.md, "Under- and
 * overfitting" and "A verdict needs evidence beyond noise"): underfitting when even the training
 * error stays high; overfitting when the validation curve turned while the training loss kept
 * falling, or when the gap is large and large against the uncertainty of the validation
 * estimate. A curve still falling at the last epoch is not overfit, and a validation set too
 * small to tell is said to be so. The thresholds are named here and documented in the README
 * ("Diagnosis"); the unit tests feed hand-made curves through each rule, and the labelled suite
 * (test/training/diagnosis-suite.test.ts) real runs.
 */
export const DIAGNOSIS_THRESHOLDS = {
  /**
   * Underfit when the kept model's training loss is at least this share of the trivial
   * predictor's loss (class entropy, or 1.0 = the standardized target's variance): the network
   * removes less than 40 % of what a constant prediction gets wrong, on the rows it trains on.
   */
  underfitTrainLossShare: 0.6,
  /** A gap counts as large when it is at least this share of the validation loss (val ≥ 1.5 × train)… */
  overfitRelativeGap: 1 / 3,
  /** …and at least this share of the baseline loss, so that a tiny gap on tiny losses is no alarm… */
  overfitGapShareOfBaseline: 0.1,
  /** …and at least this many standard errors of the validation loss: beyond noise (≈ 95 %). */
  gapStdErrors: 2,
  /** A turn: validation loss rose at least this much (relative) from its lowest to the kept epoch… */
  overfitValRise: 0.1,
  /**
   * …and by at least this many times the curve's own jitter (see `jitter`). Not against the
   * standard error: the validation rows are the same every epoch, so their sampling noise is
   * common to all epochs and mostly cancels in a rise; what does not cancel is the epoch-to-epoch
   * jitter, and the lowest of a jittery curve sits about 2 jitters below its level, hence 5.
   */
  riseJitters: 5,
  /** A curve is "still improving" when its last value is more than this (relative) below its value a window earlier… */
  stillImprovingDrop: 0.01,
  /** …and more than this many times its jitter (a flat, jittery curve drops that far about 5 % of the time). */
  improvingJitters: 2.5,
  /** The window: this share of the epochs run, at least 2 epochs. A turn must be older than the window, too. */
  stillImprovingWindowShare: 0.1,
  /** Inconclusive with fewer validation rows than this: their spread says too little about the noise. */
  minValidationRows: 10,
  /**
   * Inconclusive, too, when nothing is beyond noise and the validation loss is known only to
   * ±2 standard errors wider than this share of the baseline loss: a good fit and an overfit one
   * would look alike.
   */
  inconclusiveUncertaintyShare: 0.25,
  /** Regularization counts as heavy when the penalty is at least this share of the training loss… */
  heavyPenaltyShare: 0.25,
  /** …or a dropout rate is at least this. */
  heavyDropout: 0.4,
} as const;

/** `overfit`, `underfit`, `good-fit`, `still-improving`, `inconclusive`, `wrong-task` (README, "Diagnosis"). */
export type Verdict = (typeof VERDICTS)[number];

/**
 * The metrics the rules read. `trainLoss` (inference mode) may be missing from metrics stored
 * before it existed; the training-mode loss is then used, under its new name `trainingModeLoss`
 * or the old `loss`.
 */
export type DiagnosisEpoch = Omit<EpochMetrics, 'trainLoss' | 'loss' | 'trainingModeLoss'> & {
  trainLoss?: number;
  trainingModeLoss?: number;
  loss?: number;
};

export interface DiagnosisEvidence {
  /** False when the run had no validation rows: the verdict then rests on training error only. */
  hasValidation: boolean;
  epochsRequested: number;
  epochsRun: number;
  /** The epoch whose weights the model keeps: the best epoch when they were restored, else the last. */
  modelEpoch: number;
  /** The best epoch by the early-stopping monitor, when early stopping was on. */
  bestEpoch?: number;
  /** Set when early stopping ended the run before `epochsRequested`. */
  stoppedEpoch?: number;
  /** The epoch with the lowest validation loss: where validation loss stopped improving. */
  valLossBestEpoch?: number;
  bestValLoss?: number;
  /** Where the training loss comes from: inference-mode `trainLoss`, or the training-mode loss of older metrics. */
  trainLossSource: 'trainLoss' | 'trainingModeLoss';
  /** Training data loss of the kept model. */
  trainLoss: number;
  /** Validation data loss of the kept model. */
  valLoss?: number;
  /** The standard error of `valLoss` (see `uncertaintySource`). */
  valLossStdError?: number;
  /** `rows`: per-row loss spread / √(validation rows); `folds`: spread across folds / √folds; `none`: older metrics. */
  uncertaintySource?: 'rows' | 'folds' | 'none';
  /** Validation rows, when the caller knows them. */
  validationRows?: number;
  /** valLoss − trainLoss of the kept model. */
  gap?: number;
  /** gap / valLossStdError: how many standard errors the gap is. */
  gapStdErrors?: number;
  /** gap / valLoss: the share of the validation loss that the training rows do not show. */
  relativeGap?: number;
  /** valLoss − trainLoss at the last epoch run (equals `gap` unless best weights were restored). */
  lastEpochGap?: number;
  /** (kept valLoss − best valLoss) / best valLoss: how far validation loss climbed back. */
  valLossRise?: number;
  /** True when validation loss turned (rules in the README) while the training loss kept falling. */
  valLossTurned?: boolean;
  /** The loss of a trivial predictor (class entropy, or 1 for the standardized target). */
  baselineLoss: number;
  /** Where the baseline came from: given by the caller, or the first epoch's training loss. */
  baselineSource: 'given' | 'first-epoch';
  /** trainLoss / baselineLoss. */
  trainLossVsBaseline: number;
  /** Training loss still falling at the last epoch (more than 1 % below its value a window earlier). */
  trainStillImproving: boolean;
  /** Validation loss still falling at the last epoch, likewise. */
  valStillImproving?: boolean;
  /** The target, when the caller knows it: distinct values and rows (for `wrong-task`). */
  target?: TargetFacts;
  accuracy?: number;
  valAccuracy?: number;
  mae?: number;
  valMae?: number;
  /** The rules that decided the verdict, in words. */
  reasons: string[];
}

export interface Diagnosis {
  verdict: Verdict;
  evidence: DiagnosisEvidence;
  /** Remedies from concepts.md that apply to this run and request, most fundamental first. */
  suggestions: string[];
}

export interface DiagnosisInput {
  request: TrainingRequest;
  metrics: readonly DiagnosisEpoch[];
  /** Best epoch by the early-stopping monitor (1-based). */
  bestEpoch?: number;
  /** Set when early stopping ended the run before `epochs`. */
  stoppedEpoch?: number;
  /** Whether the model keeps the best epoch's weights; inferred from the request when absent. */
  restoredBestWeights?: boolean;
  warnings: string[];
  /** Loss of a trivial predictor: training class entropy, or 1.0 for the standardized target. */
  baselineLoss?: number;
  /** Rows per part of the split, when known; `validation` feeds the too-small rule. */
  rows?: { train: number; validation: number; test?: number };
  /** The target column's facts, when known; a classification target that looks continuous is `wrong-task`. */
  target?: TargetFacts;
  /**
   * The hook for cross-validation (not in the service yet): the kept model's validation loss in
   * each fold. With two or more, the uncertainty of the validation estimate is their spread,
   * standard deviation / √folds, instead of the per-row standard error of one split.
   */
  foldValLosses?: readonly number[];
}

const T = DIAGNOSIS_THRESHOLDS;

export function diagnose(input: DiagnosisInput): Diagnosis {
  const { request, metrics } = input;
  const epochsRequested = request.training.epochs;
  if (metrics.length === 0) {
    return {
      verdict: 'inconclusive',
      evidence: {
        hasValidation: false,
        epochsRequested,
        epochsRun: 0,
        modelEpoch: 0,
        trainLossSource: 'trainLoss',
        trainLoss: Number.NaN,
        baselineLoss: input.baselineLoss ?? Number.NaN,
        baselineSource: input.baselineLoss === undefined ? 'first-epoch' : 'given',
        trainLossVsBaseline: Number.NaN,
        trainStillImproving: false,
        reasons: ['no epoch finished: there is nothing to judge yet'],
      },
      suggestions: [`Train for at least one epoch (training.epochs is ${epochsRequested}).`],
    };
  }

  const trainLossSource = metrics.every((m) => typeof m.trainLoss === 'number') ? 'trainLoss' : 'trainingModeLoss';
  const trainLossOf = (m: DiagnosisEpoch): number =>
    trainLossSource === 'trainLoss' ? m.trainLoss! : (m.trainingModeLoss ?? m.loss ?? Number.NaN);
  const hasValidation = metrics.every((m) => typeof m.valLoss === 'number');
  const last = metrics[metrics.length - 1];
  const restored =
    input.restoredBestWeights ??
    (input.bestEpoch !== undefined && request.training.earlyStopping?.restoreBestWeights === true);
  const modelEpoch =
    restored && input.bestEpoch !== undefined && input.bestEpoch >= 1 && input.bestEpoch <= metrics.length
      ? input.bestEpoch
      : last.epoch;
  const kept = metrics.find((m) => m.epoch === modelEpoch) ?? last;
  const stopped = input.stoppedEpoch !== undefined;

  const baselineSource = input.baselineLoss !== undefined && input.baselineLoss > 0 ? 'given' : 'first-epoch';
  const baselineLoss = baselineSource === 'given' ? input.baselineLoss! : Math.max(trainLossOf(metrics[0]), 1e-12);
  const trainLoss = trainLossOf(kept);
  const trainLossVsBaseline = trainLoss / baselineLoss;
  const window = Math.max(2, Math.ceil(metrics.length * T.stillImprovingWindowShare));
  const trainStillImproving = stillImproving(metrics.map(trainLossOf), window);

  const evidence: DiagnosisEvidence = {
    hasValidation,
    epochsRequested,
    epochsRun: metrics.length,
    modelEpoch,
    ...(input.bestEpoch !== undefined ? { bestEpoch: input.bestEpoch } : {}),
    ...(input.stoppedEpoch !== undefined ? { stoppedEpoch: input.stoppedEpoch } : {}),
    trainLossSource,
    trainLoss,
    baselineLoss,
    baselineSource,
    trainLossVsBaseline,
    trainStillImproving,
    ...(input.target ? { target: { ...input.target } } : {}),
    ...pick(kept, ['accuracy', 'valAccuracy', 'mae', 'valMae']),
    reasons: [],
  };
  const reasons = evidence.reasons;
  const trainHigh = trainLossVsBaseline >= T.underfitTrainLossShare;
  const trainHighReason =
    `training loss ${fmt(trainLoss)} is ${pct(trainLossVsBaseline)} of the baseline loss ` +
    `${fmt(baselineLoss)} of a trivial predictor (underfit from ${pct(T.underfitTrainLossShare)})`;

  let verdict: Verdict;
  if (request.task === 'classification' && input.target && looksContinuous(input.target)) {
    verdict = 'wrong-task';
    reasons.push(
      `the target looks continuous: ${input.target.distinct} distinct numeric values in ${input.target.rows} rows` +
        `${input.target.nonInteger ? ', not all integers' : ''} (more than ${CONTINUOUS_TARGET.minDistinct}, and ` +
        `${input.target.nonInteger ? 'non-integer' : `more than ${CONTINUOUS_TARGET.distinctPerRow} per row`}): ` +
        `as classes, most values have a row or two, so neither the fit nor the gap means much`,
    );
  } else if (trainHigh && (stopped || !trainStillImproving)) {
    verdict = 'underfit';
    reasons.push(
      trainHighReason +
        (stopped
          ? `, and early stopping ended the run at epoch ${input.stoppedEpoch}`
          : ', and it has stopped falling'),
    );
  } else if (!hasValidation) {
    reasons.push(
      'no validation data (training.validationSplit is 0): the verdict rests on the training error ' +
        'only, and overfitting cannot be seen',
    );
    if (trainStillImproving && !stopped) {
      verdict = 'still-improving';
      reasons.push(
        `the training loss was still falling at epoch ${metrics.length}: ${describeDrop(metrics.map(trainLossOf), window)}`,
      );
    } else {
      verdict = 'good-fit';
      reasons.push(
        `training loss ${fmt(trainLoss)} is ${pct(trainLossVsBaseline)} of the baseline loss ${fmt(baselineLoss)}`,
      );
    }
  } else {
    verdict = judgeValidation();
  }
  return { verdict, evidence, suggestions: suggest(verdict, evidence, input) };

  /** The verdict when the training loss is low enough (or still falling) and there are validation rows. */
  function judgeValidation(): Verdict {
    const valLosses = metrics.map((m) => m.valLoss!);
    let best = 0;
    for (let i = 1; i < valLosses.length; i++) if (valLosses[i] < valLosses[best]) best = i;
    const valLoss = kept.valLoss!;
    const gap = valLoss - trainLoss;
    const relativeGap = valLoss > 0 ? gap / valLoss : 0;
    const valLossRise = (valLoss - valLosses[best]) / Math.max(valLosses[best], 1e-12);
    const valStillImproving = stillImproving(valLosses, window);
    const { stdError, source } = uncertainty(input, kept);
    const validationRows = input.rows?.validation;
    // Without a standard error (older metrics) the noise tests cannot be made: they pass.
    const beyond = (amount: number, errors: number) => stdError === undefined || amount >= errors * stdError;
    const gapMatters = gap >= T.overfitGapShareOfBaseline * baselineLoss;
    const largeGap = gapMatters && relativeGap >= T.overfitRelativeGap && beyond(gap, T.gapStdErrors);
    const bestEpoch = metrics[best].epoch;
    const turned =
      gapMatters &&
      bestEpoch <= modelEpoch - window &&
      valLossRise >= T.overfitValRise &&
      valLoss - valLosses[best] > T.riseJitters * jitter(valLosses.slice(best, modelEpoch)) &&
      trainLoss < trainLossOf(metrics[best]);
    Object.assign(evidence, {
      valLossBestEpoch: bestEpoch,
      bestValLoss: valLosses[best],
      valLoss,
      ...(stdError !== undefined ? { valLossStdError: stdError, gapStdErrors: gap / stdError } : {}),
      uncertaintySource: source,
      ...(validationRows !== undefined ? { validationRows } : {}),
      gap,
      relativeGap,
      lastEpochGap: last.valLoss! - trainLossOf(last),
      valLossRise,
      valLossTurned: turned,
      valStillImproving,
    });
    const known =
      stdError === undefined
        ? ''
        : ` ± ${fmt(2 * stdError)} (2 standard errors, from ${source === 'folds' ? `${input.foldValLosses!.length} folds` : `${validationRows ?? 'the'} validation rows`})`;

    if (validationRows !== undefined && validationRows < T.minValidationRows) {
      reasons.push(
        `only ${validationRows} validation row${validationRows === 1 ? '' : 's'} (fewer than ${T.minValidationRows}): ` +
          `validation loss ${fmt(valLoss)} says too little to tell a good fit from an overfit one`,
      );
      return 'inconclusive';
    }
    if (trainHigh) {
      // High but still falling (the underfit rule waits for it to stop).
      reasons.push(
        `${trainHighReason}, but it was still falling at epoch ${metrics.length}: ${describeDrop(metrics.map(trainLossOf), window)}`,
      );
      return 'still-improving';
    }
    if (valStillImproving && !stopped) {
      reasons.push(
        `validation loss was still falling at epoch ${metrics.length} (${describeDrop(valLosses, window)}): ` +
          `the run ended before the model stopped improving, so it is not overfit`,
      );
      return 'still-improving';
    }
    if (turned || largeGap) {
      if (turned) {
        reasons.push(
          `validation loss turned: lowest at epoch ${bestEpoch} (${fmt(valLosses[best])}), it rose ${pct(valLossRise)} ` +
            `by epoch ${modelEpoch} (${fmt(valLoss)}${known}) while the training loss kept falling ` +
            `(${fmt(trainLossOf(metrics[best]))} → ${fmt(trainLoss)})`,
        );
      }
      if (largeGap) {
        reasons.push(
          `validation loss ${fmt(valLoss)}${known} is ${fmt(valLoss / Math.max(trainLoss, 1e-12))}× the training ` +
            `loss ${fmt(trainLoss)}: the gap ${fmt(gap)} is ${pct(relativeGap)} of the validation loss` +
            (stdError !== undefined ? `, ${fmt(gap / stdError)} standard errors` : '') +
            ` (large from ${pct(T.overfitRelativeGap)}, ${pct(T.overfitGapShareOfBaseline)} of the baseline loss ` +
            `${fmt(baselineLoss)} and ${T.gapStdErrors} standard errors)`,
        );
      }
      if (stdError === undefined)
        reasons.push('no standard error in these metrics (stored before valLossStdError): the noise was not weighed');
      return 'overfit';
    }
    if (stdError !== undefined && 2 * stdError > T.inconclusiveUncertaintyShare * baselineLoss) {
      reasons.push(
        `validation loss ${fmt(valLoss)}${known} is too uncertain: ±${fmt(2 * stdError)} is more than ` +
          `${pct(T.inconclusiveUncertaintyShare)} of the baseline loss ${fmt(baselineLoss)}, so no sign of ` +
          `overfitting shows beyond that noise, but a gap that matters would not show either`,
      );
      return 'inconclusive';
    }
    reasons.push(
      `training loss ${fmt(trainLoss)} is ${pct(trainLossVsBaseline)} of the baseline loss ${fmt(baselineLoss)}, ` +
        `validation loss ${fmt(valLoss)}${known} did not turn, and the gap ${fmt(gap)} is ` +
        (gap <= 0
          ? 'not positive'
          : !gapMatters
            ? `under ${pct(T.overfitGapShareOfBaseline)} of the baseline loss`
            : relativeGap < T.overfitRelativeGap
              ? `${pct(relativeGap)} of the validation loss (large from ${pct(T.overfitRelativeGap)})`
              : `within the noise (${fmt(gap / stdError!)} standard errors, beyond noise from ${T.gapStdErrors})`),
    );
    if (stdError === undefined)
      reasons.push('no standard error in these metrics (stored before valLossStdError): the noise was not weighed');
    return 'good-fit';
  }
}

/** The standard error of the kept model's validation loss: across folds when there are folds, else across rows. */
function uncertainty(
  input: DiagnosisInput,
  kept: DiagnosisEpoch,
): { stdError?: number; source: 'rows' | 'folds' | 'none' } {
  const folds = input.foldValLosses;
  if (folds && folds.length >= 2) {
    const mean = folds.reduce((a, b) => a + b, 0) / folds.length;
    const variance = folds.reduce((a, v) => a + (v - mean) ** 2, 0) / (folds.length - 1);
    return { stdError: Math.sqrt(variance / folds.length), source: 'folds' };
  }
  if (typeof kept.valLossStdError === 'number') return { stdError: kept.valLossStdError, source: 'rows' };
  return { source: 'none' };
}

/**
 * The remedies of concepts.md that fit this run and request, most fundamental first. Each one
 * follows from the run's own facts: early stopping is proposed only for a curve that turned,
 * more epochs only when early stopping did not end the run, patience only when it did.
 */
function suggest(verdict: Verdict, evidence: DiagnosisEvidence, input: DiagnosisInput): string[] {
  const { request } = input;
  const out: string[] = [];
  const hidden = request.model.hidden;
  const reg = request.regularization;
  const rates = hidden.map((h) => h.dropout.rate);
  const maxRate = rates.length ? Math.max(...rates) : 0;
  const widest = hidden.length ? Math.max(...hidden.map((h) => h.units)) : 0;
  const l2s = [reg.l2, ...hidden.map((h) => h.regularization?.l2 ?? 0)];
  const hasL2 =
    l2s.some((v) => v > 0) || reg.weightDecay > 0 || hidden.some((h) => (h.regularization?.weightDecay ?? 0) > 0);
  const hasL1 = reg.l1 > 0 || hidden.some((h) => (h.regularization?.l1 ?? 0) > 0);
  const es = request.training.earlyStopping;
  const aug = request.augmentation;
  const last = input.metrics[input.metrics.length - 1];
  const layers =
    hidden.length === 0
      ? 'now no hidden layer: a linear model'
      : `now ${hidden.length} hidden layer${hidden.length === 1 ? '' : 's'}, the widest with ${widest} units`;

  if (verdict === 'wrong-task') {
    const target = evidence.target!;
    out.push(
      `Use task "regression": target "${request.target}" has ${target.distinct} distinct numeric values in ` +
        `${target.rows} rows, a quantity rather than a set of classes.`,
    );
    out.push(
      'If these numbers really are class codes, collect more rows per class, or merge rare classes, before judging the fit.',
    );
  } else if (verdict === 'overfit') {
    out.push(
      aug.gaussianNoise || aug.mixup
        ? `More data helps most. Augmentation is on (${describeAugmentation(aug)}); a stronger setting may help.`
        : 'More data helps most; short of that, augment it: augmentation.gaussianNoise (e.g. 0.1, on standardized numeric features) or augmentation.mixup (e.g. 0.2).',
    );
    if (hidden.length > 0) out.push(`Use a model of fitting complexity: fewer units or layers (${layers}).`);
    out.push(
      hasL1
        ? 'Use fewer features: drop the inputs L1 eliminated (see sparsity.eliminatedInputs) with features.drop.'
        : 'Use fewer features: drop redundant or uninformative columns with features.drop; an L1 run (regularization.l1) shows which inputs it eliminates.',
    );
    out.push(
      hasL2
        ? `Increase L2 (regularization.l2 is ${reg.l2}${reg.weightDecay > 0 ? `, weightDecay ${reg.weightDecay}` : ''}), e.g. tenfold.`
        : 'Add L2: regularization.l2 (e.g. 1e-4 to 1e-2) shrinks the weights towards zero for a smoother model.',
    );
    if (hidden.length > 0) {
      out.push(
        maxRate > 0
          ? `Raise dropout (the largest rate is now ${maxRate}), e.g. to ${Math.min(0.5, Math.round((maxRate + 0.2) * 10) / 10)}.`
          : 'Add dropout to the hidden layers: model.hidden[].dropout (e.g. 0.2 to 0.5).',
      );
    }
    // Early stopping helps only a kept model past the validation minimum: a curve that turned.
    if (evidence.valLossTurned) {
      if (!es) {
        out.push(
          `Add early stopping: training.earlyStopping {"monitor":"valLoss","patience":5,"restoreBestWeights":true} ` +
            `— validation loss was lowest at epoch ${evidence.valLossBestEpoch} of ${evidence.epochsRun}.`,
        );
      } else if (!es.restoreBestWeights) {
        out.push(
          `Set training.earlyStopping.restoreBestWeights to true so the model keeps the best epoch's weights ` +
            `(validation loss was lowest at epoch ${evidence.valLossBestEpoch}), not those of epoch ${evidence.modelEpoch}.`,
        );
      }
    }
  } else if (verdict === 'underfit') {
    out.push(`Add capacity: more units or layers (${layers}).`);
    out.push(
      request.features.drop.length > 0
        ? `Use more informative features; ${request.features.drop.length} column(s) are dropped by features.drop (${request.features.drop.slice(0, 5).join(', ')}${request.features.drop.length > 5 ? ', …' : ''}): bring back the useful ones.`
        : 'Add more informative features (columns that carry signal about the target).',
    );
    const heavy: string[] = [];
    if (last.penalty > 0 && last.penalty >= T.heavyPenaltyShare * Math.max(evidence.trainLoss, 1e-12)) {
      heavy.push(
        `the L1/L2 penalty (${fmt(last.penalty)}) is ${pct(last.penalty / Math.max(evidence.trainLoss, 1e-12))} of the training loss: lower regularization.l1 (${reg.l1}) / regularization.l2 (${reg.l2})`,
      );
    }
    if (maxRate >= T.heavyDropout) heavy.push(`lower dropout (the largest rate is ${maxRate})`);
    if ((aug.gaussianNoise ?? 0) >= 0.5) heavy.push(`lower augmentation.gaussianNoise (${aug.gaussianNoise})`);
    if (heavy.length) out.push(`Regularize less: ${heavy.join('; ')}.`);
    if (evidence.stoppedEpoch !== undefined && es) {
      out.push(
        `Early stopping ended the run at epoch ${evidence.stoppedEpoch} while the loss was still high: ` +
          `raise training.earlyStopping.patience (now ${es.patience}) or train without it.`,
      );
    }
  } else if (verdict === 'still-improving') {
    const which = evidence.hasValidation && evidence.valStillImproving ? 'validation' : 'training';
    out.push(
      `Train longer: the ${which} loss was still falling at epoch ${evidence.epochsRun}; raise training.epochs ` +
        `(now ${request.training.epochs})` +
        (es
          ? ' — early stopping, which is on, will end the run once validation stops improving.'
          : ', or add training.earlyStopping to end the run once validation stops improving.'),
    );
  } else if (verdict === 'inconclusive' && evidence.hasValidation) {
    const rows = evidence.validationRows;
    out.push(
      `Hold out more validation rows: ${rows !== undefined ? `${rows} rows give` : 'the validation rows give'} a validation loss of ` +
        `${fmt(evidence.valLoss!)}${evidence.valLossStdError !== undefined ? ` ± ${fmt(2 * evidence.valLossStdError)}` : ''}; ` +
        `raise training.validationSplit (now ${request.training.validationSplit}) or collect more data.`,
    );
  }
  if (!evidence.hasValidation && verdict !== 'wrong-task') {
    out.push('Hold out validation rows (training.validationSplit, e.g. 0.2) to see whether the model overfits.');
  }
  const varianceShift = input.warnings.some((w) => w.includes('variance shift'));
  if (varianceShift) {
    out.push(
      'Dropout feeds a batch-norm layer ("variance shift"): move dropout after the last batch-norm ' +
        'layer, or use Gaussian dropout.',
    );
  }
  return out;
}

/**
 * True when the series' last value is more than `stillImprovingDrop` (relative) below its value
 * `window` epochs earlier, and more than `improvingJitters` times the curve's jitter: still
 * falling at the end, beyond the epoch-to-epoch noise (a curve that dipped and climbed back, or
 * a flat one that jitters, is not improving).
 */
function stillImproving(values: number[], window: number): boolean {
  if (values.length < 2) return true;
  const from = values[Math.max(0, values.length - 1 - window)];
  const drop = from - values[values.length - 1];
  const recent = values.slice(-Math.min(values.length, Math.max(2 * window, 10) + 1));
  return drop > T.stillImprovingDrop * Math.abs(from) && drop > T.improvingJitters * jitter(recent);
}

/**
 * A curve's epoch-to-epoch noise, as an estimate of the standard deviation σ of independent
 * noise on each epoch: from its second differences x[t+1] − 2·x[t] + x[t−1], whose standard
 * deviation is √6·σ for such noise, while a smooth trend, even a decelerating one, adds little
 * to them. median |Δ²| / (0.674·√6) is robust to an odd jump.
 */
function jitter(values: number[]): number {
  if (values.length < 3) return 0;
  const second = values.slice(2).map((v, i) => Math.abs(v - 2 * values[i + 1] + values[i]));
  return median(second) / (0.6745 * Math.sqrt(6));
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function describeDrop(values: number[], window: number): string {
  const start = Math.max(0, values.length - 1 - window);
  const from = values[start];
  const to = values[values.length - 1];
  return `${fmt(from)} → ${fmt(to)} over the last ${values.length - 1 - start} epochs (−${pct((from - to) / Math.abs(from))})`;
}

function pick<K extends keyof DiagnosisEpoch>(m: DiagnosisEpoch, keys: K[]): Partial<Pick<DiagnosisEpoch, K>> {
  const out: Partial<Pick<DiagnosisEpoch, K>> = {};
  for (const k of keys) if (m[k] !== undefined) out[k] = m[k];
  return out;
}

function describeAugmentation(aug: TrainingRequest['augmentation']): string {
  const parts: string[] = [];
  if (aug.gaussianNoise) parts.push(`gaussianNoise ${aug.gaussianNoise}`);
  if (aug.mixup) parts.push(`mixup ${aug.mixup}`);
  return parts.join(', ');
}

function fmt(value: number): string {
  return Number.isFinite(value) ? Number(value.toPrecision(3)).toString() : String(value);
}

function pct(share: number): string {
  return `${Math.round(share * 100)} %`;
}
