import { z } from 'zod';
import type { SparsityReport } from '../ml/sparsity';
import { evaluationResultSchema, testMetricsSchema } from '../schemas/evaluation.schema';

/** The sparsity report's shape, checked where it crosses a process boundary (the job's result). */
const sparsityShape = z.looseObject({
  zeroShare: z.number().or(z.nan()),
  layers: z.array(z.looseObject({ name: z.string() })),
  eliminatedInputs: z.array(z.string()),
});

/**
 * What a training run reports of itself besides its weights. Written once: the run's outcome
 * (TrainingOutcome) has these fields, and the job's result and the model's meta take them from
 * it (src/training-jobs/contract.ts, src/store/model-store.ts).
 */
export const runSummarySchema = z.object({
  /** The seed actually used (the request's, or the one drawn for it). */
  seed: z.number().int(),
  warnings: z.array(z.string()),
  /** The best epoch by the early-stopping monitor (only with early stopping). */
  bestEpoch: z.number().int().optional(),
  /** The epoch at which early stopping ended the run before `epochs`. */
  stoppedEpoch: z.number().int().optional(),
  /** Whether the served weights are the best epoch's rather than the last's. */
  restoredBestWeights: z.boolean(),
  /** The held-out test rows, evaluated once with the final weights (with testSplit > 0). */
  testMetrics: testMetricsSchema.optional(),
  /** The kept model's metrics, calibration, threshold and importance (a completed run only). */
  evaluation: evaluationResultSchema.optional(),
  sparsity: z.custom<SparsityReport>((value) => sparsityShape.safeParse(value).success, {
    error: 'not a sparsity report',
  }),
});
export type RunSummary = z.infer<typeof runSummarySchema>;
