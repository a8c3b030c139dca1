import { logLoss } from './classification-metrics';

/**
 * Temperature scaling (Guo et al. 2017): probabilities softmax(z / T) from logits z. The model's
 * outputs are probabilities, whose logarithms are the logits up to a constant per row, so
 * softmax(log p / T) is the same thing and needs nothing from the network. T > 1 softens
 * overconfident probabilities; the top class, and so accuracy, does not change.
 */
export function applyTemperature(probabilities: ArrayLike<number>, classes: number, temperature: number): Float64Array {
  const out = new Float64Array(probabilities.length);
  const rows = probabilities.length / classes;
  for (let r = 0; r < rows; r++) {
    const at = r * classes;
    let max = -Infinity;
    for (let c = 0; c < classes; c++) {
      // A probability that underflowed to 0 stays 0 (its logit is −∞ at any temperature).
      out[at + c] = Math.log(probabilities[at + c]) / temperature;
      if (out[at + c] > max) max = out[at + c];
    }
    let sum = 0;
    for (let c = 0; c < classes; c++) sum += out[at + c] = Math.exp(out[at + c] - max);
    for (let c = 0; c < classes; c++) out[at + c] /= sum;
  }
  return out;
}

/** Bounds of the search for T; a result at a bound says the probabilities carry almost no signal. */
export const TEMPERATURE_RANGE = [0.05, 20] as const;

/**
 * The temperature minimizing the log loss of `labels` (the validation rows): golden-section
 * search on log T over TEMPERATURE_RANGE. The negative log-likelihood is convex in 1/T (a
 * log-sum-exp of functions linear in it), so it has one minimum in the range, which the search
 * finds to |Δ log T| < 1e-6.
 */
export function fitTemperature(labels: ArrayLike<number>, probabilities: ArrayLike<number>, classes: number): number {
  const loss = (logT: number) => logLoss(labels, applyTemperature(probabilities, classes, Math.exp(logT)), classes);
  const ratio = (Math.sqrt(5) - 1) / 2;
  let lo = Math.log(TEMPERATURE_RANGE[0]);
  let hi = Math.log(TEMPERATURE_RANGE[1]);
  let a = hi - ratio * (hi - lo);
  let b = lo + ratio * (hi - lo);
  let fa = loss(a);
  let fb = loss(b);
  while (hi - lo > 1e-6) {
    if (fa < fb) {
      hi = b;
      b = a;
      fb = fa;
      a = hi - ratio * (hi - lo);
      fa = loss(a);
    } else {
      lo = a;
      a = b;
      fa = fb;
      b = lo + ratio * (hi - lo);
      fb = loss(b);
    }
  }
  return Math.exp((lo + hi) / 2);
}
