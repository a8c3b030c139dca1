import { AppError } from '../errors';
import { parseModelRef, type ModelRegistry } from '../store/model-registry';
import type { TrainingJobRepository } from '../training-jobs/job-repository';
import { apiState } from '../training-jobs/contract';

/**
 * The model id a `/v1/models/{modelId}` path names: a model id as it is, or `name@alias` /
 * `name@3` resolved through the registry (one Redis round trip). A request resolves once, so it
 * runs entirely on the version the alias pointed to when it arrived, however the alias moves
 * meanwhile.
 */
export async function resolveModelRef(registry: ModelRegistry, ref: string): Promise<string> {
  const named = parseModelRef(ref);
  if (!named) return ref;
  return (await registry.resolve(named.name, named.version)).modelId;
}

/** The model a completed training job made; JOB_NOT_FOUND or JOB_HAS_NO_MODEL. */
export async function modelOfJob(jobs: TrainingJobRepository, jobId: string): Promise<string> {
  const stored = await jobs.read(jobId);
  if (!stored) throw new AppError('JOB_NOT_FOUND', { id: jobId });
  if (stored.kind !== 'queued') throw new AppError('JOB_HAS_NO_MODEL', { id: jobId, state: 'cancelled' });
  const modelId = stored.state === 'completed' ? stored.job.returnvalue?.modelId : undefined;
  if (!modelId)
    throw new AppError('JOB_HAS_NO_MODEL', { id: jobId, state: apiState(stored.state, stored.job.failedReason) });
  return modelId;
}
