import { featureWidth, type Preprocessing } from '../data/preprocessing';

/**
 * A cheap input-drift check, per predict request: how many numeric values lie more than `k`
 * training standard deviations from their training mean (read off the encoded rows, where a
 * numeric feature is already (x − mean) / std, so the check is one comparison per value), and how
 * many categories were not seen in training (the predict warnings' count). Counted per model in
 * /metrics (fitwell_predict_drift_total) and, with `?explain=drift`, returned with the answer.
 */
export interface DriftReport {
  /** The threshold in training standard deviations (PREDICT_DRIFT_K). */
  k: number;
  rows: number;
  /** Numeric feature → values beyond k standard deviations; only features with some. */
  outOfRange: Record<string, number>;
  /** Categorical values not seen in training, over all features. */
  unseenCategories: number;
}

export function measureDrift(
  prep: Preprocessing,
  x: Float32Array,
  rows: number,
  k: number,
  unseenCategories: number,
): DriftReport {
  const outOfRange: Record<string, number> = {};
  let offset = 0;
  for (const feature of prep.features) {
    if (feature.type === 'numeric') {
      let count = 0;
      for (let r = 0, at = offset; r < rows; r++, at += prep.inputSize) if (Math.abs(x[at]) > k) count++;
      if (count > 0) outOfRange[feature.name] = count;
    }
    offset += featureWidth(feature);
  }
  return { k, rows, outOfRange, unseenCategories };
}
