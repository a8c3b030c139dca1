/**
 * Classification metrics of a model's probabilities against the true classes, in float64, each
 * equal to scikit-learn 1.2's function named beside it (test/fixtures/evaluation-reference.json,
 * made by scripts/reference/make_evaluation_fixtures.py). Classes are the model's class indices
 * 0..K-1; probabilities are row-major, rows × K. Pure: no tf, no I/O.
 */

/** Written once, as the zod schemas the evaluation is stored and served with; documented there. */
import type { ClassificationMetrics, ClassMetrics, ReliabilityBin, RocCurve } from '../schemas/evaluation.schema';

export type { ClassificationMetrics, ClassMetrics, ReliabilityBin, RocCurve };

export const ROC_POINTS = 201;

export const ECE_BINS = 10;

/** float64 machine epsilon, log_loss's clip in sklearn 1.2 (eps="auto" on float64 input). */
const LOG_LOSS_EPS = 2.220446049250313e-16;

/**
 * The predicted class of each row: the first class with the highest probability (argmax), or
 * for two classes with a threshold, class 1 when its probability is at least the threshold.
 */
export function predictedClasses(probabilities: ArrayLike<number>, classes: number, threshold?: number): Int32Array {
  const rows = probabilities.length / classes;
  const out = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    if (classes === 2 && threshold !== undefined) {
      out[r] = probabilities[r * 2 + 1] >= threshold ? 1 : 0;
      continue;
    }
    let best = 0;
    for (let c = 1; c < classes; c++) if (probabilities[r * classes + c] > probabilities[r * classes + best]) best = c;
    out[r] = best;
  }
  return out;
}

export function confusionMatrix(labels: ArrayLike<number>, predicted: ArrayLike<number>, classes: number): number[][] {
  const matrix = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  for (let i = 0; i < labels.length; i++) matrix[labels[i]][predicted[i]]++;
  return matrix;
}

export function logLoss(labels: ArrayLike<number>, probabilities: ArrayLike<number>, classes: number): number {
  let sum = 0;
  for (let r = 0; r < labels.length; r++) {
    let total = 0;
    for (let c = 0; c < classes; c++) total += clip(probabilities[r * classes + c]);
    sum -= Math.log(clip(probabilities[r * classes + labels[r]]) / total);
  }
  return sum / labels.length;
}

function clip(p: number): number {
  return Math.min(Math.max(p, LOG_LOSS_EPS), 1 - LOG_LOSS_EPS);
}

/**
 * roc_auc_score of scores for a binary truth: the trapezoid under the ROC curve with tied scores
 * taken as one threshold (a tie counts one half, as in the Mann–Whitney statistic). Undefined
 * (undefined) when either class has no row.
 */
export function rocAuc(positive: ArrayLike<boolean>, scores: ArrayLike<number>): number | undefined {
  const order = sortedByScoreDescending(scores);
  let positives = 0;
  for (let i = 0; i < positive.length; i++) if (positive[i]) positives++;
  const negatives = positive.length - positives;
  if (positives === 0 || negatives === 0) return undefined;
  let tp = 0;
  let fp = 0;
  let area = 0;
  for (let i = 0; i < order.length;) {
    const prevTp = tp;
    const prevFp = fp;
    const score = scores[order[i]];
    for (; i < order.length && scores[order[i]] === score; i++) {
      if (positive[order[i]]) tp++;
      else fp++;
    }
    area += ((fp - prevFp) * (tp + prevTp)) / 2;
  }
  return area / (positives * negatives);
}

/**
 * average_precision_score for a binary truth: Σ over distinct thresholds (highest first) of the
 * recall gained times the precision there. Undefined when no row is positive.
 */
export function averagePrecision(positive: ArrayLike<boolean>, scores: ArrayLike<number>): number | undefined {
  const order = sortedByScoreDescending(scores);
  let positives = 0;
  for (let i = 0; i < positive.length; i++) if (positive[i]) positives++;
  if (positives === 0) return undefined;
  let tp = 0;
  let seen = 0;
  let sum = 0;
  for (let i = 0; i < order.length;) {
    const prevTp = tp;
    const score = scores[order[i]];
    for (; i < order.length && scores[order[i]] === score; i++, seen++) if (positive[order[i]]) tp++;
    sum += ((tp - prevTp) / positives) * (tp / seen);
  }
  return sum;
}

