import { z } from 'zod';
import { VERDICTS } from './api.schema';
import { trainingRequestSchema } from './training-request.schema';

/** A grid key: a dotted setting path of names, indices or `*` (every element), at most 10 deep. */
export const GRID_PATH = /^(?:[A-Za-z][A-Za-z0-9]*|\d+|\*)(?:\.(?:[A-Za-z][A-Za-z0-9]*|\d+|\*)){0,9}$/;

/** POST /v1/sweeps: a base training request and the settings to vary over a grid. */
export const sweepRequestSchema = z
  .object({
    base: trainingRequestSchema,
    grid: z
      .record(
        z.string(),
        z
          .array(z.unknown(), { error: 'each grid entry must be a list of values to try' })
          .min(1, { error: 'each grid entry needs at least one value' }),
      )
      // Keys checked here rather than by the record's key schema, whose message zod 4 replaces
      // with a bare "Invalid key in record".
      .superRefine((grid, ctx) => {
        const keys = Object.keys(grid);
        if (keys.length === 0) ctx.addIssue({ code: 'custom', message: 'give at least one setting to vary' });
        for (const key of keys.filter((k) => !GRID_PATH.test(k))) {
          ctx.addIssue({
            code: 'custom',
            message:
              `grid key ${JSON.stringify(key)} is not a setting path: use dotted field names, list ` +
              'indexes or "*" (e.g. "regularization.l2", "model.hidden.*.dropout")',
          });
        }
      })
      .describe('Setting path → values; null removes the field so its default applies'),
  })
  .strict();

export type SweepRequest = z.infer<typeof sweepRequestSchema>;

const sweepRowSchema = z.looseObject({
  rank: z.number().int().optional(),
  jobId: z.string(),
  settings: z.record(z.string(), z.unknown()),
  state: z.enum(['waiting', 'active', 'completed', 'failed', 'cancelled']),
  modelId: z.string().optional(),
  verdict: z.enum(VERDICTS).optional(),
  valLoss: z.number().optional(),
  trainLoss: z.number().optional(),
  gap: z.number().optional(),
  error: z.string().optional(),
});

export const sweepCreatedSchema = z.object({
  sweepId: z.string(),
  state: z.literal('running'),
  runs: z.array(z.object({ jobId: z.string(), settings: z.record(z.string(), z.unknown()) })),
  warnings: z
    .array(z.string())
    .optional()
    .meta({ description: 'Doubtful uses of the target found at submission (README, "Warnings at submission")' }),
});

export const sweepViewSchema = z.object({
  sweepId: z.string(),
  state: z.enum(['running', 'completed', 'failed']),
  progress: z.object({
    total: z.number().int(),
    completed: z.number().int(),
    failed: z.number().int(),
    active: z.number().int(),
    waiting: z.number().int(),
  }),
  seed: z.number().int(),
  grid: z.record(z.string(), z.array(z.unknown())),
  createdAt: z.iso.datetime(),
  finishedAt: z.iso.datetime().optional(),
  error: z.string().optional(),
  runs: z.array(sweepRowSchema),
  table: z.array(sweepRowSchema).optional(),
});
