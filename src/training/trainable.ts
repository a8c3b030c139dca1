import { MAX_PROFILED_VALUES, type ColumnProfile } from '../data/column-profile';
import { heldOutOfClass } from '../data/split';
import type { DatasetMeta, DatasetStore } from '../store/dataset-store';
import { batchStatisticsLayer, type TrainingRequest } from '../schemas/training-request.schema';

/**
 * When a classification target looks like a continuous quantity rather than class labels: a
 * numeric column with more than `minDistinct` distinct values and either a non-integer value or
 * more than `distinctPerRow` distinct values per row (more than one new value every 20 rows).
 * An integer code with a few dozen values over thousands of rows passes; a measurement does not.
 */
export const CONTINUOUS_TARGET = { minDistinct: 20, distinctPerRow: 0.05 } as const;

/** The facts about the target that the checks and the diagnosis read. */
export type TargetFacts = Pick<ColumnProfile, 'type' | 'rows' | 'distinct' | 'nonInteger'>;

export function looksContinuous(target: TargetFacts): boolean {
  return (
    target.type === 'numeric' &&
    target.distinct > CONTINUOUS_TARGET.minDistinct &&
    (target.nonInteger || target.distinct / Math.max(target.rows, 1) > CONTINUOUS_TARGET.distinctPerRow)
  );
}

/**
 * The most rows a cross-validated request (`validation.folds`) may train on. Cross-validation,
 * unlike a plain job, reads the whole table into memory in the job and in every fold's process
 * (README, "Training from chunks"): ≈ 24 bytes a cell as JS values plus the encoded features
 * (4 bytes × encoded width a row), ≈ 1 GB a process for 1,000,000 rows of 30 columns. This is
 * MAX_DATASET_ROWS's default, so every dataset the default limits admit can be cross-validated.
 */
export const MAX_CROSS_VALIDATION_ROWS = 1_000_000;

/**
 * The checks made when a job or sweep is submitted: why the request cannot train (a 400), or
 * null, and the warnings to return with the 202 (README, "Warnings at submission"). Reads the
 * dataset's meta and its target column's profile, never the whole table.
 */
export async function checkSubmission(
  datasets: Pick<DatasetStore, 'meta' | 'columnProfile'>,
  request: TrainingRequest,
): Promise<{ reason: string | null; warnings: string[] }> {
  const meta = await datasets.meta(request.datasetId);
  const early = untrainableReason(meta, request);
  if (early) return { reason: early, warnings: [] };
  const target = await datasets.columnProfile(meta.id, request.target);
  const reason = untrainableReason(meta, request, target);
  return { reason, warnings: reason ? [] : targetWarnings(request, target) };
}

/**
 * Why a training request cannot train on a dataset, or null when it can. Checked when a job or
 * sweep is submitted, so such a request is a 400 then rather than a failed job later. `target`
 * (the target column's profile) adds the checks that need its values.
 */
export function untrainableReason(
  dataset: DatasetMeta,
  request: TrainingRequest,
  target?: ColumnProfile,
): string | null {
  const names = dataset.columns.map((c) => `"${c.name}"`).join(', ');
  const column = dataset.columns.find((c) => c.name === request.target);
  if (!column) {
    return `target: dataset ${dataset.id} has no column "${request.target}"; its columns are ${names}`;
  }
  if (request.task === 'regression' && column.type !== 'numeric') {
    return `task: regression needs a numeric target, but "${request.target}" is categorical; use task "classification"`;
  }
  const unknown = request.features.drop.filter((name) => !dataset.columns.some((c) => c.name === name));
  if (unknown.length > 0) {
    return `features.drop: dataset ${dataset.id} has no column ${unknown.map((n) => `"${n}"`).join(', ')}; its columns are ${names}`;
  }
  const features = dataset.columns.filter((c) => c.name !== request.target && !request.features.drop.includes(c.name));
  if (features.length === 0) {
    return `dataset ${dataset.id} has no feature columns left besides the target`;
  }
  if (request.validation && dataset.rows > MAX_CROSS_VALIDATION_ROWS) {
    return (
      `validation.folds: cross-validation reads the whole dataset into memory, so it is limited to ` +
      `${MAX_CROSS_VALIDATION_ROWS.toLocaleString('en-US')} rows (MAX_CROSS_VALIDATION_ROWS), and dataset ` +
      `${dataset.id} has ${dataset.rows.toLocaleString('en-US')}; leave out validation (a plain job trains from ` +
      `the dataset's chunks) or cross-validate a sample of the rows`
    );
  }
  const layer = batchStatisticsLayer(request.model.hidden);
  const { validationSplit, testSplit } = request.training;
  // Each split with a share above 0 holds out at least one row of two or more (data/split.ts);
  // rows without a target can only leave fewer, which the job finds once it reads them.
  let train = dataset.rows;
  const splits: string[] = [];
  for (const [name, share] of [
    ['test', testSplit],
    ['validation', validationSplit],
  ] as const) {
    if (share > 0 && train >= 2) {
      train--;
      splits.push(name);
    }
  }
  if (layer && train < 2) {
    const heldOut =
      splits.length === 2
        ? 'the test and validation splits hold out at least 2'
        : `the ${splits[0]} split holds out at least 1`;
    return (
      `${layer} needs at least 2 training rows: dataset ${dataset.id} has ${dataset.rows} rows and ${heldOut} ` +
      `(the variance of one row is 0); use more rows, a split of 0, or "layer" normalization`
    );
  }
  if (target && request.task === 'classification' && target.distinct > MAX_PROFILED_VALUES) {
    return (
      `task: classification supports at most ${MAX_PROFILED_VALUES} classes, but target "${request.target}" has more ` +
      `distinct values` +
      (target.type === 'numeric' ? '; for a numeric quantity use task "regression"' : '')
    );
  }
  if (target) return classWeightsReason(request, target);
  return null;
}

