import { z } from 'zod';
import { VERDICTS } from './api.schema';
import { testMetricsSchema } from './evaluation.schema';
import { GRID_PATH } from './sweep.schema';
import { trainingRequestSchema } from './training-request.schema';

/**
 * POST /v1/searches: a base training request, a search space over its setting paths, a strategy
 * that proposes trials, a budget, an objective and an optional pruner (README, "Searches").
 */

/** `model.hidden.length` sets the number of hidden layers (the last layer is repeated or dropped). */
export const LENGTH_SUFFIX = '.length';

const lowBelowHigh = { error: 'low must be below high' };
const bounds = (p: { low: number; high: number }) => p.low < p.high;

export const choiceParamSchema = z
  .object({
    type: z.literal('choice'),
    values: z.array(z.unknown()).min(1, { error: 'a choice needs at least one value' }).max(64),
  })
  .strict();
export const uniformParamSchema = z
  .object({ type: z.literal('uniform'), low: z.number(), high: z.number() })
  .strict()
  .refine(bounds, lowBelowHigh);
export const logUniformParamSchema = z
  .object({ type: z.literal('loguniform'), low: z.number().gt(0), high: z.number().gt(0) })
  .strict()
  .refine(bounds, lowBelowHigh);
export const intParamSchema = z
  .object({
    type: z.literal('int'),
    low: z.number().int(),
    high: z.number().int(),
    /** Sample on a log scale (units 8…512). Default false. */
    log: z.boolean().default(false),
  })
  .strict()
  .refine(bounds, lowBelowHigh);
export const qintParamSchema = z
  .object({ type: z.literal('qint'), low: z.number().int(), high: z.number().int(), q: z.number().int().min(1) })
  .strict()
  .refine(bounds, lowBelowHigh);

export const paramSchema = z.discriminatedUnion('type', [
  choiceParamSchema,
  uniformParamSchema,
  logUniformParamSchema,
  intParamSchema,
  qintParamSchema,
]);
export type Param = z.infer<typeof paramSchema>;

export const searchSpaceSchema = z
  .record(z.string(), paramSchema)
  .superRefine((space, ctx) => {
    const keys = Object.keys(space);
    if (keys.length === 0) ctx.addIssue({ code: 'custom', message: 'give at least one setting to search' });
    for (const key of keys.filter((k) => !GRID_PATH.test(k))) {
      ctx.addIssue({
        code: 'custom',
        message:
          `space key ${JSON.stringify(key)} is not a setting path: use dotted field names, list indexes or "*" ` +
          '(e.g. "training.learningRate", "model.hidden.*.units", "model.hidden.length")',
      });
    }
  })
  .describe('Setting path → distribution; "model.hidden.length" is the number of hidden layers');
export type SearchSpace = z.infer<typeof searchSpaceSchema>;

export const OBJECTIVE_METRICS = ['valLoss', 'valAccuracy', 'valMae'] as const;
export type ObjectiveMetric = (typeof OBJECTIVE_METRICS)[number];

