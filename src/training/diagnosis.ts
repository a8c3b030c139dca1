import type { EpochMetrics } from '../ml/trainer';
import type { TrainingRequest } from '../schemas/training-request.schema';

/**
 * Under- or overfitting, judged from a finished run's curves (concepts.md, last section):
 * underfitting when even the training error stays high, overfitting when the training error is
 * low but the validation error is much higher. The thresholds are named here and documented in
 * the README ("Diagnosis"); the unit tests feed hand-made curves through each rule.
 */
export const DIAGNOSIS_THRESHOLDS = {
  /**
   * Underfit when the kept model's training loss is at least this share of the trivial
   * predictor's loss (class entropy, or 1.0 = the standardized target's variance): the network
   * removes less than 40 % of what a constant prediction gets wrong, on the rows it trains on.
   */
  underfitTrainLossShare: 0.6,
  /** Overfit when the gap is at least this share of the validation loss (val ≥ 1.5 × train). */
  overfitRelativeGap: 1 / 3,
  /** …and at least this share of the baseline loss, so that a tiny gap on tiny losses is no alarm. */
  overfitGapShareOfBaseline: 0.1,
  /** Overfit, too, when validation loss rose this much (relative) since its best epoch… */
  overfitValRise: 0.1,
  /** A curve is "still improving" when it fell more than this (relative) over the last window. */
  stillImprovingDrop: 0.01,
  /** The window: this share of the epochs run, at least 2 epochs. */
  stillImprovingWindowShare: 0.1,
  /** Regularization counts as heavy when the penalty is at least this share of the training loss… */
  heavyPenaltyShare: 0.25,
  /** …or a dropout rate is at least this. */
  heavyDropout: 0.4,
} as const;

export type Verdict = 'overfit' | 'underfit' | 'good-fit';

/** The metrics the rules read; `trainLoss` may be missing from metrics stored before it existed. */
type DiagnosedEpoch = Omit<EpochMetrics, 'trainLoss'> & { trainLoss?: number };

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
  /** Where the training loss comes from: inference-mode `trainLoss`, or the training-mode `loss`. */
  trainLossSource: 'trainLoss' | 'loss';
  /** Training data loss of the kept model. */
  trainLoss: number;
  /** Validation data loss of the kept model. */
  valLoss?: number;
  /** valLoss − trainLoss of the kept model. */
  gap?: number;
  /** gap / valLoss: the share of the validation loss that the training rows do not show. */
  relativeGap?: number;
  /** valLoss − trainLoss at the last epoch run (equals `gap` unless best weights were restored). */
  lastEpochGap?: number;
  /** (last valLoss − best valLoss) / best valLoss: how far validation loss climbed back. */
  valLossRise?: number;
  /** The loss of a trivial predictor (class entropy, or 1 for the standardized target). */
  baselineLoss: number;
  /** Where the baseline came from: given by the caller, or the first epoch's training loss. */
  baselineSource: 'given' | 'first-epoch';
  /** trainLoss / baselineLoss. */
  trainLossVsBaseline: number;
  /** Training loss still falling over the last epochs. */
  trainStillImproving: boolean;
  /** Validation loss still falling over the last epochs. */
  valStillImproving?: boolean;
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
  /** Remedies from concepts.md that apply to this request, most fundamental first. */
  suggestions: string[];
}

export interface DiagnosisInput {
  request: TrainingRequest;
  metrics: readonly DiagnosedEpoch[];
  /** Best epoch by the early-stopping monitor (1-based). */
  bestEpoch?: number;
  /** Set when early stopping ended the run before `epochs`. */
  stoppedEpoch?: number;
  /** Whether the model keeps the best epoch's weights; inferred from the request when absent. */
  restoredBestWeights?: boolean;
  warnings: string[];
  /** Loss of a trivial predictor: training class entropy, or 1.0 for the standardized target. */
  baselineLoss?: number;
}

const T = DIAGNOSIS_THRESHOLDS;

