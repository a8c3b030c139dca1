import { z } from 'zod';

/**
 * The training request: the one source of truth. The route validates the body with it, the
 * enqueue helper stores the parsed (defaulted) value, and the worker parses `job.data` with it
 * again. Shorthand forms ("batch", 0.3) are normalized into their object forms here, so the ML
 * code only ever sees one shape.
 */

export const ACTIVATIONS = ['relu', 'tanh', 'sigmoid', 'elu', 'selu', 'linear'] as const;
export const NORMALIZATIONS = [
  'none',
  'batch',
  'layer',
  'weight',
  'cosine',
  'sync-batch',
  'ghost-batch',
] as const;
/** The normalizations that estimate statistics from the mini-batch (and keep running ones). */
export const BATCH_STATISTICS_NORMALIZATIONS = ['batch', 'sync-batch', 'ghost-batch'] as const;
export const BATCH_NORM_PLACEMENTS = ['before-activation', 'after-activation'] as const;
export const DROPOUT_KINDS = ['inverted', 'gaussian'] as const;
export const OPTIMIZERS = ['adam', 'sgd', 'rmsprop'] as const;
/** Kernel (and, for torch-default, bias) initializers; the formulas are in src/ml/layers/init.ts. */
export const INITIALIZERS = [
  'he-uniform',
  'he-normal',
  'glorot-uniform',
  'glorot-normal',
  'lecun-uniform',
  'lecun-normal',
  'torch-default',
] as const;
export type Initializer = (typeof INITIALIZERS)[number];
/** Chosen by measurement on the quality benchmark (README, "Initialization"). */
export const DEFAULT_INITIALIZER: Initializer = 'torch-default';

/** Every message names the value it refuses. */
const received = (input: unknown) => `received ${JSON.stringify(input)}`;

const probability = (field: string) =>
  z
    .number({ error: (issue) => `${field} must be a number, ${received(issue.input)}` })
    .min(0, {
      error: (issue) =>
        `${field} must be in [0, 1): it is the probability of dropping a unit; ${received(issue.input)}`,
    })
    .lt(1, {
      error: (issue) => `${field} must be in [0, 1): a rate of 1 would drop every unit; ${received(issue.input)}`,
    });

/** A number in a range, with a message that names the field, the range and the value. */
const numberIn = (
  field: string,
  range: string,
  bounds: { gt?: number; min?: number; lt?: number; max?: number; int?: boolean },
) => {
  const error = (issue: { input?: unknown }) => `${field} must be ${range}, ${received(issue.input)}`;
  let schema = z.number({ error });
  if (bounds.int) schema = schema.int({ error });
  if (bounds.gt !== undefined) schema = schema.gt(bounds.gt, { error });
  if (bounds.min !== undefined) schema = schema.min(bounds.min, { error });
  if (bounds.lt !== undefined) schema = schema.lt(bounds.lt, { error });
  if (bounds.max !== undefined) schema = schema.max(bounds.max, { error });
  return schema;
};

const oneOf = <T extends readonly [string, ...string[]]>(field: string, values: T) =>
  z.enum(values, {
    error: (issue) => `${field}: Expected one of ${values.join(', ')}, ${received(issue.input)}`,
  });

const penalty = (field: string) =>
  z
    .number({ error: `${field} must be a number` })
    .min(0, { error: `${field} must be >= 0: a negative penalty rewards large weights` })
    .max(10, { error: `${field} must be <= 10` });

export const L0_MESSAGE =
  'L0 regularization (counting non-zero weights) is not supported: minimizing it is NP-hard. ' +
  'Use regularization.l1 instead, which drives weights to exactly zero and gives a sparse model.';

const momentum = () =>
  numberIn('normalization.momentum', 'in (0, 1)', { gt: 0, lt: 1 }).default(0.99);
const epsilon = () => numberIn('normalization.epsilon', 'in (0, 1]', { gt: 0, max: 1 }).default(1e-3);
const replicas = () =>
  numberIn('normalization.replicas', 'an integer from 1 to 256', { int: true, min: 1, max: 256 }).default(4);

/**
 * Batch normalization. Training: mini-batch mean and biased variance; inference: the running
 * statistics, folded into a neighbouring dense kernel.
 */
export const batchNormSchema = z
  .object({
    type: z.literal('batch'),
    /**
     * Keras convention: running = momentum·running + (1−momentum)·batch. Default 0.99.
     * PyTorch's momentum is 1 − this value.
     */
    momentum: momentum(),
    /** Added to the variance before the square root. Default 0.001 (Keras). */
    epsilon: epsilon(),
    /**
     * "before-activation" (default, concepts.md): Dense without bias → BN → activation.
     * "after-activation": Dense with bias → activation → BN.
     */
    placement: oneOf('normalization.placement', BATCH_NORM_PLACEMENTS).default('before-activation'),
  })
  .strict();

export const layerNormSchema = z
  .object({
    type: z.literal('layer'),
    /** Default 0.001 (Keras). */
    epsilon: epsilon(),
  })
  .strict();

