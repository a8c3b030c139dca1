import { z } from 'zod';
import { checkEvaluationOptions, crossValidationOptionsSchema, evaluationOptionsSchema } from './evaluation.schema';

/**
 * The training request: the one source of truth. The route validates the body with it, the
 * enqueue helper stores the parsed (defaulted) value, and the worker parses `job.data` with it
 * again. Shorthand forms ("batch", 0.3) are normalized into their object forms here, so the ML
 * code only ever sees one shape.
 */

/** What the target is: classes or a number. */
export const TASKS = ['classification', 'regression'] as const;

export const ACTIVATIONS = ['relu', 'tanh', 'sigmoid', 'elu', 'selu', 'linear'] as const;
export const NORMALIZATIONS = ['none', 'batch', 'layer', 'weight', 'cosine', 'sync-batch', 'ghost-batch'] as const;
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
/**
 * Chosen by measurement on the quality benchmark (README, "Initialization"). A literal type:
 * src/training/ml-types.ts checks that ml/'s own default (src/ml/spec.ts) is the same scheme.
 */
export const DEFAULT_INITIALIZER = 'torch-default' satisfies Initializer;

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

/**
 * Named only to be refused with a clear explanation: no value is valid (`not: {}` in the OpenAPI
 * document, `never` for client generators).
 */
const l0Refused = () => z.never({ error: L0_MESSAGE }).optional().meta({ description: L0_MESSAGE });

/**
 * `schema.default(value)` for a transformed schema, in a form the OpenAPI document shows (zod's
 * JSON Schema leaves out a default around a transform): the default is given to the input side,
 * then transformed like any other input.
 */
function inputDefault<In extends z.ZodType, Out extends z.ZodType<unknown, z.util.NoUndefined<z.output<In>>>>(
  schema: z.ZodPipe<In, Out>,
  value: z.util.NoUndefined<z.output<In>>,
) {
  return schema.in.default(value).pipe(schema.out);
}

const momentum = () => numberIn('normalization.momentum', 'in (0, 1)', { gt: 0, lt: 1 }).default(0.99);
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

/** `model.hidden[i]'s "batch" normalization` for the first hidden layer with batch statistics, or null. */
export function batchStatisticsLayer(hidden: { normalization: { type: string } }[]): string | null {
  const index = hidden.findIndex((h) => usesBatchStatistics(h.normalization));
  return index < 0 ? null : `model.hidden[${index}]'s "${hidden[index].normalization.type}" normalization`;
}

/**
 * Batch statistics need two rows: the variance of one row is 0, so its output is β whatever the
 * input and no gradient reaches the kernel. batchSize 1 is refused for every batch-statistics
 * normalization, and ghost-batch needs batchSize ≥ 2·replicas so that each shard of a full batch
 * holds two rows (sync-batch shards may hold one: their statistics are the whole batch's). An
 * epoch's last, shorter batch is the trainer's to handle: one row is skipped, and ghost-batch
 * splits a short batch into fewer shards (ghost-batch-normalization.ts).
 */
