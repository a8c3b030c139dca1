import { z } from 'zod';
import { ERROR_CODES } from '../errors';
import { crossValidationResultSchema, evaluationResultSchema, testMetricsSchema } from './evaluation.schema';

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
  contentHash: z.string().optional().meta({
    description:
      'sha256 of the stored data: the same data uploaded twice has the same hash. Absent on datasets stored by older versions.',
  }),
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

/** The diagnosis' verdicts (README, "Diagnosis"); src/training/diagnosis.ts decides between them. */
export const VERDICTS = ['overfit', 'underfit', 'good-fit', 'still-improving', 'inconclusive', 'wrong-task'] as const;

/**
 * One epoch's numbers; the field names are stable API. Every training figure that has a
 * validation twin (trainLoss, accuracy, mae) is measured like it: inference mode (dropout off,
 * running statistics), the weights at the end of the epoch.
 */
export const epochMetricsSchema = z.object({
  epoch: z.number().int(),
  trainingModeLoss: z.number().meta({
    description:
      "Mean data loss over the epoch's training batches as trained on (training mode: dropout on, batch statistics; no penalty). Not comparable with valLoss: trainLoss is",
  }),
  penalty: z.number().meta({ description: 'The L1/L2 term at the end of the epoch' }),
  trainLoss: z
    .number()
    .meta({ description: 'Data loss on the training rows in inference mode, comparable with valLoss' }),
  valLoss: z.number().optional().meta({ description: 'Data loss on the validation rows in inference mode' }),
  valLossStdError: z.number().optional().meta({
    description: 'Standard error of valLoss: standard deviation of the per-row validation losses / √(validation rows)',
  }),
  gap: z.number().optional().meta({ description: 'valLoss − trainLoss' }),
  accuracy: z
    .number()
    .optional()
    .meta({ description: 'Classification: accuracy on the training rows in inference mode' }),
  valAccuracy: z
    .number()
    .optional()
    .meta({ description: 'Classification: accuracy on the validation rows in inference mode' }),
  mae: z
    .number()
    .optional()
    .meta({ description: "Regression: MAE on the training rows in inference mode, in the target's units" }),
  valMae: z
    .number()
    .optional()
    .meta({ description: "Regression: MAE on the validation rows in inference mode, in the target's units" }),
  kernelL2: z.number().meta({ description: 'L2 norm of all kernels' }),
  zeroShare: z.number().meta({ description: 'Share of kernel weights that are exactly zero' }),
  durationMs: z.number(),
  learningRate: z
    .number()
    .optional()
    .meta({ description: "The learning rate of the epoch's last step (absent in metrics stored before it existed)" }),
});

/**
 * One epoch's metrics as the API, the event stream and Redis hold them: the schema is the one
 * source. ml/ keeps its own plain type for what the trainer reports (src/ml/trainer.ts, no zod in
 * ml/); src/training/ml-types.ts checks at compile time that the two are the same shape.
 */
export type EpochMetrics = z.infer<typeof epochMetricsSchema>;

/**
 * One epoch's metrics as read back from Redis (a job's metrics list, a checkpoint, a model's
 * meta), in today's shape. Versions before `trainingModeLoss` stored the training-mode loss as
 * `loss`, and their `accuracy`/`mae` were training-mode figures too: `loss` becomes
 * `trainingModeLoss`, and those `accuracy`/`mae` are dropped rather than passed off as the
 * inference-mode values the names now stand for. Anything else is left as it is.
 */
export function upgradeStoredEpochMetrics(stored: unknown): EpochMetrics {
  if (typeof stored !== 'object' || stored === null) return stored as EpochMetrics;
  const fields = stored as Record<string, unknown>;
  if (!('loss' in fields) || 'trainingModeLoss' in fields) return stored as EpochMetrics;
  const { loss, accuracy: _trainingModeAccuracy, mae: _trainingModeMae, ...rest } = fields;
  return { ...rest, trainingModeLoss: loss } as EpochMetrics;
}

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
  testMetrics: testMetricsSchema.optional(),
  evaluation: evaluationResultSchema
    .optional()
    .meta({ description: 'The kept model on the validation and test rows (README, "Evaluation")' }),
  crossValidation: crossValidationResultSchema
    .optional()
    .meta({ description: 'With validation.folds: per-fold, mean ± sd and out-of-fold metrics' }),
  diagnosis: z.looseObject({ verdict: z.enum(VERDICTS) }).optional(),
  sparsity: z.looseObject({ zeroShare: z.number() }).optional(),
  resumedAt: z.array(z.number().int()).optional(),
  attempts: z.number().int(),
  createdAt: timestampSchema,
  finishedAt: timestampSchema.optional(),
});

export const enqueuedJobSchema = z.object({
  jobId: z.string(),
  state: z.literal('waiting'),
  warnings: z.array(z.string()).optional().meta({
    description:
      'Doubtful uses of the target found at submission (README, "Warnings at submission"); the job\'s result repeats them',
  }),
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
  warnings: z.array(z.string()).optional().meta({
    description: 'Input accepted but probably not meant: a category not seen in training, a key that is no feature',
  }),
  drift: z
    .object({
      k: z.number().meta({ description: 'PREDICT_DRIFT_K: the threshold in training standard deviations' }),
      rows: z.number().int(),
      outOfRange: z.record(z.string(), z.number().int()).meta({
        description: 'Numeric feature → values more than k training standard deviations from the training mean',
      }),
      unseenCategories: z.number().int().meta({ description: 'Categorical values not seen in training' }),
    })
    .optional()
    .meta({ description: "With ?explain=drift: how far this request's input is from the training data" }),
});

export const predictQuerySchema = z.object({
  explain: z.enum(['drift']).optional().meta({ description: '"drift": add the request\'s drift counts to the answer' }),
});
