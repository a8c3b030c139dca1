import type { ObjectiveMetric, SearchView, TrialView } from '../schemas/search.schema';
import type { SearchSpec, SearchStatus, TrialRecord } from './search-store';

/** Minimize losses and errors, maximize accuracy, unless the request says otherwise. */
export function objectiveDirection(objective: { metric: ObjectiveMetric; direction?: 'minimize' | 'maximize' }) {
  return objective.direction ?? (objective.metric === 'valAccuracy' ? 'maximize' : 'minimize');
}

/**
 * The trials ranked: completed ones by the objective (ties by trial number), then pruned ones
 * by how many epochs they got (more first), then their objective where they stopped. Failed,
 * cancelled and running trials are listed after them, unranked, by trial number.
 */
export function rankTrials(trials: readonly TrialRecord[], direction: 'minimize' | 'maximize'): TrialView[] {
  const sign = direction === 'minimize' ? 1 : -1;
  const loss = (t: TrialRecord) => (t.value === undefined ? Infinity : sign * t.value);
  const completed = trials
    .filter((t) => t.state === 'completed' && t.value !== undefined)
    .sort((a, b) => loss(a) - loss(b) || a.trial - b.trial);
  const pruned = trials
    .filter((t) => t.state === 'pruned')
    .sort((a, b) => b.epochsRun - a.epochsRun || loss(a) - loss(b) || a.trial - b.trial);
  const ranked = [...completed, ...pruned];
  const rest = trials.filter((t) => !ranked.includes(t));
  return [...ranked.map((t, i) => trialView(t, i + 1)), ...rest.map((t) => trialView(t))];
}

function trialView(t: TrialRecord, rank?: number): TrialView {
  return {
    ...(rank !== undefined ? { rank } : {}),
    trial: t.trial,
    jobId: t.jobId,
    settings: t.settings,
    state: t.state,
    ...(t.value !== undefined && Number.isFinite(t.value) ? { value: t.value } : {}),
    epochsRun: t.epochsRun,
    ...(t.prunedAtEpoch !== undefined ? { prunedAtEpoch: t.prunedAtEpoch } : {}),
    ...(t.modelId ? { modelId: t.modelId } : {}),
    ...(t.diagnosis ? { verdict: t.diagnosis.verdict, diagnosis: { ...t.diagnosis } } : {}),
    ...(t.testMetrics ? { testMetrics: t.testMetrics } : {}),
    ...(t.error ? { error: t.error } : {}),
  };
}

export function describeSearch(
  spec: SearchSpec,
  status: SearchStatus,
  trials: readonly TrialRecord[],
  cancelRequested: boolean,
): SearchView {
  const { request } = spec;
  const direction = objectiveDirection(request.objective);
  const ranked = rankTrials(trials, direction);
  const count = (state: TrialRecord['state']) => trials.filter((t) => t.state === state).length;
  const bestTrial = ranked.find((t) => t.state === 'completed' && t.modelId);
  return {
    searchId: spec.searchId,
    // DELETE answers at once; the coordinator settles the trials afterwards.
    state: cancelRequested && status.state === 'running' ? 'cancelled' : status.state,
    strategy: request.strategy,
    objective: { metric: request.objective.metric, direction },
    pruner: { ...request.pruner },
    seed: request.seed,
    budget: request.budget,
    progress: {
      proposed: trials.length,
      running: trials.filter((t) => !t.settled).length,
      completed: count('completed'),
      pruned: count('pruned'),
      failed: count('failed'),
      cancelled: count('cancelled'),
      epochs: trials.reduce((sum, t) => sum + t.epochsRun, 0),
    },
    ...(bestTrial
      ? {
          best: {
            trial: bestTrial.trial,
            jobId: bestTrial.jobId,
            modelId: bestTrial.modelId!,
            value: bestTrial.value!,
            settings: bestTrial.settings,
          },
        }
      : {}),
    createdAt: spec.createdAt,
    ...(status.finishedAt ? { finishedAt: status.finishedAt } : {}),
    ...(status.error ? { error: status.error } : {}),
    trials: ranked,
  };
}
