import type { Rng } from '../random';
import type { Domain } from './space';

/**
 * The univariate Parzen estimators of TPE (Bergstra et al. 2011), as Optuna's
 * `_ParzenEstimator` builds them with its defaults (consider_prior, prior_weight 1,
 * consider_magic_clip, no consider_endpoints): one truncated-normal kernel per observation and
 * one wide prior kernel; a categorical parameter gets one smoothed one-hot kernel per
 * observation and a uniform prior. Discrete axes (ints, qint steps) use the kernel's mass over
 * each point's cell, as Optuna's discrete truncated normal does.
 */

export interface Estimator {
  sample(rng: Rng): number;
  logPdf(x: number): number;
}

const SQRT2 = Math.SQRT2;
const LOG_EPS = Math.log(1e-300);

/**
 * A numeric estimator over [low, high] (cells of width `step` around each point when discrete).
 * `weights` are the observations' weights, before the prior's.
 */
export function numericEstimator(
  observations: readonly number[],
  weights: readonly number[],
  domain: Extract<Domain, { kind: 'numeric' }>,
  priorWeight = 1,
): Estimator {
  const step = domain.step ?? 0;
  const { low, high } = domain;
  const width = high - low + step;
  const n = observations.length;
  const priorMu = 0.5 * (low + high);

  // Bandwidths: each kernel reaches to its farther neighbour among the sorted observations and
  // the prior's centre, with the axis ends as outer neighbours (Optuna's univariate rule).
  const withPrior = [...observations, priorMu];
  const order = withPrior.map((_, i) => i).sort((a, b) => withPrior[a] - withPrior[b]);
  const sorted = [low - step / 2, ...order.map((i) => withPrior[i]), high + step / 2];
  const sortedSigmas = order.map((_, j) => Math.max(sorted[j + 1] - sorted[j], sorted[j + 2] - sorted[j + 1]));
  if (sorted.length >= 4) {
    // Without consider_endpoints the outermost kernels look inward only.
    sortedSigmas[0] = sorted[2] - sorted[1];
    sortedSigmas[sortedSigmas.length - 1] = sorted[sorted.length - 2] - sorted[sorted.length - 3];
  }
  const sigmasWithPrior = new Array<number>(withPrior.length);
  order.forEach((original, j) => (sigmasWithPrior[original] = sortedSigmas[j]));
  // Magic clip: no kernel narrower than the range / min(100, 1 + n + 1).
  const minSigma = width / Math.min(100, 1 + n + 1);
  const sigmas = sigmasWithPrior.slice(0, n).map((s) => Math.min(width, Math.max(minSigma, s)));

  const mus = [...observations, priorMu];
  sigmas.push(width);
  const mixture = normalize([...weights, priorWeight]);
  const lo = low - step / 2;
  const hi = high + step / 2;
  // Each kernel's mass inside the axis, for its truncation.
  const logZ = mus.map((mu, i) => logDiffCdf((hi - mu) / sigmas[i], (lo - mu) / sigmas[i]));

  const kernelLogPdf = (i: number, x: number): number => {
    const sigma = sigmas[i];
    if (step > 0) {
      return logDiffCdf((x + step / 2 - mus[i]) / sigma, (x - step / 2 - mus[i]) / sigma) - logZ[i];
    }
    const z = (x - mus[i]) / sigma;
    return -0.5 * z * z - Math.log(sigma * Math.sqrt(2 * Math.PI)) - logZ[i];
  };

  return {
    sample(rng) {
      const i = pick(mixture, rng);
      let x = NaN;
      // Rejection from the kernel: sigma ≤ the range, so at least ~a third of draws land inside.
      for (let attempt = 0; attempt < 1000 && !(x >= lo && x <= hi); attempt++) x = mus[i] + sigmas[i] * gaussian(rng);
      if (!(x >= lo && x <= hi)) x = Math.min(hi, Math.max(lo, mus[i]));
      if (step > 0) x = Math.min(high, Math.max(low, low + Math.round((x - low) / step) * step));
      return x;
    },
    logPdf(x) {
      return logSumExp(mixture.map((w, i) => Math.log(w) + kernelLogPdf(i, x)));
    },
  };
}

/** A categorical estimator: per observation, (prior/(n+1) everywhere, +1 at its value), normalized. */
export function categoricalEstimator(
  observations: readonly number[],
  weights: readonly number[],
  size: number,
  priorWeight = 1,
): Estimator {
  const n = observations.length;
  const rows = [...observations.map((o) => o as number | undefined), undefined].map((observed) => {
    const row = new Array<number>(size).fill(priorWeight / (n + 1));
    if (observed !== undefined) row[observed] += 1;
    return normalize(row);
  });
  const mixture = normalize([...weights, priorWeight]);
  const probabilities = new Array<number>(size).fill(0);
  rows.forEach((row, i) => row.forEach((p, c) => (probabilities[c] += mixture[i] * p)));
  return {
    sample: (rng) => pick(probabilities, rng),
    logPdf: (x) => Math.log(Math.max(probabilities[Math.round(x)] ?? 0, 1e-300)),
  };
}

/** Optuna's default_weights: flat up to 25 observations, then a ramp from 1/n for the oldest. */
export function defaultWeights(n: number): number[] {
  if (n < 25) return new Array<number>(n).fill(1);
  const ramp = n - 25;
  const weights: number[] = [];
  for (let i = 0; i < ramp; i++) weights.push(ramp === 1 ? 1 / n : 1 / n + ((1 - 1 / n) * i) / (ramp - 1));
  return [...weights, ...new Array<number>(25).fill(1)];
}

/** Optuna's default_gamma: the share of trials that make the "good" group l(x). */
export function defaultGamma(n: number): number {
  return Math.min(Math.ceil(0.1 * n), 25);
}

function normalize(values: number[]): number[] {
  const sum = values.reduce((a, b) => a + b, 0);
  return values.map((v) => v / sum);
}

function pick(probabilities: readonly number[], rng: Rng): number {
  let u = rng.next();
  for (let i = 0; i < probabilities.length; i++) {
    u -= probabilities[i];
    if (u < 0) return i;
  }
  return probabilities.length - 1;
}

/** Box–Muller from the seeded RNG. */
function gaussian(rng: Rng): number {
  const u = 1 - rng.next();
  const v = rng.next();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

function logSumExp(values: number[]): number {
  const max = Math.max(...values);
  if (max === -Infinity) return LOG_EPS;
  return max + Math.log(values.reduce((s, v) => s + Math.exp(v - max), 0));
}

/** log(Φ(b) − Φ(a)) for b > a, from the upper tail when both are positive (no cancellation). */
export function logDiffCdf(b: number, a: number): number {
  const diff = a > 0 ? normalTail(a) - normalTail(b) : normalCdf(b) - normalCdf(a);
  return Math.log(Math.max(diff, 1e-300));
}

export function normalCdf(z: number): number {
  return 0.5 * erfc(-z / SQRT2);
}

function normalTail(z: number): number {
  return 0.5 * erfc(z / SQRT2);
}

/** erfc with fractional error below 1.2e-7 everywhere (Numerical Recipes' erfcc, Chebyshev fit). */
export function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z -
        1.26551223 +
        t *
          (1.00002368 +
            t *
              (0.37409196 +
                t *
                  (0.09678418 +
                    t *
                      (-0.18628806 +
                        t *
                          (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? r : 2 - r;
}