/**
 * Why explicit training.classWeights cannot apply to the target (labels it does not have), or
 * null. The labels are the profile's (`String(value)`, as training labels rows).
 */
function classWeightsReason(request: TrainingRequest, target: ColumnProfile): string | null {
  const spec = request.training.classWeights;
  if (request.task !== 'classification' || typeof spec !== 'object' || !target.counts) return null;
  const labels = target.counts.map(([label]) => label);
  const numeric = target.type === 'numeric';
  labels.sort((a, b) => (numeric ? Number(a) - Number(b) : a < b ? -1 : a > b ? 1 : 0));
  const unknown = Object.keys(spec).filter((label) => !labels.includes(label));
  return unknown.length > 0 ? unknownClassesMessage(unknown, labels) : null;
}

/** The 400 for class weights keyed by labels the target does not have. */
export function unknownClassesMessage(unknown: string[], labels: string[]): string {
  const list = (names: string[]) => names.map((n) => JSON.stringify(n)).join(', ');
  return `training.classWeights: the target has no class ${list(unknown)}; its classes are ${list(labels)}`;
}

/**
 * Legal but doubtful uses of the target, reported as warnings when the job or sweep is submitted
 * (in the 202 body) and again in the job's result (where the diagnosis reads them):
 * - a classification target that looks continuous (CONTINUOUS_TARGET);
 * - classes too small for the split: the stratified split holds out round(rows · share) of each
 *   class and always keeps one row in training, so a class can get no validation (or test) row
 *   and its validation metrics go unmeasured. Not reported for a target that looks continuous,
 *   whose first warning already says that most classes have a row or two.
 * A class never ends up without training rows, so neither is a 400. When cross-validation
 * arrives, a class with fewer rows than folds belongs here too.
 */
export function targetWarnings(request: TrainingRequest, target: ColumnProfile): string[] {
  if (request.task !== 'classification') return [];
  if (looksContinuous(target)) {
    return [
      `target "${request.target}" looks continuous for task "classification": ${target.distinct} distinct numeric ` +
        `values in ${target.rows} rows${target.nonInteger ? ', not all of them integers' : ''}. Each value becomes ` +
        `its own class, most with a row or two, so the model can hardly generalize: use task "regression" ` +
        `unless these numbers are class codes.`,
    ];
  }
  const { validationSplit, testSplit } = request.training;
  const warnings: string[] = [];
  const counts = target.counts ?? [];
  const split = counts.map(([label, rows]) => {
    const test = heldOutOfClass(rows, testSplit);
    const validation = heldOutOfClass(rows - test, validationSplit / (1 - testSplit));
    return { label, rows, test, validation };
  });
  const noValidation = validationSplit > 0 ? split.filter((c) => c.validation === 0) : [];
  if (noValidation.length === counts.length && counts.length > 0) {
    warnings.push(
      `target "${request.target}": no class is large enough for training.validationSplit ${validationSplit} to ` +
        `hold out any of its rows (${listClasses(noValidation)}); the split holds out a single row of the largest ` +
        `class so that validation is not empty, and the validation metrics say next to nothing. Collect more rows ` +
        `or raise training.validationSplit.`,
    );
  } else if (noValidation.length > 0) {
    warnings.push(
      `target "${request.target}": ${noValidation.length} of ${counts.length} classes are too small for ` +
        `training.validationSplit ${validationSplit} to hold out any of their rows (${listClasses(noValidation)}), ` +
        `so the validation metrics do not cover them. Collect more rows of these classes, merge them, or raise ` +
        `training.validationSplit.`,
    );
  }
  const noTest = testSplit > 0 ? split.filter((c) => c.test === 0) : [];
  if (noTest.length > 0) {
    warnings.push(
      `target "${request.target}": ${noTest.length} of ${counts.length} classes are too small for ` +
        `training.testSplit ${testSplit} to hold out any of their rows (${listClasses(noTest)}), so the test ` +
        `metrics do not cover them.`,
    );
  }
  return warnings;
}

function listClasses(classes: { label: string; rows: number }[]): string {
  const shown = classes
    .slice(-5)
    .reverse()
    .map((c) => `${JSON.stringify(c.label)} with ${c.rows} row${c.rows === 1 ? '' : 's'}`);
  return shown.join(', ') + (classes.length > 5 ? ', …' : '');
}