function checkBatchStatistics(hidden: HiddenLayerSpec[], batchSize: number, ctx: z.RefinementCtx): void {
  const path = ['training', 'batchSize'];
  const layer = batchStatisticsLayer(hidden);
  if (layer && batchSize < 2) {
    ctx.addIssue({
      code: 'custom',
      path,
      message:
        `batchSize 1 cannot train ${layer}: the variance of a batch of one row is 0, so its output would be ` +
        `β whatever the input and no gradient would reach the kernel; use batchSize ≥ 2, or "layer" ` +
        `normalization, which works on one row; ${received(batchSize)}`,
    });
    return;
  }
  hidden.forEach(({ normalization }, i) => {
    if (normalization.type !== 'ghost-batch' || batchSize >= 2 * normalization.replicas) return;
    ctx.addIssue({
      code: 'custom',
      path,
      message:
        `batchSize ${batchSize} splits into shards of one row for model.hidden[${i}]'s "ghost-batch" ` +
        `normalization with ${normalization.replicas} replicas: a one-row shard has variance 0; use batchSize ≥ ` +
        `${2 * normalization.replicas} (2 × replicas) or fewer replicas; ${received(batchSize)}`,
    });
  });
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
    l0: l0Refused(),
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
    normalization: inputDefault(normalizationSchema, 'none'),
    dropout: inputDefault(dropoutSchema, 0),
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
     * How L1 is applied. "proximal" (default): soft-thresholding w ← sign(w)·max(|w| − τ·α, 0)
     * after each optimizer step, τ the optimizer's own per-weight step size (lr for SGD,
     * lr·√(1 − β₂ᵗ)/(√v + ε) for Adam, lr/√(ms + ε) for RMSprop), which makes weights exactly
     * zero. "proximal-lr": the same with τ = lr for every optimizer. "subgradient": α·sign(w) in
     * the gradient, which only makes weights oscillate around zero.
     */
    l1Mode: z.enum(['proximal', 'proximal-lr', 'subgradient']).default('proximal'),
    /** Weight of α·Σw² over kernels, added to the loss (coupled). Default 0. */
    l2: penalty('regularization.l2').default(0),
    /**
     * Decoupled weight decay (AdamW): θ ← θ − lr·λ·θ on kernels beside the optimizer step, not
     * through the loss. Not the same as l2 with adaptive optimizers. Default 0.
     */
    weightDecay: penalty('regularization.weightDecay').default(0),
    l0: l0Refused(),
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

export const LEARNING_RATE_SCHEDULES = ['step', 'cosine', 'one-cycle', 'reduce-on-plateau'] as const;
const VALIDATION_MONITORS = ['valLoss', 'valAccuracy', 'valMae'] as const;

/** Per epoch, as torch.optim.lr_scheduler.StepLR: lr·gamma^⌊epoch/stepSize⌋ (epoch from 0). */
export const stepScheduleSchema = z
  .object({
    type: z.literal('step'),
    /** Epochs between two multiplications by gamma. Required. */
    stepSize: numberIn('learningRateSchedule.stepSize', 'an integer from 1 to 10000 (epochs)', {
      int: true,
      min: 1,
      max: 10_000,
    }),
    /** Default 0.1 (PyTorch). */
    gamma: numberIn('learningRateSchedule.gamma', 'in (0, 1]', { gt: 0, max: 1 }).default(0.1),
  })
  .strict();

/**
 * Per step: a linear warm-up to the learning rate over the first W steps (lr·(t+1)/W), then a
 * cosine from the learning rate down to minLearningRate over the remaining steps (torch's
 * LinearLR then CosineAnnealingLR in a SequentialLR).
 */
export const cosineScheduleSchema = z
  .object({
    type: z.literal('cosine'),
    /** Warm-up length in epochs (W = warmupEpochs × steps per epoch). Give this or warmupSteps; default 0. */
    warmupEpochs: numberIn('learningRateSchedule.warmupEpochs', 'an integer from 0 to 10000', {
      int: true,
      min: 0,
      max: 10_000,
    }).optional(),
    /** Warm-up length in optimizer steps. */
    warmupSteps: numberIn('learningRateSchedule.warmupSteps', 'an integer from 0 to 100000000', {
      int: true,
      min: 0,
      max: 1e8,
    }).optional(),
    /** Where the cosine ends (eta_min). Default 0. */
    minLearningRate: numberIn('learningRateSchedule.minLearningRate', 'a number in [0, 10]', {
      min: 0,
      max: 10,
    }).default(0),
  })
  .strict()
  .refine((s) => s.warmupEpochs === undefined || s.warmupSteps === undefined, {
    error: 'learningRateSchedule: give warmupEpochs or warmupSteps, not both',
  });

