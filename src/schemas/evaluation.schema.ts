import { z } from 'zod';

/**
 * The evaluation a training request may ask for after training (README, "Evaluation"), and the
 * evaluation a finished job and its model report. Computed by src/training/evaluate-model.ts
 * with src/evaluation/.
 */

/** Loss (and accuracy or MAE) of a model on a set of rows in inference mode: a job's held-out test rows. */
export const testMetricsSchema = z.object({
  loss: z.number(),
  lossStdError: z
    .number()
    .optional()
    .meta({ description: 'Standard error of loss: per-row loss standard deviation / √(test rows)' }),
  accuracy: z.number().optional(),
  mae: z.number().optional(),
});
export type EvaluationMetrics = z.infer<typeof testMetricsSchema>;

export const evaluationOptionsSchema = z
  .object({
    calibration: z.enum(['none', 'temperature']).default('none').meta({
      description:
        'Classification: "temperature" fits one temperature T on the validation rows (minimum log loss) and applies softmax(log p / T) at predict.',
    }),
    threshold: z
      .union([z.enum(['default', 'f1', 'balancedAccuracy']), z.number().gt(0).lt(1)])
      .default('default')
      .meta({
        description:
          'Binary classification: the probability of classes[1] from which predict answers classes[1]. "default" 0.5; "f1" or "balancedAccuracy" chosen on the validation rows; or a number. Probabilities are returned unchanged.',
      }),
    importance: z
      .object({
        repeats: z.number().int().min(1).max(50).default(5),
        rows: z.enum(['validation', 'test']).default('validation'),
      })
      .strict()
      .optional()
      .meta({ description: "Permutation feature importance per input column, seeded by the job's seed." }),
  })
  .strict();

export type EvaluationOptions = z.infer<typeof evaluationOptionsSchema>;

export const crossValidationOptionsSchema = z
  .object({
    folds: z
      .number()
      .int()
      .min(2)
      .max(20)
      .meta({
        description:
          "k of k-fold cross-validation over the rows outside the test split (stratified for classification, seeded by the job's seed). " +
          'It reads the whole dataset into memory, so a dataset above 1,000,000 rows (MAX_CROSS_VALIDATION_ROWS) is a 400.',
      }),
  })
  .strict();

/**
 * The metrics of a set of rows, computed by src/evaluation/ (classification-metrics.ts,
 * regression-metrics.ts), each equal to the scikit-learn function named beside it. These schemas
 * are the one source of their shape: src/evaluation/ computes the inferred types below, and the
 * job's result and the model's meta store them. The doc comments are for the code; the
 * `description`s are the OpenAPI document's.
 */

/** One bin of the reliability table: rows whose top probability fell in (lower, upper]. */
const reliabilityBinSchema = z.object({
  lower: z.number(),
  upper: z.number(),
  count: z.number().int(),
  /** Mean top probability of the bin's rows (absent for an empty bin). */
  meanConfidence: z.number().optional().meta({ description: 'Absent for an empty bin' }),
  /** Share of the bin's rows whose top class is right (absent for an empty bin). */
  accuracy: z.number().optional().meta({ description: 'Absent for an empty bin' }),
});

const classMetricsSchema = z.object({
  /** Of the rows predicted as this class, the share that are (0 when none is predicted as it). */
  precision: z.number(),
  /** Of the rows of this class, the share predicted as it (0 when the class has no rows). */
  recall: z.number(),
  f1: z.number(),
  /** Rows of this class. */
  support: z.number().int(),
});

const rocCurveSchema = z.object({
  /** Class index. */
  class: z.number().int(),
  fpr: z.array(z.number()),
  tpr: z.array(z.number()),
});