/** (false positive rate, true positive rate) from (0, 0) through every distinct score, highest first. */
export function rocCurve(
  positive: ArrayLike<boolean>,
  scores: ArrayLike<number>,
): { fpr: number[]; tpr: number[] } | undefined {
  const order = sortedByScoreDescending(scores);
  let positives = 0;
  for (let i = 0; i < positive.length; i++) if (positive[i]) positives++;
  const negatives = positive.length - positives;
  if (positives === 0 || negatives === 0) return undefined;
  const fpr = [0];
  const tpr = [0];
  let tp = 0;
  let fp = 0;
  for (let i = 0; i < order.length;) {
    const score = scores[order[i]];
    for (; i < order.length && scores[order[i]] === score; i++) {
      if (positive[order[i]]) tp++;
      else fp++;
    }
    fpr.push(fp / negatives);
    tpr.push(tp / positives);
  }
  return { fpr, tpr };
}

function thin(curve: { fpr: number[]; tpr: number[] }): { fpr: number[]; tpr: number[] } {
  const n = curve.fpr.length;
  if (n <= ROC_POINTS) return curve;
  const keep = Array.from({ length: ROC_POINTS }, (_, i) => Math.round((i * (n - 1)) / (ROC_POINTS - 1)));
  return { fpr: keep.map((i) => curve.fpr[i]), tpr: keep.map((i) => curve.tpr[i]) };
}

function sortedByScoreDescending(scores: ArrayLike<number>): Int32Array {
  const order = Int32Array.from({ length: scores.length }, (_, i) => i);
  return order.sort((a, b) => scores[b] - scores[a]);
}

/** Top-label calibration: each row's highest probability against whether its top class is right. */
export function reliability(
  labels: ArrayLike<number>,
  probabilities: ArrayLike<number>,
  classes: number,
  bins = ECE_BINS,
): { ece: number; table: ReliabilityBin[] } {
  const count = new Array<number>(bins).fill(0);
  const confidence = new Array<number>(bins).fill(0);
  const correct = new Array<number>(bins).fill(0);
  const predicted = predictedClasses(probabilities, classes);
  // calibration_curve's bins: edges i/bins, a row goes to the number of inner edges below its
  // value (np.searchsorted, side "left"), so a bin holds (lower, upper] and bin 0 also holds 0.
  const edges = Array.from({ length: bins + 1 }, (_, i) => (i === bins ? 1 : i * (1 / bins)));
  for (let r = 0; r < labels.length; r++) {
    const top = probabilities[r * classes + predicted[r]];
    let bin = 0;
    while (bin < bins - 1 && edges[bin + 1] < top) bin++;
    count[bin]++;
    confidence[bin] += top;
    if (predicted[r] === labels[r]) correct[bin]++;
  }
  let ece = 0;
  const table: ReliabilityBin[] = [];
  for (let b = 0; b < bins; b++) {
    const row: ReliabilityBin = { lower: edges[b], upper: edges[b + 1], count: count[b] };
    if (count[b] > 0) {
      row.meanConfidence = confidence[b] / count[b];
      row.accuracy = correct[b] / count[b];
      ece += (count[b] / labels.length) * Math.abs(row.accuracy - row.meanConfidence);
    }
    table.push(row);
  }
  return { ece, table };
}

/**
 * Every classification metric of `probabilities` (rows × classes) against `labels` (class
 * indices). `threshold` (binary only) decides the predicted class for the threshold-dependent
 * metrics (accuracy, F1, precision, recall, confusion matrix); the probability metrics do not
 * depend on it. Needs at least one row.
 */
