/**
 * Regression metrics in the target's units, equal to scikit-learn 1.2's (see
 * classification-metrics.ts). Their type is written once, as the zod schema the evaluation is
 * stored and served with (src/schemas/evaluation.schema.ts), and documented there.
 */
import type { RegressionMetrics } from '../schemas/evaluation.schema';

export type { RegressionMetrics };

export function regressionMetrics(targets: ArrayLike<number>, predictions: ArrayLike<number>): RegressionMetrics {
  const n = targets.length;
  if (n === 0) throw new Error('regression metrics need at least one row');
  if (predictions.length !== n) throw new Error(`expected ${n} predictions, received ${predictions.length}`);
  let squared = 0;
  let absolute = 0;
  let targetSum = 0;
  for (let i = 0; i < n; i++) {
    const error = targets[i] - predictions[i];
    squared += error * error;
    absolute += Math.abs(error);
    targetSum += targets[i];
  }
  const meanTarget = targetSum / n;
  let total = 0;
  for (let i = 0; i < n; i++) total += (targets[i] - meanTarget) ** 2;
  const r2 = total > 0 ? 1 - squared / total : squared === 0 ? 1 : 0;
  return { rows: n, mse: squared / n, rmse: Math.sqrt(squared / n), mae: absolute / n, r2 };
}
