import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { metricsKey, type TrainingJobData, type TrainingJobResult } from '../../jobs/training-queue';
import { AppError } from '../errors';
import type { TrainingRequest } from '../schemas/training-request.schema';
import { diagnose, type Diagnosis } from '../training/diagnosis';
import { apiState, type ApiJobState } from '../training/job-view';
import { curvesChart, emptyChart, type ChartedEpoch, type EpochMarks } from './curves-chart';
import { renderSvg } from './vega';
import { findJob } from '../training-jobs/find-job';

/** Everything the curves and the report page show about one training job. */
export interface JobReport {
  jobId: string;
  state: ApiJobState;
  request: TrainingRequest;
  seed: number;
  createdAt: string;
  finishedAt?: string;
  error?: string;
  metrics: ChartedEpoch[];
  result?: TrainingJobResult;
  /** The job's diagnosis, or while it runs one computed from the epochs so far. */
  diagnosis?: Diagnosis;
  /** True when `diagnosis` was computed here from an unfinished run. */
  provisional: boolean;
}

export async function loadJobReport(
  queue: Queue<TrainingJobData, TrainingJobResult>,
  redis: Redis,
  prefix: string,
  jobId: string,
): Promise<JobReport> {
  const job = await findJob(queue, jobId);
  if (!job) throw new AppError('JOB_NOT_FOUND', { id: jobId });
  const [state, raw] = await Promise.all([job.getState(), redis.lrange(metricsKey(prefix, jobId), 0, -1)]);
  const metrics = raw.map((entry) => JSON.parse(entry) as ChartedEpoch);
  const result = job.returnvalue ?? undefined;
  const request = job.data.request;
  let diagnosis = result?.diagnosis;
  let provisional = false;
  if (!diagnosis && metrics.length > 0) {
    diagnosis = diagnose({ request, metrics, warnings: [] });
    provisional = true;
  }
  return {
    jobId,
    state: apiState(state, job.failedReason),
    request,
    seed: job.data.seed,
    createdAt: new Date(job.timestamp).toISOString(),
    ...(job.finishedOn ? { finishedAt: new Date(job.finishedOn).toISOString() } : {}),
    ...(apiState(state, job.failedReason) === 'failed' && job.failedReason ? { error: job.failedReason } : {}),
    metrics,
    result,
    diagnosis,
    provisional,
  };
}

/** The rules drawn on the curves: the best epoch (restored or not) and the stopping epoch. */
export function epochMarks(report: Pick<JobReport, 'result' | 'diagnosis'>): EpochMarks {
  const { result, diagnosis } = report;
  if (result?.bestEpoch !== undefined) {
    return {
      bestEpoch: result.bestEpoch,
      bestLabel: result.restoredBestWeights ? 'best, weights restored' : 'best',
      ...(result.stoppedEpoch !== undefined ? { stoppedEpoch: result.stoppedEpoch } : {}),
    };
  }
  const lowest = diagnosis?.evidence.valLossBestEpoch;
  return lowest !== undefined ? { bestEpoch: lowest, bestLabel: 'lowest validation loss' } : {};
}

/**
 * The job's curves as SVG. A job with no finished epoch yet gets a valid SVG that says so
 * (200, not 409), so a page or dashboard can show it before the first epoch ends.
 */
export async function jobCurvesSvg(report: JobReport): Promise<string> {
  const title = `Training curves · job ${report.jobId}`;
  if (report.metrics.length === 0) {
    return renderSvg(emptyChart(title, `No epoch has finished yet (job ${report.state}).`));
  }
  const verdict = report.diagnosis
    ? ` · ${report.provisional ? 'so far ' : ''}${report.diagnosis.verdict}`
    : '';
  const subtitle = `${report.request.task} · ${report.metrics.length} of ${report.request.training.epochs} epochs · ${report.state}${verdict}`;
  return renderSvg(curvesChart(report.metrics, { title, subtitle, marks: epochMarks(report) }));
}
