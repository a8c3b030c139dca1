import { z } from 'zod';
import { crossValidationResultSchema, evaluationResultSchema } from './evaluation.schema';

/**
 * A trained model as GET /v1/models/:modelId returns it. The parts the API promises are typed;
 * objects that grow with the training side (spec, diagnosis, sparsity) are open (`looseObject`),
 * so a field added there reaches clients without this schema silently dropping it.
 */

const featureEncodingSchema = z.union([
  z
    .object({ name: z.string(), type: z.literal('numeric'), mean: z.number(), std: z.number() })
    .meta({ description: 'Standardized: (x − mean) / std; a missing value becomes 0 (the mean).' }),
  z
    .object({ name: z.string(), type: z.literal('categorical'), categories: z.array(z.string()) })
    .meta({ description: 'One-hot over `categories`, in this order; missing or unseen is all zeros.' }),
]);

const targetEncodingSchema = z.union([
  z
    .object({
      name: z.string(),
      task: z.literal('classification'),
      classes: z.array(z.union([z.number(), z.string()])),
    })
    .meta({ description: 'Output unit i is the probability of classes[i].' }),
  z
    .object({ name: z.string(), task: z.literal('regression'), mean: z.number(), std: z.number() })
    .meta({ description: 'The network predicts (y − mean) / std.' }),
]);

export const preprocessingSchema = z
  .object({
    features: z.array(featureEncodingSchema),
    target: targetEncodingSchema,
    inputSize: z.number().int().meta({ description: 'Width of one encoded row.' }),
  })
  .meta({ description: 'Fitted on the training rows only; applied unchanged at prediction.' });

export const modelSchema = z.looseObject({
  id: z.string(),
  jobId: z.string(),
  createdAt: z.iso.datetime(),
  task: z.enum(['classification', 'regression']),
  target: z.string(),
  datasetId: z.string(),
  spec: z.looseObject({}).optional().meta({ description: 'The training request as trained, every default filled in.' }),
  seed: z.number().int().optional(),
  backend: z.string().optional().meta({ description: 'The TensorFlow.js backend that trained it.' }),
  preprocessing: preprocessingSchema.optional(),
  finalMetrics: z
    .looseObject({ epoch: z.number().int() })
    .optional()
    .meta({ description: 'The metrics of the epoch whose weights the model keeps.' }),
  epochsRun: z.number().int().optional(),
  crossValidation: crossValidationResultSchema.optional(),
  evaluation: evaluationResultSchema.optional().meta({
    description:
      'Metrics on the validation and test rows, calibration and decision threshold (applied by predict), importance',
  }),
  sparsity: z.looseObject({}).optional(),
  warnings: z.array(z.string()).optional(),
});

export const modelListSchema = z.object({ models: z.array(modelSchema) });

export const modelListQuerySchema = z.object({
  offset: z.coerce.number().int().min(0).default(0),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});