export const classificationMetricsSchema = z.object({
  rows: z.number().int(),
  /** Cross-entropy of the true class, probabilities clipped to [ε, 1 − ε] and renormalized (log_loss). */
  logLoss: z.number().meta({ description: 'sklearn log_loss (probabilities clipped to [ε, 1−ε], ε = 2.2e-16)' }),
  accuracy: z.number(),
  /** Mean recall over the classes present in the rows (balanced_accuracy_score). */
  balancedAccuracy: z.number().meta({ description: 'Mean recall over the classes present in the rows' }),
  /** f1_score(average='macro'/'weighted') over the classes present in truth or predictions, zero_division=0. */
  f1Macro: z.number().meta({ description: 'Over the classes present in truth or predictions; 0 where undefined' }),
  f1Weighted: z.number(),
  /** By class index. */
  perClass: z
    .array(classMetricsSchema)
    .meta({ description: 'By class index (the order of `classes`); 0 where a ratio has no rows' }),
  /** confusionMatrix[true][predicted], rows counted. */
  confusionMatrix: z
    .array(z.array(z.number().int()))
    .meta({ description: 'confusionMatrix[true][predicted], by class index' }),
  /**
   * Binary: roc_auc_score of the positive class's probability; multiclass: one-vs-rest macro.
   * Absent when a class has no row (sklearn raises: the AUC is undefined).
   */
  rocAuc: z.number().optional().meta({
    description: 'Binary: of classes[1]; multiclass: one-vs-rest macro. Absent when a class has no row (undefined)',
  }),
  /**
   * Average precision (average_precision_score: Σ (R_n − R_{n−1})·P_n over the distinct
   * thresholds, not the trapezoid). Binary: of the positive class; multiclass: the mean of the
   * one-vs-rest APs over the classes present in the rows. Absent when no row is positive.
   */
  prAuc: z.number().optional().meta({
    description:
      'Average precision (sklearn average_precision_score, step-wise, not trapezoid); multiclass: mean one-vs-rest over present classes. Absent when no row is positive',
  }),
  /**
   * Binary: brier_score_loss of the positive class's probability, mean (p − y)². Multiclass: the
   * mean over rows of Σ_k (p_k − 1[y = k])² (Brier's own definition; twice the binary one at K=2).
   */
  brier: z.number().meta({ description: 'Binary: mean (p₁ − y)²; multiclass: mean over rows of Σ_k (p_k − 1[y=k])²' }),
  /** Top-label expected calibration error, 10 equal-width bins: Σ n_b/n·|accuracy_b − confidence_b|. */
  ece: z.number().meta({ description: 'Top-label expected calibration error, 10 equal-width bins' }),
  reliability: z.array(reliabilityBinSchema),
  /** Binary only: the probability of class 1 from which a row is predicted as class 1. */
  threshold: z.number().optional().meta({ description: 'Binary: the decision threshold the predictions used' }),
  /**
   * ROC curves for the report: binary, one of class 1; multiclass, one-vs-rest per class with
   * rows. Every distinct score a point (sklearn roc_curve, drop_intermediate=False), thinned to
   * at most ROC_POINTS evenly spaced ones beyond that.
   */
  rocCurves: z.array(rocCurveSchema).optional().meta({
    description:
      'For drawing: binary, of class index 1; multiclass, one-vs-rest per class with rows (at most 201 points each)',
  }),
});

export type ClassificationMetrics = z.infer<typeof classificationMetricsSchema>;
export type ReliabilityBin = z.infer<typeof reliabilityBinSchema>;
export type ClassMetrics = z.infer<typeof classMetricsSchema>;
export type RocCurve = z.infer<typeof rocCurveSchema>;

export const regressionMetricsSchema = z
  .object({
    rows: z.number().int(),
    /** mean_squared_error. */
    mse: z.number(),
    rmse: z.number(),
    /** mean_absolute_error. */
    mae: z.number(),
    /**
     * r2_score: 1 − Σ(y − ŷ)² / Σ(y − ȳ)². With constant targets sklearn's convention: 1 when the
     * predictions are exact, else 0 (rather than −∞ or NaN).
     */
    r2: z.number().meta({ description: 'sklearn r2_score: 1 when constant targets are met exactly, 0 otherwise' }),
  })
  .meta({ description: "In the target's units" });

export type RegressionMetrics = z.infer<typeof regressionMetricsSchema>;

/** One input column's permutation importance (src/evaluation/permutation-importance.ts). */
const columnImportanceSchema = z.object({
  column: z.string(),
  /** Mean over the repeats of (loss with the column's values shuffled across rows − loss as is). */
  mean: z.number().meta({ description: 'Mean loss increase with the column shuffled' }),
  /** Standard deviation of that increase over the repeats (population, as sklearn's permutation_importance). */
  std: z.number(),
  repeats: z.number().int(),
});

export type ColumnImportance = z.infer<typeof columnImportanceSchema>;

const eceChangeSchema = z.object({ before: z.number(), after: z.number() });

