import type { EpochMetrics } from '../schemas/api.schema';
import type { TrainingRequest } from '../schemas/training-request.schema';
import { CANCELLED_REASON } from '../training-jobs/contract';
import type { StoredJob } from '../training-jobs/job-repository';
import { readStoredMetrics } from '../training/stored-metrics';
import { judge } from './pruners';
import { createSampler, type Sampler } from './samplers';
import { objectiveDirection } from './search-view';
import { trialJobId, type SearchSpec, type SearchStore, type TrialRecord } from './search-store';
import { applySettings } from './space';

/**
 * One pass of a search's coordinator over its state in Redis: read every unsettled trial's job
 * and metrics, judge running trials with the pruner (and cancel the losers through the
 * training jobs' cancellation path), record finished ones, and propose and start new trials up
 * to the budget. Every pass starts from Redis alone, so a coordinator that lost its worker is
 * replaced by another that continues with the next pass; a trial is recorded (HSETNX) before
 * its job is added under the trial's fixed job id, so it is started at most once.
 */

/** What the coordinator needs of the training queue (jobs/ wires it to BullMQ). */
export interface TrialJobs {
  /** Adds the training job; a job id already in the queue is left as it is (BullMQ's rule). */
  start(jobId: string, request: TrainingRequest, seed: number): Promise<void>;
  read(jobId: string): Promise<StoredJob | null>;
  /** Cancels the job if it has not finished (the cancel flag, or removal while waiting). */
  cancel(jobId: string): Promise<void>;
}

export interface CoordinatorDeps {
  store: SearchStore;
  jobs: TrialJobs;
  now?: () => number;
}

export type PassOutcome = 'running' | 'finished';

const UNSETTLED_RUNNING = new Set(['proposed', 'waiting', 'active']);

export async function coordinate(deps: CoordinatorDeps, searchId: string): Promise<PassOutcome> {
  const { store, jobs } = deps;
  const now = deps.now ?? Date.now;
  const spec = await store.spec(searchId);
  if (!spec) return 'finished';
  const status = await store.status(searchId);
  if (status.state !== 'running') return 'finished';
  const { request } = spec;
  const direction = objectiveDirection(request.objective);
  const cancelled = await store.cancelRequested(searchId);
  const deadline = request.budget.maxDurationSeconds
    ? Date.parse(spec.createdAt) + request.budget.maxDurationSeconds * 1000
    : Infinity;
  const outOfTime = now() >= deadline;
  const trials = await store.trials(searchId);

  // 1. Follow the unsettled trials.
  for (const trial of trials.filter((t) => !t.settled)) {
    const before = JSON.stringify(trial);
    await follow(deps, spec, trial, direction, !cancelled && !outOfTime);
    if ((cancelled || outOfTime) && !trial.settled && UNSETTLED_RUNNING.has(trial.state)) {
      await jobs.cancel(trial.jobId);
      trial.state = 'cancelled';
      trial.error = cancelled ? 'the search was cancelled' : 'the search reached budget.maxDurationSeconds';
    }
    if (JSON.stringify(trial) !== before) await store.saveTrial(searchId, trial);
  }

  // 2. Prune: each running trial against every trial's curve.
  if (request.pruner.type !== 'none' && !cancelled) {
    const curves = trials.map((t) => ({ trial: t.trial, curve: t.curve }));
    for (const trial of trials.filter((t) => t.state === 'active' && !t.settled)) {
      const decision = judge(
        request.pruner,
        { trial: trial.trial, curve: trial.curve },
        curves,
        trial.judgedThrough,
        request.base.training.epochs,
      );
      if (decision.judgedThrough === trial.judgedThrough && decision.prunedAtEpoch === undefined) continue;
      trial.judgedThrough = decision.judgedThrough;
      if (decision.prunedAtEpoch !== undefined) {
        // Recorded first: a coordinator that dies here still knows why the job stopped.
        trial.state = 'pruned';
        trial.prunedAtEpoch = decision.prunedAtEpoch;
        await store.saveTrial(searchId, trial);
        await jobs.cancel(trial.jobId);
      } else {
        await store.saveTrial(searchId, trial);
      }
    }
  }

  // 3. Propose and start new trials.
  if (!cancelled && !outOfTime) {
    const sampler = createSampler(request.strategy, request.space, request.seed);
    let running = trials.filter((t) => !t.settled).length;
    while (running < request.budget.maxParallel && trials.length < maxTrials(request, sampler)) {
      const k = trials.length;
      const settings = sampler.propose(
        k,
        trials.map((t) => samplerView(t, direction)),
      );
      if (!settings) break;
      const proposed = await store.propose(searchId, newTrial(searchId, k, settings));
      trials.push(proposed);
      running++;
      if (proposed.state === 'proposed') await startTrial(deps, spec, proposed);
    }
  }

  // 4. Finished when every trial has settled and no more will start.
  const current = await store.trials(searchId);
  const sampler = createSampler(request.strategy, request.space, request.seed);
  const exhausted = cancelled || outOfTime || current.length >= maxTrials(request, sampler);
  if (!exhausted || current.some((t) => !t.settled)) return 'running';
  const finishedAt = new Date(now()).toISOString();
  if (cancelled) await store.setStatus(searchId, { state: 'cancelled', finishedAt });
  else if (current.some((t) => t.state === 'completed'))
    await store.setStatus(searchId, { state: 'completed', finishedAt });
  else await store.setStatus(searchId, { state: 'failed', finishedAt, error: 'no trial completed' });
  return 'finished';
}