/** w = g·v/‖v‖ per output unit, g initialized to ‖v‖. No options. */
export const weightNormSchema = z.object({ type: z.literal('weight') }).strict();

/** y_j = scale·(w_j·x)/(‖w_j‖·‖x‖); no bias. */
export const cosineNormSchema = z
  .object({
    type: z.literal('cosine'),
    /** The (initial) scale; outputs lie in [−scale, scale]. Default 1. */
    scale: numberIn('normalization.scale', 'a number in (0, 1000]', { gt: 0, max: 1000 }).default(1),
    /** Train the scale (one scalar per layer) or keep it fixed. Default true. */
    learnScale: z
      .boolean({ error: (issue) => `normalization.learnScale must be true or false, ${received(issue.input)}` })
      .default(true),
  })
  .strict();

/**
 * Synchronized batch normalization over `replicas` simulated data-parallel shards of the
 * mini-batch; training statistics equal full-batch BN's.
 */
export const syncBatchNormSchema = z
  .object({
    type: z.literal('sync-batch'),
    /** Shards the mini-batch is split into, as data-parallel devices would hold it. Default 4. */
    replicas: replicas(),
    /**
     * 1: one all-gather of (count, mean, M2), merged with Chan et al.'s formula (default).
     * 2: the global mean first, then the variance around it.
     */
    passes: z
      .literal([1, 2], {
        error: (issue) => `normalization.passes: Expected one of 1, 2, ${received(issue.input)}`,
      })
      .default(1),
    /** As for batch. Default 0.99. */
    momentum: momentum(),
    /** Default 0.001. */
    epsilon: epsilon(),
  })
  .strict();

/** Per-shard ("ghost") batch normalization: each shard normalized with its own statistics. */
export const ghostBatchNormSchema = z
  .object({
    type: z.literal('ghost-batch'),
    /** Shards the mini-batch is split into. Default 4. */
    replicas: replicas(),
    /** As for batch. Default 0.99. */
    momentum: momentum(),
    /** Default 0.001. */
    epsilon: epsilon(),
  })
  .strict();

export const noNormSchema = z.object({ type: z.literal('none') }).strict();

const normalizationObject = z.discriminatedUnion(
  'type',
  [
    noNormSchema,
    batchNormSchema,
    layerNormSchema,
    weightNormSchema,
    cosineNormSchema,
    syncBatchNormSchema,
    ghostBatchNormSchema,
  ],
  {
    error: (issue) => {
      const type = (issue.input as { type?: unknown } | undefined)?.type;
      return `normalization.type: Expected one of ${NORMALIZATIONS.join(', ')}, ${received(type)}`;
    },
  },
);

/** A name ("batch", every option defaulted) or an object with `type` and options. Default none. */
export const normalizationSchema = z
  .union([
    // The object form first: for an object with a bad option both branches fail with a value
    // error, and the error handler reports the first branch's message, the one about the option.
    normalizationObject,
    z.enum(NORMALIZATIONS, {
      error: (issue) => `Expected one of ${NORMALIZATIONS.join(', ')}, ${received(issue.input)}`,
    }),
  ])
  .transform((value) => (typeof value === 'string' ? normalizationObject.parse({ type: value }) : value));

/** Whether a normalization estimates statistics from the mini-batch (batch, sync-batch, ghost-batch). */
export function usesBatchStatistics(normalization: { type: string }): boolean {
  return (BATCH_STATISTICS_NORMALIZATIONS as readonly string[]).includes(normalization.type);
}

/**
 * A drop probability (inverted dropout) or `{"rate", "kind"}`. Default 0 (off).
 * kind "inverted" (default): kept units divided by 1 − rate; "gaussian": multiplied by
 * N(1, rate/(1 − rate)) noise. Both are off at inference.
 */
export const dropoutSchema = z
  .union([
    probability('dropout'),
    z
      .object({
        rate: probability('dropout.rate'),
        kind: oneOf('dropout.kind', DROPOUT_KINDS).default('inverted'),
      })
      .strict(),
  ])
  .transform((value) => (typeof value === 'number' ? { rate: value, kind: 'inverted' as const } : value));

/** Penalties a hidden layer may set for its own kernel, overriding the global ones. */
export const layerRegularizationSchema = z
  .object({
    l1: penalty('regularization.l1').optional(),
    l2: penalty('regularization.l2').optional(),
    weightDecay: penalty('regularization.weightDecay').optional(),
    l0: z.undefined({ error: L0_MESSAGE }).optional(),
  })
  .strict();

/** The path (model.init, model.hidden[0].init) is prefixed by the error handler. */
const initializerSchema = () =>
  z.enum(INITIALIZERS, {
    error: (issue) => `Expected one of ${INITIALIZERS.join(', ')}, ${received(issue.input)}`,
  });

