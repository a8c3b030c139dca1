import { z } from 'zod';
import { jobStateSchema, timestampSchema } from './api.schema';

/**
 * Batch predictions: a stored dataset run through a stored model by a worker, a chunk of the
 * dataset at a time, the results kept for download as CSV (and optionally as a new dataset).
 * One schema per payload: the route validates the request with it, the enqueue helper builds the
 * job data with it, and the processor parses `job.data` with it again.
 */

export const batchPredictionRequestSchema = z.strictObject({
  modelId: z
    .string()
    .min(1)
    .max(128)
    .meta({
      description:
        'A model id, or a registered version: `name@alias` (e.g. `churn@production`) or `name@3`. Resolved once, ' +
        'when the batch is queued: the whole batch runs on that model, however the alias moves meanwhile.',
    }),
  datasetId: z.string().min(1).max(128),
  idColumns: z
    .array(z.string().min(1))
    .max(16)
    .optional()
    .meta({
      description:
        'Dataset columns copied into each result row to identify it. Default: the columns named `id` or ending ' +
        'in `_id` / `-id` (any case); when there are none, the row index (`row`, from 0).',
    }),
  saveAsDataset: z.boolean().default(false).meta({
    description: 'Also store the results as a new dataset (its id is in the status once completed).',
  }),
});
export type BatchPredictionRequest = z.infer<typeof batchPredictionRequestSchema>;

/** What the job carries: the request with the model resolved, the id columns fixed, and the sizes. */
export const batchPredictionJobDataSchema = z.object({
  modelRef: z.string(),
  modelId: z.string(),
  datasetId: z.string(),
  /** Empty: the row index. */
  idColumns: z.array(z.string()),
  saveAsDataset: z.boolean(),
  rows: z.number().int().min(0),
  chunks: z.number().int().min(0),
  /** Rows per chunk of the dataset (the last may hold fewer): chunk i starts at row i × chunkRows. */
  chunkRows: z.number().int().min(0),
  /** Classification: the model's classes, in output order (the probability columns). */
  classes: z.array(z.union([z.number(), z.string()])).optional(),
  createdAt: timestampSchema,
});
export type BatchPredictionJobData = z.infer<typeof batchPredictionJobDataSchema>;

export const batchPredictionProgressSchema = z.object({
  chunksDone: z.number().int().min(0),
  chunks: z.number().int().min(0),
  rowsDone: z.number().int().min(0),
  rows: z.number().int().min(0),
});
export type BatchPredictionProgress = z.infer<typeof batchPredictionProgressSchema>;

export interface BatchPredictionResult {
  rows: number;
  chunks: number;
  /** With saveAsDataset. */
  resultDatasetId?: string;
  /** Chunks already done when each later attempt started (a worker died, another took over). */
  resumedAt: number[];
}

export const enqueuedBatchPredictionSchema = z.object({
  batchId: z.string(),
  state: z.literal('waiting'),
  modelId: z.string().meta({ description: 'The model the batch runs on (what a `name@alias` resolved to)' }),
});

export const batchPredictionSchema = z.object({
  batchId: z.string(),
  state: jobStateSchema,
  modelId: z.string(),
  modelRef: z.string().meta({ description: 'The model as the request named it' }),
  datasetId: z.string(),
  idColumns: z.array(z.string()).meta({ description: 'Columns copied into the results; empty: the row index' }),
  progress: batchPredictionProgressSchema,
  createdAt: timestampSchema,
  finishedAt: timestampSchema.optional(),
  error: z.string().optional().meta({ description: 'Why the batch failed (state `failed`)' }),
  resultDatasetId: z.string().optional().meta({ description: 'With saveAsDataset, once completed' }),
  resumedAt: z.array(z.number().int()).optional().meta({
    description: 'Chunks already done when a later attempt took the batch over (after a worker died)',
  }),
  resultsUrl: z.string().optional().meta({ description: 'Once completed: where the CSV is' }),
});
export type BatchPredictionView = z.infer<typeof batchPredictionSchema>;