/** Per step, as torch.optim.lr_scheduler.OneCycleLR (cosine annealing, two phases, no momentum cycling). */
export const oneCycleScheduleSchema = z
  .object({
    type: z.literal('one-cycle'),
    /** The peak rate (max_lr). Default: training.learningRate. */
    maxLearningRate: numberIn('learningRateSchedule.maxLearningRate', 'a number in (0, 10]', {
      gt: 0,
      max: 10,
    }).optional(),
    /** Share of the steps spent rising to the peak. Default 0.3. */
    pctStart: numberIn('learningRateSchedule.pctStart', 'in (0, 1)', { gt: 0, lt: 1 }).default(0.3),
    /** The first rate is maxLearningRate / divFactor. Default 25. */
    divFactor: numberIn('learningRateSchedule.divFactor', 'a number in [1, 1000000]', { min: 1, max: 1e6 }).default(25),
    /** The last rate is the first / finalDivFactor. Default 10000. */
    finalDivFactor: numberIn('learningRateSchedule.finalDivFactor', 'a number in [1, 1000000000]', {
      min: 1,
      max: 1e9,
    }).default(1e4),
  })
  .strict();

/** Per epoch, as torch.optim.lr_scheduler.ReduceLROnPlateau (eps 1e-8), on a validation metric. */
export const plateauScheduleSchema = z
  .object({
    type: z.literal('reduce-on-plateau'),
    /** The validation metric watched; valAccuracy should rise, the others fall. Default valLoss. */
    monitor: oneOf('learningRateSchedule.monitor', VALIDATION_MONITORS).default('valLoss'),
    /** new rate = rate × factor. Default 0.1. */
    factor: numberIn('learningRateSchedule.factor', 'in (0, 1)', { gt: 0, lt: 1 }).default(0.1),
    /** Epochs without improvement tolerated; the rate drops on the next one. Default 10. */
    patience: numberIn('learningRateSchedule.patience', 'an integer from 0 to 10000', {
      int: true,
      min: 0,
      max: 10_000,
    }).default(10),
    /** How much better counts as better. Default 1e-4. */
    threshold: numberIn('learningRateSchedule.threshold', 'a number >= 0', { min: 0 }).default(1e-4),
    /** rel: better than best·(1 ∓ threshold); abs: better than best ∓ threshold. Default rel. */
    thresholdMode: oneOf('learningRateSchedule.thresholdMode', ['rel', 'abs'] as const).default('rel'),
    /** Epochs after a reduction during which bad epochs are not counted. Default 0. */
    cooldown: numberIn('learningRateSchedule.cooldown', 'an integer from 0 to 10000', {
      int: true,
      min: 0,
      max: 10_000,
    }).default(0),
    /** The rate never drops below this. Default 0. */
    minLearningRate: numberIn('learningRateSchedule.minLearningRate', 'a number in [0, 10]', {
      min: 0,
      max: 10,
    }).default(0),
  })
  .strict();

export const learningRateScheduleSchema = z.discriminatedUnion(
  'type',
  [stepScheduleSchema, cosineScheduleSchema, oneCycleScheduleSchema, plateauScheduleSchema],
  {
    error: (issue) => {
      if (typeof issue.input !== 'object' || issue.input === null) {
        return `learningRateSchedule must be an object {"type": one of ${LEARNING_RATE_SCHEDULES.join(', ')}, …options}, ${received(issue.input)}`;
      }
      const type = (issue.input as { type?: unknown }).type;
      return `learningRateSchedule.type: Expected one of ${LEARNING_RATE_SCHEDULES.join(', ')}, ${received(type)}`;
    },
  },
);

/**
 * Applied to the gradients of the whole objective (data loss plus the L2 and subgradient-L1
 * terms) over every parameter, before the optimizer step: first each value clipped to ±value
 * (clip_grad_value_), then all of them scaled by min(1, globalNorm/(‖g‖₂ + 1e-6))
 * (clip_grad_norm_). Proximal L1 and decoupled weight decay are not gradients and are not clipped.
 */
export const gradientClippingSchema = z
  .object({
    globalNorm: numberIn('gradientClipping.globalNorm', 'a number in (0, 1000000]', { gt: 0, max: 1e6 }).optional(),
    value: numberIn('gradientClipping.value', 'a number in (0, 1000000]', { gt: 0, max: 1e6 }).optional(),
  })
  .strict()
  .refine((c) => c.globalNorm !== undefined || c.value !== undefined, {
    error: 'gradientClipping: give globalNorm, value or both',
  });

const classWeight = numberIn('classWeights values', 'numbers in (0, 1000000]', { gt: 0, max: 1e6 });

