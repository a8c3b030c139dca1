import { z } from 'zod';

/**
 * The training request: the one source of truth. The route validates the body with it, the
 * enqueue helper stores the parsed (defaulted) value, and the worker parses `job.data` with it
 * again. Shorthand forms ("batch", 0.3) are normalized into their object forms here, so the ML
 * code only ever sees one shape.
 */

export const ACTIVATIONS = ['relu', 'tanh', 'sigmoid', 'elu', 'selu', 'linear'] as const;
export const NORMALIZATIONS = ['none', 'batch', 'layer'] as const;
export const OPTIMIZERS = ['adam', 'sgd', 'rmsprop'] as const;

const probability = (field: string) =>
  z
    .number({ error: `${field} must be a number` })
    .min(0, { error: `${field} must be in [0, 1): it is the probability of dropping a unit` })
    .lt(1, { error: `${field} must be in [0, 1): a rate of 1 would drop every unit` });

const penalty = (field: string) =>
  z
    .number({ error: `${field} must be a number` })
    .min(0, { error: `${field} must be >= 0: a negative penalty rewards large weights` })
    .max(10, { error: `${field} must be <= 10` });

export const L0_MESSAGE =
  'L0 regularization (counting non-zero weights) is not supported: minimizing it is NP-hard. ' +
  'Use regularization.l1 instead, which drives weights to exactly zero and gives a sparse model.';

export const batchNormSchema = z
  .object({
    type: z.literal('batch'),
    /** Keras convention: running = momentum·running + (1−momentum)·batch. Default 0.99. */
    momentum: z.number().gt(0).lt(1).default(0.99),
    /** Added to the variance before the square root. Default 0.001 (Keras). */
    epsilon: z.number().gt(0).max(1).default(1e-3),
  })
  .strict();

export const layerNormSchema = z
  .object({
    type: z.literal('layer'),
    /** Default 0.001 (Keras). */
    epsilon: z.number().gt(0).max(1).default(1e-3),
  })
  .strict();

export const noNormSchema = z.object({ type: z.literal('none') }).strict();

const normalizationObject = z.discriminatedUnion(
  'type',
  [noNormSchema, batchNormSchema, layerNormSchema],
  { error: `normalization.type must be one of ${NORMALIZATIONS.join(', ')}` },
);

export const normalizationSchema = z
  .union([
    z.enum(NORMALIZATIONS, {
      error: (issue) =>
        `Expected one of ${NORMALIZATIONS.join(', ')}, received ${JSON.stringify(issue.input)}`,
    }),
    normalizationObject,
  ])
  .transform((value) => (typeof value === 'string' ? normalizationObject.parse({ type: value }) : value));

export const dropoutSchema = z
  .union([
    probability('dropout'),
    z
      .object({
        rate: probability('dropout.rate'),
        kind: z.literal('inverted').default('inverted'),
      })
      .strict(),
  ])
  .transform((value) => (typeof value === 'number' ? { rate: value, kind: 'inverted' as const } : value));

export const hiddenLayerSchema = z
  .object({
    units: z.number().int().min(1).max(4096),
    activation: z.enum(ACTIVATIONS).default('relu'),
    normalization: normalizationSchema.default({ type: 'none' }),
    dropout: dropoutSchema.default({ rate: 0, kind: 'inverted' }),
  })
  .strict();

export const regularizationSchema = z
  .object({
    /** Weight of α·Σ|w| over kernels. */
    l1: penalty('regularization.l1').default(0),
    /** Weight of α·Σw² over kernels. */
    l2: penalty('regularization.l2').default(0),
    /** Named only to be refused with a clear explanation. */
    l0: z.undefined({ error: L0_MESSAGE }).optional(),
  })
  .strict();

export const trainingOptionsSchema = z
  .object({
    epochs: z.number().int().min(1).max(10_000).default(20),
    batchSize: z.number().int().min(1).max(65_536).default(32),
    optimizer: z.enum(OPTIMIZERS).default('adam'),
    learningRate: z.number().gt(0).max(10).default(1e-3),
    validationSplit: z.number().min(0).max(0.9).default(0.2),
    /** Omit for a random seed; the seed used is recorded with the model either way. */
    seed: z.number().int().min(0).max(2 ** 31 - 1).optional(),
  })
  .strict();

export const trainingRequestSchema = z
  .object({
    datasetId: z.string().min(1).max(128),
    target: z.string().min(1).max(256),
    task: z.enum(['classification', 'regression']),
    model: z
      .object({
        hidden: z.array(hiddenLayerSchema).max(16).prefault([{ units: 64 }]),
      })
      .strict()
      .prefault({}),
    regularization: regularizationSchema.prefault({}),
    training: trainingOptionsSchema.prefault({}),
  })
  .strict();

export type TrainingRequestInput = z.input<typeof trainingRequestSchema>;
export type TrainingRequest = z.infer<typeof trainingRequestSchema>;
export type HiddenLayerSpec = z.infer<typeof hiddenLayerSchema>;
export type NormalizationSpec = z.infer<typeof normalizationObject>;
export type DropoutSpec = z.infer<typeof dropoutSchema>;
export type RegularizationSpec = z.infer<typeof regularizationSchema>;
export type TrainingOptions = z.infer<typeof trainingOptionsSchema>;
export type Activation = (typeof ACTIVATIONS)[number];
