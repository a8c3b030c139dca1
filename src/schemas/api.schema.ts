import { z } from 'zod';

/** Shapes of the API's requests and responses other than the training request. */

export const errorSchema = z.object({
  error: z.object({ code: z.string(), message: z.string() }),
});

export const columnSchema = z.object({
  name: z.string(),
  type: z.enum(['numeric', 'categorical']),
});

export const datasetSchema = z.object({
  id: z.string(),
  rows: z.number().int(),
  columns: z.array(columnSchema),
  createdAt: z.string(),
});

export const jsonDatasetSchema = z.object({
  rows: z.array(z.unknown(), { error: 'rows must be an array of objects' }),
});

export const idParams = (name: string) => z.object({ [name]: z.string().min(1).max(128) });

export const jobStateSchema = z.enum(['waiting', 'active', 'completed', 'failed', 'cancelled']);

/** The diagnosis' verdicts (README, "Diagnosis"); src/training/diagnosis.ts decides between them. */
export const VERDICTS = ['overfit', 'underfit', 'good-fit', 'still-improving', 'inconclusive', 'wrong-task'] as const;

/** One epoch's numbers; the field names are stable API. */
export const epochMetricsSchema = z.object({
  epoch: z.number().int(),
  loss: z.number().meta({ description: 'Mean training-mode data loss over the epoch (dropout on, no penalty)' }),
  penalty: z.number().meta({ description: 'The L1/L2 term at the end of the epoch' }),
  trainLoss: z.number().meta({ description: 'Data loss on the training rows in inference mode' }),
  valLoss: z.number().optional(),
  valLossStdError: z
    .number()
    .optional()
    .meta({ description: 'Standard error of valLoss: standard deviation of the per-row validation losses / √(validation rows)' }),
  gap: z.number().optional().meta({ description: 'valLoss − trainLoss' }),
  accuracy: z.number().optional(),
  valAccuracy: z.number().optional(),
  mae: z.number().optional(),
  valMae: z.number().optional(),
  kernelL2: z.number().meta({ description: 'L2 norm of all kernels' }),
  zeroShare: z.number().meta({ description: 'Share of kernel weights that are exactly zero' }),
  durationMs: z.number(),
  learningRate: z
    .number()
    .optional()
    .meta({ description: "The learning rate of the epoch's last step (absent in metrics stored before it existed)" }),
});

export const trainingJobSchema = z.object({
  jobId: z.string(),
  state: jobStateSchema,
  progress: z.object({ epoch: z.number().int(), epochs: z.number().int() }),
  metrics: z.array(epochMetricsSchema),
  modelId: z.string().optional(),
  seed: z.number().int().optional(),
  warnings: z.array(z.string()).optional(),
  error: z.string().optional(),
  bestEpoch: z.number().int().optional(),
  stoppedEpoch: z.number().int().optional(),
  restoredBestWeights: z.boolean().optional(),
  testMetrics: z
    .object({
      loss: z.number(),
      lossStdError: z.number().optional().meta({ description: 'Standard error of loss: per-row loss standard deviation / √(test rows)' }),
      accuracy: z.number().optional(),
      mae: z.number().optional(),
    })
    .optional(),
  diagnosis: z.looseObject({ verdict: z.enum(VERDICTS) }).optional(),
  sparsity: z.looseObject({ zeroShare: z.number() }).optional(),
  resumedAt: z.array(z.number().int()).optional(),
  attempts: z.number().int(),
  createdAt: z.string(),
  finishedAt: z.string().optional(),
});

export const enqueuedJobSchema = z.object({
  jobId: z.string(),
  state: z.literal('waiting'),
  warnings: z
    .array(z.string())
    .optional()
    .meta({ description: 'Doubtful uses of the target found at submission (README, "Warnings at submission"); the job\'s result repeats them' }),
});

export const predictRequestSchema = z
  .object({
    rows: z.array(z.unknown()).optional(),
    inputs: z.array(z.unknown()).optional(),
  })
  .strict()
  .refine((body) => (body.rows === undefined) !== (body.inputs === undefined), {
    error: 'send exactly one of "rows" (objects with named features) or "inputs" (arrays of values in feature order)',
  });

export const predictResponseSchema = z.object({
  predictions: z.array(z.union([z.number(), z.string()])),
  probabilities: z.array(z.array(z.number())).optional(),
  classes: z.array(z.union([z.number(), z.string()])).optional(),
});