export function classificationMetrics(
  labels: ArrayLike<number>,
  probabilities: ArrayLike<number>,
  classes: number,
  threshold?: number,
): ClassificationMetrics {
  const n = labels.length;
  if (n === 0) throw new Error('classification metrics need at least one row');
  if (probabilities.length !== n * classes) {
    throw new Error(
      `expected ${n * classes} probabilities (${n} rows × ${classes} classes), received ${probabilities.length}`,
    );
  }
  const predicted = predictedClasses(probabilities, classes, classes === 2 ? threshold : undefined);
  const matrix = confusionMatrix(labels, predicted, classes);
  const support = matrix.map((row) => row.reduce((a, b) => a + b, 0));
  const predictedCount = matrix[0].map((_, c) => matrix.reduce((s, row) => s + row[c], 0));
  const perClass = matrix.map((row, c): ClassMetrics => {
    const tp = row[c];
    const precision = predictedCount[c] > 0 ? tp / predictedCount[c] : 0;
    const recall = support[c] > 0 ? tp / support[c] : 0;
    return {
      precision,
      recall,
      f1: precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0,
      support: support[c],
    };
  });
  let correct = 0;
  for (let c = 0; c < classes; c++) correct += matrix[c][c];
  // sklearn's label set for the F1 averages: the classes seen in the truth or the predictions.
  const seen = perClass.map((_, c) => support[c] > 0 || predictedCount[c] > 0);
  const present = perClass.filter((_, c) => support[c] > 0);
  const f1Seen = perClass.filter((_, c) => seen[c]);
  const metrics: ClassificationMetrics = {
    rows: n,
    logLoss: logLoss(labels, probabilities, classes),
    accuracy: correct / n,
    balancedAccuracy: present.reduce((s, m) => s + m.recall, 0) / present.length,
    f1Macro: f1Seen.reduce((s, m) => s + m.f1, 0) / f1Seen.length,
    f1Weighted: perClass.reduce((s, m) => s + m.f1 * m.support, 0) / n,
    perClass,
    confusionMatrix: matrix,
    brier: brier(labels, probabilities, classes),
    ...(() => {
      const { ece, table } = reliability(labels, probabilities, classes);
      return { ece, reliability: table };
    })(),
  };
  const column = (c: number) => Float64Array.from({ length: n }, (_, r) => probabilities[r * classes + c]);
  const isClass = (c: number) => Array.from({ length: n }, (_, r) => labels[r] === c);
  if (classes === 2) {
    const auc = rocAuc(isClass(1), column(1));
    const ap = averagePrecision(isClass(1), column(1));
    if (auc !== undefined) metrics.rocAuc = auc;
    if (ap !== undefined) metrics.prAuc = ap;
    if (threshold !== undefined) metrics.threshold = threshold;
    const curve = rocCurve(isClass(1), column(1));
    if (curve) metrics.rocCurves = [{ class: 1, ...thin(curve) }];
  } else {
    metrics.rocCurves = [];
    const aucs: number[] = [];
    const aps: number[] = [];
    for (let c = 0; c < classes; c++) {
      if (support[c] === 0) continue;
      const auc = rocAuc(isClass(c), column(c));
      if (auc !== undefined) aucs.push(auc);
      aps.push(averagePrecision(isClass(c), column(c))!);
      const curve = rocCurve(isClass(c), column(c));
      if (curve) metrics.rocCurves.push({ class: c, ...thin(curve) });
    }
    if (present.length === classes && aucs.length === classes) metrics.rocAuc = mean(aucs);
    if (aps.length > 0) metrics.prAuc = mean(aps);
  }
  return metrics;
}

function brier(labels: ArrayLike<number>, probabilities: ArrayLike<number>, classes: number): number {
  let sum = 0;
  for (let r = 0; r < labels.length; r++) {
    if (classes === 2) {
      sum += (probabilities[r * 2 + 1] - (labels[r] === 1 ? 1 : 0)) ** 2;
      continue;
    }
    for (let c = 0; c < classes; c++) sum += (probabilities[r * classes + c] - (labels[r] === c ? 1 : 0)) ** 2;
  }
  return sum / labels.length;
}

function mean(values: number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}
