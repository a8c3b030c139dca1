import type { Job, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { z } from 'zod';
import type { sweepViewSchema } from '../schemas/sweep.schema';
import { apiState, type TrainingJobData, type TrainingJobResult } from '../training-jobs/contract';
import { metricsKey } from '../training-jobs/keys';
import type { SweepJobData, SweepJobResult, SweepRow } from '../training-jobs/sweep-contract';
import { AppError } from '../errors';
import type { ChartedEpoch } from '../report/curves-chart';
import { rankRows, sweepRow } from './sweep-table';
import { readStoredMetricsInSlices } from '../training/stored-metrics';
import { findJob } from '../training-jobs/find-job';

/**
 * A sweep's progress; when it is done, its runs ranked best first. The response schema
 * (`sweepViewSchema`) is the source of every field; only the rows are typed tighter here than the
 * schema's open row object: `runs` is every run in grid order, with its state (and its numbers
 * once finished), `table` (when the sweep is completed) the runs best first (validation loss,
 * ties by gap).
 */
export type SweepView = Omit<z.infer<typeof sweepViewSchema>, 'runs' | 'table'> & {
  runs: SweepRow[];
  table?: SweepRow[];
};

export type SweepState = SweepView['state'];

export async function sweepJob(
  sweeps: Queue<SweepJobData, SweepJobResult>,
  sweepId: string,
): Promise<Job<SweepJobData, SweepJobResult>> {
  const job = await findJob(sweeps, sweepId);
  if (!job) throw new AppError('SWEEP_NOT_FOUND', { id: sweepId });
  return job;
}

export async function describeSweep(
  sweeps: Queue<SweepJobData, SweepJobResult>,
  training: Queue<TrainingJobData, TrainingJobResult>,
  sweepId: string,
): Promise<SweepView> {
  const job = await sweepJob(sweeps, sweepId);
  const state = await job.getState();
  const finished: SweepRow[] | undefined = state === 'completed' ? job.returnvalue?.table : undefined;
  // While it runs, each training job is asked; once done, the parent's table is the record
  // (it outlives the training jobs, which are removed after JOB_KEEP_SECONDS).
  const runs = finished
    ? job.data.runs.map((run) => finished.find((row) => row.jobId === run.jobId) ?? sweepRow(run, 'failed'))
    : await Promise.all(
        job.data.runs.map(async (run) => {
          const child = await training.getJob(run.jobId);
          if (!child) return sweepRow(run, 'failed', undefined, 'the training job no longer exists');
          const childState = apiState(await child.getState(), child.failedReason);
          return sweepRow(
            run,
            childState,
            child.returnvalue ?? undefined,
            childState === 'failed' ? child.failedReason : undefined,
          );
        }),
      );
  const count = (states: string[]) => runs.filter((r) => states.includes(r.state)).length;
  const sweepState: SweepState = state === 'completed' ? 'completed' : state === 'failed' ? 'failed' : 'running';
  return {
    sweepId,
    state: sweepState,
    progress: {
      total: runs.length,
      completed: count(['completed']),
      failed: count(['failed', 'cancelled']),
      active: count(['active']),
      waiting: count(['waiting']),
    },
    seed: job.data.seed,
    grid: job.data.grid,
    createdAt: new Date(job.timestamp).toISOString(),
    ...(job.finishedOn ? { finishedAt: new Date(job.finishedOn).toISOString() } : {}),
    ...(state === 'failed' && job.failedReason ? { error: job.failedReason } : {}),
    runs: runs.map(({ diagnosis: _omitted, ...light }) => light),
    ...(finished ? { table: rankRows(finished) } : {}),
  };
}

/** The per-epoch metrics of every run, in grid order (empty lists for runs not started). */
export async function sweepCurves(
  redis: Redis,
  prefix: string,
  job: Job<SweepJobData, SweepJobResult>,
): Promise<{ jobId: string; settings: Record<string, unknown>; metrics: ChartedEpoch[] }[]> {
  const pipeline = redis.pipeline();
  for (const run of job.data.runs) pipeline.lrange(metricsKey(prefix, run.jobId), 0, -1);
  const lists = (await pipeline.exec()) ?? [];
  // Each run's list (up to 10,000 entries) is read in blocks with turns of the event loop between them.
  const curves: { jobId: string; settings: Record<string, unknown>; metrics: ChartedEpoch[] }[] = [];
  for (const [i, run] of job.data.runs.entries()) {
    curves.push({ ...run, metrics: await readStoredMetricsInSlices((lists[i]?.[1] as string[] | undefined) ?? []) });
  }
  return curves;
}