function maxTrials(request: SearchSpec['request'], sampler: Sampler): number {
  return Math.min(request.budget.maxTrials, sampler.size ?? Infinity);
}

function newTrial(searchId: string, trial: number, settings: Record<string, unknown>): TrialRecord {
  return {
    trial,
    jobId: trialJobId(searchId, trial),
    settings,
    state: 'proposed',
    settled: false,
    curve: [],
    judgedThrough: 0,
    epochsRun: 0,
  };
}

/** Adds the trial's job (a second add of the same job id is a no-op), then records it as waiting. */
async function startTrial(deps: CoordinatorDeps, spec: SearchSpec, trial: TrialRecord): Promise<void> {
  let request: TrainingRequest;
  try {
    request = applySettings(spec.request.base, trial.settings);
  } catch (error) {
    // Settings the space checks at submission could not catch (a combination): the trial fails.
    trial.state = 'failed';
    trial.settled = true;
    trial.error = error instanceof Error ? error.message : String(error);
    await deps.store.saveTrial(spec.searchId, trial);
    return;
  }
  // A failure to add the job (Redis away) fails the pass, not the trial: it stays proposed, and
  // the coordinator's retry starts it.
  await deps.jobs.start(trial.jobId, request, spec.request.seed);
  trial.state = 'waiting';
  await deps.store.saveTrial(spec.searchId, trial);
}

/** Brings one unsettled trial up to date with its job: curve, epochs, and the end when it came. */
async function follow(
  deps: CoordinatorDeps,
  spec: SearchSpec,
  trial: TrialRecord,
  direction: 'minimize' | 'maximize',
  mayStart: boolean,
): Promise<void> {
  const stored = await deps.jobs.read(trial.jobId);
  if (!stored) {
    // Proposed, but its coordinator died before the job was added: add it now.
    if (trial.state === 'proposed' && mayStart) await startTrial(deps, spec, trial);
    else if (trial.state === 'proposed' || trial.state === 'cancelled') settle(trial, 'cancelled');
    else if (trial.state === 'pruned') settle(trial, 'pruned');
    else settle(trial, 'failed', 'the training job is gone (expired before the search read its end)');
    return;
  }
  if (stored.kind === 'cancelled-waiting') {
    trial.epochsRun = 0;
    settle(trial, trial.state === 'pruned' ? 'pruned' : 'cancelled');
    return;
  }
  const metric = spec.request.objective.metric;
  const metrics = readStoredMetrics(stored.rawMetrics);
  trial.epochsRun = metrics.length;
  trial.curve = curveOf(metrics, metric, direction);
  if (trial.curve.length) trial.value = toValue(trial.curve[trial.curve.length - 1], direction);
  const { job, state } = stored;
  if (state === 'completed' && trial.state === 'pruned') {
    // It finished before the cancellation reached it: the pruner's verdict at the rung stands.
    settle(trial, 'pruned');
  } else if (state === 'completed') {
    const result = job.returnvalue;
    const modelEpoch = result.restoredBestWeights && result.bestEpoch ? result.bestEpoch : metrics.length;
    const kept = metrics[modelEpoch - 1]?.[metric];
    trial.value = typeof kept === 'number' ? kept : undefined;
    trial.modelId = result.modelId;
    trial.diagnosis = result.diagnosis;
    trial.testMetrics = result.testMetrics;
    settle(trial, 'completed');
  } else if (state === 'failed') {
    if (job.failedReason === CANCELLED_REASON) settle(trial, trial.state === 'pruned' ? 'pruned' : 'cancelled');
    else settle(trial, 'failed', job.failedReason);
  } else if (trial.state !== 'pruned' && trial.state !== 'cancelled') {
    trial.state = state === 'active' ? 'active' : 'waiting';
  }
}

function settle(trial: TrialRecord, state: TrialRecord['state'], error?: string): void {
  trial.state = state;
  trial.settled = true;
  if (error) trial.error = error;
}

export function curveOf(metrics: EpochMetrics[], metric: string, direction: 'minimize' | 'maximize'): number[] {
  const curve: number[] = [];
  for (const epoch of metrics) {
    const value = (epoch as unknown as Record<string, number | undefined>)[metric];
    if (typeof value !== 'number') break;
    curve.push(direction === 'minimize' ? value : -value);
  }
  return curve;
}

function toValue(loss: number, direction: 'minimize' | 'maximize'): number {
  return direction === 'minimize' ? loss : -loss;
}

/** A trial as the sampler sees it: settled trials with their objective as a loss. */
function samplerView(t: TrialRecord, direction: 'minimize' | 'maximize') {
  const last = t.curve[t.curve.length - 1];
  const loss =
    t.state === 'completed' && t.value !== undefined ? (direction === 'minimize' ? t.value : -t.value) : last;
  return {
    trial: t.trial,
    settings: t.settings,
    state: t.settled ? t.state : 'active',
    loss,
    epochsRun: t.epochsRun,
  } as const;
}
