import { z } from 'zod';
import { jobStateSchema, MAX_ID_LENGTH, timestampSchema } from './api.schema';

/** Shapes of GET /v1/training-jobs: the filters, one job as listed, the page. */

export const trainingJobListQuerySchema = z.object({
  state: jobStateSchema
    .optional()
    .meta({ description: 'Only jobs in this state (as GET /v1/training-jobs/{jobId} reports it)' }),
  datasetId: z
    .string()
    .min(1)
    .max(MAX_ID_LENGTH)
    .optional()
    .meta({ description: 'Only jobs that train on this dataset' }),
  offset: z.coerce.number().int().min(0).default(0),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

/** A job as listed: what tells jobs apart, without the per-epoch metrics and the result (GET one job for those). */
export const trainingJobSummarySchema = z.object({
  jobId: z.string(),
  state: jobStateSchema,
  datasetId: z
    .string()
    .optional()
    .meta({ description: 'Absent only for a job cancelled while waiting by a version that kept no request' }),
  progress: z.object({ epoch: z.number().int(), epochs: z.number().int() }),
  attempts: z.number().int(),
  createdAt: timestampSchema,
  finishedAt: timestampSchema.optional(),
  modelId: z.string().optional().meta({ description: 'Completed jobs: the trained model' }),
  error: z.string().optional().meta({ description: 'Failed jobs: why' }),
});

export const trainingJobListSchema = z.object({
  jobs: z.array(trainingJobSummarySchema),
  total: z.number().int().min(0).meta({ description: 'Jobs that match the filters, for paging' }),
});

export type TrainingJobSummary = z.infer<typeof trainingJobSummarySchema>;
export type TrainingJobListQuery = z.infer<typeof trainingJobListQuerySchema>;
