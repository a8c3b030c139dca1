import { z } from 'zod';
import { ERROR_CODES } from '../errors';

/** Shapes of the API's requests and responses other than the training request. */

export const errorSchema = z.object({
  error: z.object({
    code: z.enum(ERROR_CODES).meta({ description: 'Stable: clients may switch on it.' }),
    message: z.string(),
  }),
});

/** An instant as ISO 8601 in UTC, as Date.prototype.toISOString writes it. */
export const timestampSchema = z.iso.datetime();

export const columnSchema = z.object({
  name: z.string(),
  type: z.enum(['numeric', 'categorical']),
});

export const datasetSchema = z.object({
  id: z.string(),
  rows: z.number().int(),
  columns: z.array(columnSchema),
  createdAt: timestampSchema,
});

export const jsonDatasetSchema = z.object({
  rows: z.array(z.unknown(), { error: 'rows must be an array of objects' }),
});

/**
 * Longest id in a path. The server's maxParamLength is the same, so a longer one is a 414 before
 * routing rather than a 400 from this schema.
 */
export const MAX_ID_LENGTH = 128;

export const idParams = (name: string) => z.object({ [name]: z.string().min(1).max(MAX_ID_LENGTH) });

export const jobStateSchema = z.enum(['waiting', 'active', 'completed', 'failed', 'cancelled']);

/** One epoch's numbers; the field names are stable API. */
export const epochMetricsSchema = z.object({
  epoch: z.number().int(),
  loss: z.number().meta({ description: 'Mean training-mode data loss over the epoch (dropout on, no penalty)' }),
  penalty: z.number().meta({ description: 'The L1/L2 term at the end of the epoch' }),
  trainLoss: z.number().meta({ description: 'Data loss on the training rows in inference mode' }),
  valLoss: z.number().optional(),
  gap: z.number().optional().meta({ description: 'valLoss − trainLoss' }),
  accuracy: z.number().optional(),
  valAccuracy: z.number().optional(),
  mae: z.number().optional(),
  valMae: z.number().optional(),
  kernelL2: z.number().meta({ description: 'L2 norm of all kernels' }),
  zeroShare: z.number().meta({ description: 'Share of kernel weights that are exactly zero' }),
  durationMs: z.number(),
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
    .object({ loss: z.number(), accuracy: z.number().optional(), mae: z.number().optional() })
    .optional(),
  diagnosis: z.looseObject({ verdict: z.enum(['overfit', 'underfit', 'good-fit']) }).optional(),
  sparsity: z.looseObject({ zeroShare: z.number() }).optional(),
  resumedAt: z.array(z.number().int()).optional(),
  attempts: z.number().int(),
  createdAt: timestampSchema,
  finishedAt: timestampSchema.optional(),
});

export const enqueuedJobSchema = z.object({ jobId: z.string(), state: z.literal('waiting') });

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
  warnings: z
    .array(z.string())
    .optional()
    .meta({ description: 'Input accepted but probably not meant: a category not seen in training, a key that is no feature' }),
});