export const searchRequestSchema = z
  .object({
    base: trainingRequestSchema,
    space: searchSpaceSchema,
    /** grid: every combination of choice/int/qint values, in order; random; tpe (Optuna's TPESampler defaults). */
    strategy: z.enum(['grid', 'random', 'tpe']).default('random'),
    budget: z
      .object({
        maxTrials: z.number().int().min(1).max(256).default(16),
        maxParallel: z.number().int().min(1).max(64).default(2),
        /** No new trial starts after this; running trials are cancelled. Default: no limit. */
        maxDurationSeconds: z.number().int().min(1).optional(),
      })
      .strict()
      .default({ maxTrials: 16, maxParallel: 2 }),
    objective: z
      .object({
        metric: z.enum(OBJECTIVE_METRICS).default('valLoss'),
        /** Default: minimize for losses and errors, maximize for accuracy. */
        direction: z.enum(['minimize', 'maximize']).optional(),
      })
      .strict()
      .default({ metric: 'valLoss' }),
    pruner: z
      .discriminatedUnion('type', [
        z
          .object({
            type: z.literal('asha'),
            /** The first rung, in epochs. Default 1. */
            gracePeriod: z.number().int().min(1).default(1),
            /** η: a trial continues past a rung only in the top 1/η of those that reached it. Default 3. */
            reductionFactor: z.number().int().min(2).default(3),
          })
          .strict(),
        z
          .object({
            type: z.literal('median'),
            /** Epochs before any trial is judged. Default 1. */
            warmupEpochs: z.number().int().min(0).default(1),
            /** Trials that must have reached an epoch before it is judged. Default 3. */
            minTrials: z.number().int().min(1).default(3),
          })
          .strict(),
        z.object({ type: z.literal('none') }).strict(),
      ])
      .default({ type: 'none' }),
    /** Seeds the strategy and every trial (all trials train with this one seed). */
    seed: z
      .number()
      .int()
      .min(0)
      .max(2 ** 31 - 1)
      .optional(),
  })
  .strict();
export type SearchRequest = z.infer<typeof searchRequestSchema>;
export type Pruner = SearchRequest['pruner'];

export const TRIAL_STATES = ['proposed', 'waiting', 'active', 'completed', 'pruned', 'failed', 'cancelled'] as const;
export type TrialState = (typeof TRIAL_STATES)[number];

export const trialViewSchema = z.object({
  /** 1 = best; completed trials first, then pruned ones by how far they got. */
  rank: z.number().int().optional(),
  trial: z.number().int(),
  jobId: z.string(),
  settings: z.record(z.string(), z.unknown()),
  state: z.enum(TRIAL_STATES),
  /** The objective: the kept model's epoch for a completed trial, the last epoch reached otherwise. */
  value: z.number().optional(),
  epochsRun: z.number().int(),
  /** The rung (epochs) at which the pruner stopped it. */
  prunedAtEpoch: z.number().int().optional(),
  modelId: z.string().optional(),
  verdict: z.enum(VERDICTS).optional(),
  diagnosis: z.looseObject({ verdict: z.enum(VERDICTS) }).optional(),
  testMetrics: testMetricsSchema.optional(),
  error: z.string().optional(),
});

export const searchViewSchema = z.object({
  searchId: z.string(),
  state: z.enum(['running', 'completed', 'cancelled', 'failed']),
  strategy: z.enum(['grid', 'random', 'tpe']),
  objective: z.object({ metric: z.enum(OBJECTIVE_METRICS), direction: z.enum(['minimize', 'maximize']) }),
  pruner: z.looseObject({ type: z.enum(['asha', 'median', 'none']) }),
  seed: z.number().int(),
  budget: z.object({
    maxTrials: z.number().int(),
    maxParallel: z.number().int(),
    maxDurationSeconds: z.number().int().optional(),
  }),
  progress: z.object({
    proposed: z.number().int(),
    running: z.number().int(),
    completed: z.number().int(),
    pruned: z.number().int(),
    failed: z.number().int(),
    cancelled: z.number().int(),
    /** Epochs trained over all trials. */
    epochs: z.number().int(),
  }),
  best: z
    .object({
      trial: z.number().int(),
      jobId: z.string(),
      modelId: z.string(),
      value: z.number(),
      settings: z.record(z.string(), z.unknown()),
    })
    .optional(),
  createdAt: z.iso.datetime(),
  finishedAt: z.iso.datetime().optional(),
  error: z.string().optional(),
  trials: z.array(trialViewSchema),
});
export type SearchView = z.infer<typeof searchViewSchema>;
export type TrialView = z.infer<typeof trialViewSchema>;

export const searchCreatedSchema = z.object({
  searchId: z.string(),
  state: z.literal('running'),
  warnings: z.array(z.string()).optional(),
});
