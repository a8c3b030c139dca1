import { apiState, type ApiJobState, type TrainingJobResult } from '../training-jobs/contract';
import type { TrainingJobRepository } from '../training-jobs/job-repository';
import { AppError } from '../errors';
import type { TrainingRequest } from '../schemas/training-request.schema';
import { diagnose, type Diagnosis } from '../training/diagnosis';
import { curvesChart, emptyChart, type ChartedEpoch, type EpochMarks } from './curves-chart';
import { renderSvg } from './vega';
import { readStoredMetricsInSlices } from '../training/stored-metrics';

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

export async function loadJobReport(jobs: TrainingJobRepository, jobId: string): Promise<JobReport> {
  const stored = await jobs.read(jobId);
  // A record of a cancelled waiting job written before it kept the request cannot be reported.
  if (!stored || (stored.kind === 'cancelled-waiting' && !stored.data)) {
    throw new AppError('JOB_NOT_FOUND', { id: jobId });
  }
  if (stored.kind === 'cancelled-waiting') {
    // Removed from the queue before it ran: no epoch, no result.
    const { view, data } = stored;
    return {
      jobId,
      state: view.state,
      request: data!.request,
      seed: data!.seed,
      createdAt: view.createdAt,
      finishedAt: view.finishedAt,
      metrics: [],
      provisional: false,
    };
  }
  const { job, state, rawMetrics: raw } = stored;
  // Up to 10,000 entries: read in blocks with turns of the event loop between them.
  const metrics: ChartedEpoch[] = await readStoredMetricsInSlices(raw);
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
  const verdict = report.diagnosis ? ` · ${report.provisional ? 'so far ' : ''}${report.diagnosis.verdict}` : '';
  const subtitle = `${report.request.task} · ${report.metrics.length} of ${report.request.training.epochs} epochs · ${report.state}${verdict}`;
  return renderSvg(curvesChart(report.metrics, { title, subtitle, marks: epochMarks(report) }));
}
