import type { Queue } from 'bullmq';
import type { BatchPredictionJobData, BatchPredictionResult } from '../schemas/batch-prediction.schema';
import type { TrainingJobData, TrainingJobResult } from './contract';

/** BullMQ states of a job that has yet to read its dataset, or is reading it. */
const UNFINISHED = ['waiting', 'active', 'delayed', 'prioritized', 'waiting-children'] as const;

/**
 * Ids of the unfinished training jobs (sweep runs included: they are training jobs) that train on
 * `datasetId`. A scan of the unfinished jobs, which are few next to the finished ones; a job
 * enqueued after the scan and before a delete fails with DATASET_NOT_FOUND when it starts.
 */
export async function jobsUsingDataset(
  queue: Queue<TrainingJobData, TrainingJobResult>,
  datasetId: string,
): Promise<string[]> {
  const jobs = await queue.getJobs([...UNFINISHED]);
  return jobs.filter((job) => job?.data?.request?.datasetId === datasetId).map((job) => job.id!);
}

/**
 * Ids of the unfinished batch predictions (waiting, active, delayed or retrying) that read
 * `datasetId`, found the same way as `jobsUsingDataset`; a batch that starts after its dataset
 * was deleted fails with DATASET_NOT_FOUND.
 */
export async function batchPredictionsUsingDataset(
  queue: Queue<BatchPredictionJobData, BatchPredictionResult>,
  datasetId: string,
): Promise<string[]> {
  const jobs = await queue.getJobs([...UNFINISHED]);
  return jobs.filter((job) => job?.data?.datasetId === datasetId).map((job) => job.id!);
}
