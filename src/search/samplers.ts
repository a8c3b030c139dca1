import type { SearchSpace, TrialState } from '../schemas/search.schema';
import {
  categoricalEstimator,
  defaultGamma,
  defaultWeights,
  numericEstimator,
  type Estimator,
} from './parzen-estimator';
import { domainOf, gridValues, sampleUniform, searchError, toAxis, toValue, trialRng } from './space';

/**
 * Samplers propose the settings of trial k from the seed and, for TPE, the trials finished so
 * far. They are pure: the same seed, k and history give the same settings, so a coordinator
 * that lost its worker and proposes again proposes the same thing (it also stores each proposal
 * before starting it, so a trial is proposed once).
 */

/** What a sampler knows of an earlier trial. `loss` is the objective turned to "lower is better". */
export interface TrialRecordForSampler {
  trial: number;
  settings: Record<string, unknown>;
  state: TrialState;
  /** Completed: the objective of its model. Pruned: the objective at the last epoch it reached. */
  loss?: number;
  epochsRun: number;
}

export interface Sampler {
  /** Settings of trial `trial`, or undefined when the strategy has no more (a finished grid). */
  propose(trial: number, history: readonly TrialRecordForSampler[]): Record<string, unknown> | undefined;
  /** The number of trials the strategy can give, when finite. */
  readonly size?: number;
}

export function randomSampler(space: SearchSpace, seed: number): Sampler {
  return {
    propose(trial) {
      const rng = trialRng(seed, trial);
      return Object.fromEntries(Object.entries(space).map(([key, param]) => [key, sampleUniform(param, rng)]));
    },
  };
}

/** Every combination of the choice/int/qint values, first key slowest (as sweeps enumerate). */
export function gridSampler(space: SearchSpace): Sampler {
  const keys = Object.keys(space);
  const values = keys.map((key) => {
    const list = gridValues(space[key]);
    if (!list) throw searchError(`strategy "grid": "${key}" is ${space[key].type}; a grid takes choice, int or qint`);
    return list;
  });
  const size = values.reduce((n, list) => n * list.length, 1);
  return {
    size,
    propose(trial) {
      if (trial >= size) return undefined;
      const settings: Record<string, unknown> = {};
      let rest = trial;
      for (let k = keys.length - 1; k >= 0; k--) {
        settings[keys[k]] = structuredClone(values[k][rest % values[k].length]);
        rest = Math.floor(rest / values[k].length);
      }
      return Object.fromEntries(keys.map((key) => [key, settings[key]]));
    },
  };
}

/** Optuna's TPESampler defaults. */
export interface TpeOptions {
  /** Trials finished (completed or pruned) before TPE takes over from random sampling. Default 10. */
  startupTrials: number;
  /** Candidates drawn from l(x) per parameter, the one with the best l(x)/g(x) kept. Default 24. */
  eiCandidates: number;
  priorWeight: number;
}
export const TPE_DEFAULTS: TpeOptions = { startupTrials: 10, eiCandidates: 24, priorWeight: 1 };

/**
 * The tree-structured Parzen estimator, independent per parameter (Optuna's default,
 * multivariate=False). The finished trials are split into the best γ(n) ("below") and the
 * rest: completed trials by their objective, then pruned trials by how far they got and their
 * objective there (Optuna's order); failed and running trials are left out. Each parameter
 * draws eiCandidates values from l(x), the Parzen estimator of the good group, and keeps the
 * one maximizing log l(x) − log g(x).
 */
export function tpeSampler(space: SearchSpace, seed: number, options: TpeOptions = TPE_DEFAULTS): Sampler {
  const random = randomSampler(space, seed);
  return {
    propose(trial, history) {
      const finished = history.filter(
        (t) => (t.state === 'completed' || t.state === 'pruned') && t.loss !== undefined && t.trial !== trial,
      );
      if (finished.length < options.startupTrials) return random.propose(trial, history);
      const ranked = [...finished].sort(compareForSplit);
      const nBelow = defaultGamma(ranked.length);
      const byNumber = (a: TrialRecordForSampler, b: TrialRecordForSampler) => a.trial - b.trial;
      const below = ranked.slice(0, nBelow).sort(byNumber);
      const above = ranked.slice(nBelow).sort(byNumber);
      const rng = trialRng(seed, trial);
      const settings: Record<string, unknown> = {};
      for (const [key, param] of Object.entries(space)) {
        const axis = (group: TrialRecordForSampler[]) =>
          group.map((t) => toAxis(param, t.settings[key])).filter((x): x is number => x !== undefined);
        const l = estimator(domainOf(param), axis(below), options.priorWeight);
        const g = estimator(domainOf(param), axis(above), options.priorWeight);
        let best = NaN;
        let bestScore = -Infinity;
        for (let c = 0; c < options.eiCandidates; c++) {
          const x = l.sample(rng);
          const score = l.logPdf(x) - g.logPdf(x);
          if (score > bestScore) {
            bestScore = score;
            best = x;
          }
        }
        settings[key] = toValue(param, best);
      }
      return settings;
    },
  };
}

function estimator(domain: ReturnType<typeof domainOf>, observations: number[], priorWeight: number): Estimator {
  const weights = defaultWeights(observations.length);
  return domain.kind === 'categorical'
    ? categoricalEstimator(observations, weights, domain.size, priorWeight)
    : numericEstimator(observations, weights, domain, priorWeight);
}

/** Completed before pruned; completed by loss; pruned by epochs reached (more first), then loss. */
function compareForSplit(a: TrialRecordForSampler, b: TrialRecordForSampler): number {
  const aDone = a.state === 'completed' ? 0 : 1;
  const bDone = b.state === 'completed' ? 0 : 1;
  if (aDone !== bDone) return aDone - bDone;
  if (aDone === 1 && a.epochsRun !== b.epochsRun) return b.epochsRun - a.epochsRun;
  return a.loss! - b.loss! || a.trial - b.trial;
}

export function createSampler(strategy: 'grid' | 'random' | 'tpe', space: SearchSpace, seed: number): Sampler {
  if (strategy === 'grid') return gridSampler(space);
  if (strategy === 'tpe') return tpeSampler(space, seed);
  return randomSampler(space, seed);
}