export const hiddenLayerSchema = z
  .object({
    units: z.number().int().min(1).max(4096),
    activation: z.enum(ACTIVATIONS).default('relu'),
    normalization: normalizationSchema.default({ type: 'none' }),
    dropout: dropoutSchema.default({ rate: 0, kind: 'inverted' }),
    /** Overrides the global l1 / l2 / weightDecay for this layer's kernel. */
    regularization: layerRegularizationSchema.optional(),
    /** Overrides model.init for this layer's kernel (and bias). */
    init: initializerSchema().optional(),
  })
  .strict();

export const regularizationSchema = z
  .object({
    /** Weight of α·Σ|w| over kernels. Default 0. */
    l1: penalty('regularization.l1').default(0),
    /**
     * How L1 is applied. "proximal" (default): soft-thresholding w ← sign(w)·max(|w| − lr·α, 0)
     * after each optimizer step, which makes weights exactly zero. "subgradient": α·sign(w) in
     * the gradient, which only makes weights oscillate around zero.
     */
    l1Mode: z.enum(['proximal', 'subgradient']).default('proximal'),
    /** Weight of α·Σw² over kernels, added to the loss (coupled). Default 0. */
    l2: penalty('regularization.l2').default(0),
    /**
     * Decoupled weight decay (AdamW): θ ← θ − lr·λ·θ on kernels beside the optimizer step, not
     * through the loss. Not the same as l2 with adaptive optimizers. Default 0.
     */
    weightDecay: penalty('regularization.weightDecay').default(0),
    /** Named only to be refused with a clear explanation. */
    l0: z.undefined({ error: L0_MESSAGE }).optional(),
  })
  .strict();

export const earlyStoppingSchema = z
  .object({
    /** The validation metric watched. Default valLoss. */
    monitor: z.enum(['valLoss', 'valAccuracy', 'valMae']).default('valLoss'),
    /** Epochs without improvement before stopping. Default 5. */
    patience: z.number().int().min(0).max(10_000).default(5),
    /** The least change that counts as an improvement. Default 0. */
    minDelta: z.number().min(0).default(0),
    /** Keep the best epoch's weights rather than the last's. Default true. */
    restoreBestWeights: z.boolean().default(true),
  })
  .strict();

export const augmentationSchema = z
  .object({
    /** σ of Gaussian noise added to standardized numeric features, drawn anew each batch. */
    gaussianNoise: z.number().min(0).max(10).optional(),
    /** α of mixup: rows and targets blended with weights from Beta(α, α). */
    mixup: z.number().gt(0).max(10).optional(),
  })
  .strict();

export const trainingOptionsSchema = z
  .object({
    epochs: z.number().int().min(1).max(10_000).default(20),
    batchSize: z.number().int().min(1).max(65_536).default(32),
    optimizer: z.enum(OPTIMIZERS).default('adam'),
    learningRate: z.number().gt(0).max(10).default(1e-3),
    validationSplit: z.number().min(0).max(0.9).default(0.2),
    /**
     * Share of rows held out and evaluated once, at the end, with the final weights. Default 0.
     * Held out before the validation split, stratified for classification.
     */
    testSplit: z.number().min(0).max(0.5).default(0),
    /** Stop when the monitored validation metric stops improving. Off when absent. */
    earlyStopping: earlyStoppingSchema.optional(),
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
        /** Every layer's initializer, the output layer's included, unless a layer sets its own. */
        init: initializerSchema().default(DEFAULT_INITIALIZER),
      })
      .strict()
      .prefault({}),
    regularization: regularizationSchema.prefault({}),
    training: trainingOptionsSchema.prefault({}),
    augmentation: augmentationSchema.prefault({}),
    features: z
      .object({
        /** Columns left out of the model (e.g. the inputs an L1 run eliminated). */
        drop: z.array(z.string().min(1)).max(10_000).default([]),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  .refine((r) => r.training.validationSplit + r.training.testSplit < 0.9, {
    error: 'training.validationSplit + training.testSplit must be below 0.9: too few rows would be left to train on',
    path: ['training', 'testSplit'],
  })
  .refine((r) => !r.training.earlyStopping || r.training.validationSplit > 0, {
    error: 'training.earlyStopping watches a validation metric: set training.validationSplit above 0',
    path: ['training', 'earlyStopping'],
  })
  .refine((r) => !r.features.drop.includes(r.target), {
    error: 'features.drop must not contain the target column',
    path: ['features', 'drop'],
  });

export type TrainingRequestInput = z.input<typeof trainingRequestSchema>;
export type TrainingRequest = z.infer<typeof trainingRequestSchema>;
export type HiddenLayerSpec = z.infer<typeof hiddenLayerSchema>;
export type NormalizationSpec = z.infer<typeof normalizationObject>;
export type DropoutSpec = z.infer<typeof dropoutSchema>;
export type RegularizationSpec = z.infer<typeof regularizationSchema>;
export type LayerRegularizationSpec = z.infer<typeof layerRegularizationSchema>;
export type EarlyStoppingSpec = z.infer<typeof earlyStoppingSchema>;
export type AugmentationSpec = z.infer<typeof augmentationSchema>;
export type TrainingOptions = z.infer<typeof trainingOptionsSchema>;
export type Activation = (typeof ACTIVATIONS)[number];