export const evaluationResultSchema = z.object({
  classes: z
    .array(z.union([z.number(), z.string()]))
    .optional()
    .meta({ description: 'Classification: the class of each index' }),
  validation: z
    .union([classificationMetricsSchema, regressionMetricsSchema])
    .optional()
    .meta({ description: 'The kept model on the validation rows' }),
  test: z
    .union([classificationMetricsSchema, regressionMetricsSchema])
    .optional()
    .meta({ description: 'The kept model on the test rows' }),
  calibration: z
    .object({
      method: z.literal('temperature'),
      temperature: z.number(),
      validationEce: eceChangeSchema,
      testEce: eceChangeSchema.optional(),
      validationLogLoss: eceChangeSchema,
    })
    .optional(),
  threshold: z
    .object({
      value: z.number(),
      objective: z.enum(['default', 'f1', 'balancedAccuracy', 'fixed']),
    })
    .optional()
    .meta({ description: 'Binary classification: the decision threshold predict applies' }),
  importance: z
    .object({
      rows: z.enum(['validation', 'test']),
      loss: z.enum(['logLoss', 'mse']),
      baselineLoss: z.number(),
      repeats: z.number().int(),
      columns: z.array(columnImportanceSchema),
    })
    .optional(),
});

export type EvaluationResult = z.infer<typeof evaluationResultSchema>;

const setMetricsSchema = z.union([classificationMetricsSchema, regressionMetricsSchema]);

export const crossValidationResultSchema = z.object({
  folds: z.number().int(),
  rows: z.number().int().meta({ description: 'Rows dealt into the folds: every row outside the test split' }),
  keptModel: z.literal('split').meta({
    description:
      "The served model is the one trained on the request's own train/validation split; the fold models are discarded",
  }),
  perFold: z.array(
    z.object({
      fold: z.number().int(),
      rows: z.object({ train: z.number().int(), validation: z.number().int() }),
      epochsRun: z.number().int(),
      bestEpoch: z.number().int().optional(),
      valLoss: z.number().meta({ description: "The fold model's validation loss at its kept epoch" }),
      metrics: setMetricsSchema.meta({ description: "The fold model's metrics on its fold" }),
    }),
  ),
  summary: z
    .record(z.string(), z.object({ mean: z.number(), sd: z.number(), folds: z.number().int() }))
    .meta({ description: 'Per metric: mean and sample standard deviation across the folds that have it' }),
  outOfFold: setMetricsSchema
    .optional()
    .meta({ description: 'Every row predicted once, by the fold model that did not train on it' }),
  outOfFoldClasses: z
    .array(z.string())
    .optional()
    .meta({ description: 'The class of each index in outOfFold (labels as strings, sorted)' }),
});

export type CrossValidationResult = z.infer<typeof crossValidationResultSchema>;

/** What the evaluation options need of the rest of the request (checked at submission). */
export function checkEvaluationOptions(
  request: {
    task: 'classification' | 'regression';
    training: { validationSplit: number; testSplit: number };
    evaluation: EvaluationOptions;
  },
  ctx: z.RefinementCtx,
): void {
  const { evaluation, task, training } = request;
  const issue = (path: string, message: string) =>
    ctx.addIssue({ code: 'custom', message, path: ['evaluation', path] });
  if (evaluation.calibration !== 'none') {
    if (task !== 'classification')
      issue('calibration', 'evaluation.calibration calibrates class probabilities: not available for regression');
    else if (training.validationSplit === 0)
      issue(
        'calibration',
        'evaluation.calibration is fitted on the validation rows: set training.validationSplit above 0',
      );
  }
  if (evaluation.threshold !== 'default') {
    if (task !== 'classification')
      issue(
        'threshold',
        'evaluation.threshold is a binary classification decision threshold: not available for regression',
      );
    else if (typeof evaluation.threshold === 'string' && training.validationSplit === 0) {
      issue(
        'threshold',
        `evaluation.threshold "${evaluation.threshold}" is chosen on the validation rows: set training.validationSplit above 0`,
      );
    }
  }
  const importanceRows = evaluation.importance?.rows;
  if (importanceRows === 'validation' && training.validationSplit === 0) {
    issue(
      'importance',
      'evaluation.importance on the validation rows needs training.validationSplit above 0 (or rows "test")',
    );
  }
  if (importanceRows === 'test' && training.testSplit === 0) {
    issue('importance', 'evaluation.importance on the test rows needs training.testSplit above 0');
  }
}
