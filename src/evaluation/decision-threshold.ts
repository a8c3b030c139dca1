import { classificationMetrics } from './classification-metrics';

export type ThresholdObjective = 'f1' | 'balancedAccuracy';

/**
 * Binary classification: the probability of class 1 from which a row is predicted as class 1
 * that maximizes the objective on the given rows (the validation rows). The candidates are the
 * rows' own probabilities of class 1 (between two of them every threshold predicts the same);
 * among equally good ones the nearest to 0.5 wins, so a flat objective keeps the default.
 * F1 is of class 1, the positive class (classes[1] of the model).
 */
export function chooseThreshold(
  labels: ArrayLike<number>,
  probabilities: ArrayLike<number>,
  objective: ThresholdObjective,
): number {
  const candidates = [...new Set(Array.from({ length: labels.length }, (_, r) => probabilities[r * 2 + 1]))];
  let best = 0.5;
  let bestScore = score(labels, probabilities, 0.5, objective);
  for (const t of candidates) {
    const s = score(labels, probabilities, t, objective);
    if (s > bestScore || (s === bestScore && Math.abs(t - 0.5) < Math.abs(best - 0.5))) {
      best = t;
      bestScore = s;
    }
  }
  return best;
}

function score(
  labels: ArrayLike<number>,
  probabilities: ArrayLike<number>,
  threshold: number,
  objective: ThresholdObjective,
): number {
  const m = classificationMetrics(labels, probabilities, 2, threshold);
  return objective === 'f1' ? m.perClass[1].f1 : m.balancedAccuracy;
}