export function diagnose(input: DiagnosisInput): Diagnosis {
  const { request, metrics } = input;
  const epochsRequested = request.training.epochs;
  if (metrics.length === 0) {
    return {
      verdict: 'underfit',
      evidence: {
        hasValidation: false,
        epochsRequested,
        epochsRun: 0,
        modelEpoch: 0,
        trainLossSource: 'loss',
        trainLoss: Number.NaN,
        baselineLoss: input.baselineLoss ?? Number.NaN,
        baselineSource: input.baselineLoss === undefined ? 'first-epoch' : 'given',
        trainLossVsBaseline: Number.NaN,
        trainStillImproving: false,
        reasons: ['no epoch finished: the model has not learned anything yet'],
      },
      suggestions: [`Train for at least one epoch (training.epochs is ${epochsRequested}).`],
    };
  }

  const trainLossSource = metrics.every((m) => typeof m.trainLoss === 'number') ? 'trainLoss' : 'loss';
  const trainLossOf = (m: DiagnosedEpoch) => (trainLossSource === 'trainLoss' ? m.trainLoss! : m.trainingModeLoss);
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
    ...pick(kept, ['accuracy', 'valAccuracy', 'mae', 'valMae']),
    reasons: [],
  };
  const reasons = evidence.reasons;
  const underfit = trainLossVsBaseline >= T.underfitTrainLossShare;
  let overfit = false;

  if (hasValidation) {
    const valLosses = metrics.map((m) => m.valLoss!);
    let best = 0;
    for (let i = 1; i < valLosses.length; i++) if (valLosses[i] < valLosses[best]) best = i;
    const valLoss = kept.valLoss!;
    const gap = valLoss - trainLoss;
    const relativeGap = valLoss > 0 ? gap / valLoss : 0;
    const valLossRise = (valLoss - valLosses[best]) / Math.max(valLosses[best], 1e-12);
    Object.assign(evidence, {
      valLossBestEpoch: metrics[best].epoch,
      bestValLoss: valLosses[best],
      valLoss,
      gap,
      relativeGap,
      lastEpochGap: last.valLoss! - trainLossOf(last),
      valLossRise,
      valStillImproving: stillImproving(valLosses, window),
    });
    const gapMatters = gap >= T.overfitGapShareOfBaseline * baselineLoss;
    if (gapMatters && relativeGap >= T.overfitRelativeGap) {
      overfit = true;
      reasons.push(
        `validation loss ${fmt(valLoss)} is ${fmt(valLoss / Math.max(trainLoss, 1e-12))}× the training ` +
          `loss ${fmt(trainLoss)} (gap ${fmt(gap)}, ${pct(relativeGap)} of the validation loss; ` +
          `overfit from ${pct(T.overfitRelativeGap)} with a gap of at least ` +
          `${pct(T.overfitGapShareOfBaseline)} of the baseline loss ${fmt(baselineLoss)})`,
      );
    }
    if (gapMatters && valLossRise >= T.overfitValRise) {
      overfit = true;
      reasons.push(
        `validation loss stopped improving at epoch ${metrics[best].epoch} (${fmt(valLosses[best])}) ` +
          `and rose ${pct(valLossRise)} by epoch ${modelEpoch} (${fmt(valLoss)}) while the training loss kept falling`,
      );
    }
  } else {
    reasons.push(
      'no validation data (training.validationSplit is 0): the verdict rests on the training error ' +
        'only, and overfitting cannot be seen',
    );
  }

  if (underfit) {
    reasons.unshift(
      `training loss ${fmt(trainLoss)} is ${pct(trainLossVsBaseline)} of the baseline loss ` +
        `${fmt(baselineLoss)} of a trivial predictor (underfit from ${pct(T.underfitTrainLossShare)})`,
    );
  }
  // Underfitting wins: when the model cannot even fit its training rows, capacity comes first.
  const verdict: Verdict = underfit ? 'underfit' : overfit ? 'overfit' : 'good-fit';
  if (verdict === 'good-fit') {
    reasons.push(
      `training loss ${fmt(trainLoss)} is ${pct(trainLossVsBaseline)} of the baseline loss ${fmt(baselineLoss)}` +
        (hasValidation
          ? ` and validation loss ${fmt(evidence.valLoss!)} is close to it (gap ${fmt(evidence.gap!)})`
          : ''),
    );
  }
  return { verdict, evidence, suggestions: suggest(verdict, evidence, input) };
}