/**
 * "balanced": n_rows / (n_classes · rows of the class), from the training rows (scikit-learn's
 * formula); or a weight per class label (labels not listed weigh 1).
 */
const classWeightsError = (issue: { input?: unknown }) =>
  `classWeights must be "balanced" or an object of weights by class label, ${received(issue.input)}`;
export const classWeightsSchema = z.union(
  [
    z.literal('balanced', { error: classWeightsError }),
    z.record(z.string(), classWeight, { error: classWeightsError }),
  ],
  { error: classWeightsError },
);

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
    /** Off (a constant learning rate) when absent. */
    learningRateSchedule: learningRateScheduleSchema.optional(),
    /** Off when absent. */
    gradientClipping: gradientClippingSchema.optional(),
    /** Classification only. Off (every row weighs 1) when absent. */
    classWeights: classWeightsSchema.optional(),
    /** ε in [0, 1): targets (1 − ε)·onehot + ε/K, as CrossEntropyLoss(label_smoothing). Classification only. */
    labelSmoothing: numberIn('labelSmoothing', 'in [0, 1)', { min: 0, lt: 1 }).default(0),
    /** Omit for a random seed; the seed used is recorded with the model either way. */
    seed: z
      .number()
      .int()
      .min(0)
      .max(2 ** 31 - 1)
      .optional(),
  })
  .strict();

/**
 * The largest learning rate the run steps with, for the limits that must hold at every step:
 * one-cycle's maximum when it has one (it replaces training.learningRate); every other schedule
 * only lowers training.learningRate (warm-up rises to it, never above).
 */
export function peakLearningRate(training: TrainingOptions): number {
  const schedule = training.learningRateSchedule;
  if (schedule?.type === 'one-cycle' && schedule.maxLearningRate !== undefined) {
    return schedule.maxLearningRate;
  }
  return training.learningRate;
}

/**
 * Decoupled weight decay multiplies every kernel by 1 − lr·λ each step: lr·λ = 1 zeroes the
 * kernels, above 1 flips their sign every step (lr 0.5, λ 4: ×(−1)). Checked for the global
 * weightDecay (which also covers the output layer) and each hidden layer's own.
 */
function checkWeightDecay(
  request: { model: { hidden: HiddenLayerSpec[] }; regularization: RegularizationSpec; training: TrainingOptions },
  ctx: z.RefinementCtx,
): void {
  const lr = peakLearningRate(request.training);
  const check = (weightDecay: number | undefined, path: (string | number)[]) => {
    if (weightDecay === undefined || lr * weightDecay < 1) return;
    ctx.addIssue({
      code: 'custom',
      path,
      message:
        'learningRate × weightDecay must be below 1: decoupled weight decay multiplies every kernel by ' +
        '1 − lr·λ each step, which zeroes the kernels at 1 and flips their sign above; received weightDecay ' +
        `${weightDecay} with learningRate ${lr} (product ${Number((lr * weightDecay).toPrecision(6))})`,
    });
  };
  check(request.regularization.weightDecay, ['regularization', 'weightDecay']);
  request.model.hidden.forEach((h, i) =>
    check(h.regularization?.weightDecay, ['model', 'hidden', i, 'regularization', 'weightDecay']),
  );
}