/** The remedies of concepts.md that fit this request, most fundamental first. */
function suggest(verdict: Verdict, evidence: DiagnosisEvidence, input: DiagnosisInput): string[] {
  const { request } = input;
  const out: string[] = [];
  const hidden = request.model.hidden;
  const reg = request.regularization;
  const rates = hidden.map((h) => h.dropout.rate);
  const maxRate = rates.length ? Math.max(...rates) : 0;
  const widest = hidden.length ? Math.max(...hidden.map((h) => h.units)) : 0;
  const l2s = [reg.l2, ...hidden.map((h) => h.regularization?.l2 ?? 0)];
  const hasL2 = l2s.some((v) => v > 0) || reg.weightDecay > 0 || hidden.some((h) => (h.regularization?.weightDecay ?? 0) > 0);
  const hasL1 = reg.l1 > 0 || hidden.some((h) => (h.regularization?.l1 ?? 0) > 0);
  const es = request.training.earlyStopping;
  const aug = request.augmentation;
  const last = input.metrics[input.metrics.length - 1];

  if (verdict === 'overfit') {
    out.push(
      aug.gaussianNoise || aug.mixup
        ? `More data helps most. Augmentation is on (${describeAugmentation(aug)}); a stronger setting may help.`
        : 'More data helps most; short of that, augment it: augmentation.gaussianNoise (e.g. 0.1, on standardized numeric features) or augmentation.mixup (e.g. 0.2).',
    );
    out.push(
      `Use a model of fitting complexity: fewer units or layers (now ${hidden.length} hidden ` +
        `layer${hidden.length === 1 ? '' : 's'}, the widest with ${widest} units).`,
    );
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
    out.push(
      maxRate > 0
        ? `Raise dropout (the largest rate is now ${maxRate}), e.g. to ${Math.min(0.5, Math.round((maxRate + 0.2) * 10) / 10)}.`
        : 'Add dropout to the hidden layers: model.hidden[].dropout (e.g. 0.2 to 0.5).',
    );
    if (!es) {
      out.push(
        `Add early stopping: training.earlyStopping {"monitor":"valLoss","patience":5,"restoreBestWeights":true}` +
          (evidence.valLossBestEpoch !== undefined
            ? ` — validation loss was lowest at epoch ${evidence.valLossBestEpoch} of ${evidence.epochsRun}.`
            : '.'),
      );
    } else if (!es.restoreBestWeights) {
      out.push('Set training.earlyStopping.restoreBestWeights to true so the model keeps the best epoch\'s weights, not the last.');
    } else if (es.patience > 5) {
      out.push(`Lower training.earlyStopping.patience (now ${es.patience}) so the run stops nearer to the best epoch.`);
    }
  } else if (verdict === 'underfit') {
    out.push(
      `Add capacity: more units or layers (now ${hidden.length} hidden layer${hidden.length === 1 ? '' : 's'}, ` +
        `the widest with ${widest} units).`,
    );
    out.push(
      request.features.drop.length > 0
        ? `Use more informative features; ${request.features.drop.length} column(s) are dropped by features.drop (${request.features.drop.slice(0, 5).join(', ')}${request.features.drop.length > 5 ? ', …' : ''}): bring back the useful ones.`
        : 'Add more informative features (columns that carry signal about the target).',
    );
    const heavy: string[] = [];
    if (last.penalty > 0 && last.penalty >= T.heavyPenaltyShare * Math.max(evidence.trainLoss, 1e-12)) {
      heavy.push(`the L1/L2 penalty (${fmt(last.penalty)}) is ${pct(last.penalty / Math.max(evidence.trainLoss, 1e-12))} of the training loss: lower regularization.l1 (${reg.l1}) / regularization.l2 (${reg.l2})`);
    }
    if (maxRate >= T.heavyDropout) heavy.push(`lower dropout (the largest rate is ${maxRate})`);
    if ((aug.gaussianNoise ?? 0) >= 0.5) heavy.push(`lower augmentation.gaussianNoise (${aug.gaussianNoise})`);
    if (heavy.length) out.push(`Regularize less: ${heavy.join('; ')}.`);
    if (evidence.stoppedEpoch !== undefined) {
      out.push(
        `Early stopping ended the run at epoch ${evidence.stoppedEpoch} while the loss was still high: ` +
          `raise training.earlyStopping.patience (now ${es?.patience ?? '—'}) or train without it.`,
      );
    } else if (evidence.trainStillImproving) {
      out.push(`Train longer: the training loss was still falling at epoch ${evidence.epochsRun}; raise training.epochs.`);
    }
  } else {
    if (evidence.stoppedEpoch === undefined && evidence.trainStillImproving && (evidence.valStillImproving ?? true)) {
      out.push(`The loss was still falling at epoch ${evidence.epochsRun}: more epochs may improve the model further.`);
    }
  }
  if (!evidence.hasValidation) {
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

/** True when the series fell more than `stillImprovingDrop` (relative) over the last `window` epochs. */
function stillImproving(values: number[], window: number): boolean {
  if (values.length < 2) return true;
  const from = values[Math.max(0, values.length - 1 - window)];
  const recentBest = Math.min(...values.slice(-window));
  return from - recentBest > T.stillImprovingDrop * Math.abs(from);
}

function pick<K extends keyof DiagnosedEpoch>(m: DiagnosedEpoch, keys: K[]): Partial<Pick<DiagnosedEpoch, K>> {
  const out: Partial<Pick<DiagnosedEpoch, K>> = {};
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