export const trainingRequestSchema = z
  .object({
    datasetId: z.string().min(1).max(128),
    target: z.string().min(1).max(256),
    task: z.enum(TASKS),
    model: z
      .object({
        hidden: z
          .array(hiddenLayerSchema)
          .max(16)
          .prefault([{ units: 64 }]),
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
    /** After training: metrics, calibration, decision threshold, importance (README, "Evaluation"). */
    evaluation: evaluationOptionsSchema.prefault({}),
    /** k-fold cross-validation after training, an estimate beside the kept model (README, "Evaluation"). */
    validation: crossValidationOptionsSchema.optional(),
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
  .refine((r) => r.training.learningRateSchedule?.type !== 'reduce-on-plateau' || r.training.validationSplit > 0, {
    error:
      'training.learningRateSchedule reduce-on-plateau watches a validation metric: set training.validationSplit above 0',
    path: ['training', 'learningRateSchedule'],
  })
  .refine((r) => monitorFitsTask(r.training.learningRateSchedule, r.task), {
    error: (issue) => {
      const r = issue.input as { task?: string; training?: { learningRateSchedule?: { monitor?: string } } };
      const schedule = r.training?.learningRateSchedule;
      return (
        `training.learningRateSchedule.monitor ${schedule?.monitor} is not measured for ${r.task}: ` +
        `use valLoss, or ${r.task === 'classification' ? 'valAccuracy' : 'valMae'}`
      );
    },
    path: ['training', 'learningRateSchedule', 'monitor'],
  })
  .refine((r) => cosineWarmupFits(r.training.learningRateSchedule, r.training.epochs), {
    error: (issue) => {
      const r = issue.input as { training?: { epochs?: number; learningRateSchedule?: { warmupEpochs?: number } } };
      const schedule = r.training?.learningRateSchedule;
      return (
        `training.learningRateSchedule.warmupEpochs must be below training.epochs (${r.training?.epochs ?? 20}), ` +
        `received ${schedule?.warmupEpochs}: the cosine would never start`
      );
    },
    path: ['training', 'learningRateSchedule', 'warmupEpochs'],
  })
  .refine((r) => cosinePeakAboveFloor(r.training.learningRateSchedule, r.training.learningRate), {
    error: 'training.learningRateSchedule.minLearningRate must be below training.learningRate, where the cosine starts',
    path: ['training', 'learningRateSchedule', 'minLearningRate'],
  })
  .refine((r) => r.task === 'classification' || r.training.classWeights === undefined, {
    error: 'training.classWeights weigh the classes of a classification target: not available for regression',
    path: ['training', 'classWeights'],
  })
  .refine((r) => r.task === 'classification' || r.training.labelSmoothing === 0, {
    error: 'training.labelSmoothing smooths class targets: not available for regression',
    path: ['training', 'labelSmoothing'],
  })
  .refine((r) => !r.features.drop.includes(r.target), {
    error: 'features.drop must not contain the target column',
    path: ['features', 'drop'],
  })
  .superRefine((r, ctx) => checkBatchStatistics(r.model.hidden, r.training.batchSize, ctx))
  .superRefine(checkWeightDecay)
  .superRefine((r, ctx) => checkEvaluationOptions(r, ctx));

function monitorFitsTask(schedule: LearningRateScheduleSpec | undefined, task: (typeof TASKS)[number]): boolean {
  if (schedule?.type !== 'reduce-on-plateau') return true;
  return schedule.monitor === 'valLoss' || schedule.monitor === (task === 'classification' ? 'valAccuracy' : 'valMae');
}

function cosineWarmupFits(schedule: LearningRateScheduleSpec | undefined, epochs: number): boolean {
  return schedule?.type !== 'cosine' || (schedule.warmupEpochs ?? 0) < epochs;
}

function cosinePeakAboveFloor(schedule: LearningRateScheduleSpec | undefined, learningRate: number): boolean {
  return schedule?.type !== 'cosine' || schedule.minLearningRate < learningRate;
}

export type TrainingRequestInput = z.input<typeof trainingRequestSchema>;
export type TrainingRequest = z.infer<typeof trainingRequestSchema>;
export type HiddenLayerSpec = z.infer<typeof hiddenLayerSchema>;
export type NormalizationSpec = z.infer<typeof normalizationObject>;
export type DropoutSpec = z.infer<typeof dropoutSchema>;
export type RegularizationSpec = z.infer<typeof regularizationSchema>;
export type LayerRegularizationSpec = z.infer<typeof layerRegularizationSchema>;
export type EarlyStoppingSpec = z.infer<typeof earlyStoppingSchema>;
export type AugmentationSpec = z.infer<typeof augmentationSchema>;
export type LearningRateScheduleSpec = z.infer<typeof learningRateScheduleSchema>;
export type GradientClippingSpec = z.infer<typeof gradientClippingSchema>;
export type ClassWeightsSpec = z.infer<typeof classWeightsSchema>;
export type TrainingOptions = z.infer<typeof trainingOptionsSchema>;
export type Activation = (typeof ACTIVATIONS)[number];
