import { columnValues, hasColumn, type Table } from '../data/table';
import type { DatasetMeta } from '../store/dataset-store';
import { batchStatisticsLayer, type TrainingRequest } from '../schemas/training-request.schema';

/**
 * Why a training request cannot train on a dataset, or null when it can. Checked when a job or
 * sweep is submitted, so such a request is a 400 then rather than a failed job later.
 */
export function untrainableReason(dataset: DatasetMeta, request: TrainingRequest): string | null {
  const names = dataset.columns.map((c) => `"${c.name}"`).join(', ');
  const target = dataset.columns.find((c) => c.name === request.target);
  if (!target) {
    return `target: dataset ${dataset.id} has no column "${request.target}"; its columns are ${names}`;
  }
  if (request.task === 'regression' && target.type !== 'numeric') {
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
  const layer = batchStatisticsLayer(request.model.hidden);
  const { validationSplit, testSplit } = request.training;
  // Each split with a share above 0 holds out at least one row of two or more (data/split.ts);
  // rows without a target can only leave fewer, which the job finds once it reads them.
  let train = dataset.rows;
  const splits: string[] = [];
  for (const [name, share] of [['test', testSplit], ['validation', validationSplit]] as const) {
    if (share > 0 && train >= 2) {
      train--;
      splits.push(name);
    }
  }
  if (layer && train < 2) {
    const heldOut = splits.length === 2 ? 'the test and validation splits hold out at least 2' : `the ${splits[0]} split holds out at least 1`;
    return (
      `${layer} needs at least 2 training rows: dataset ${dataset.id} has ${dataset.rows} rows and ${heldOut} ` +
      `(the variance of one row is 0); use more rows, a split of 0, or "layer" normalization`
    );
  }
  return null;
}

/**
 * Why explicit training.classWeights cannot apply to the dataset (labels its target does not
 * have), or null. Needs the rows, so callers read the table only when the weights are explicit
 * (`needsTargetValues`).
 */
export function classWeightsReason(table: Table, request: TrainingRequest): string | null {
  const spec = request.training.classWeights;
  if (typeof spec !== 'object' || !hasColumn(table, request.target)) return null;
  const numeric = table.columns.find((c) => c.name === request.target)?.type === 'numeric';
  const values = [...new Set(columnValues(table, request.target).filter((v) => v !== null))];
  values.sort((a, b) => (numeric ? Number(a) - Number(b) : String(a) < String(b) ? -1 : 1));
  const labels = values.map(String);
  const unknown = Object.keys(spec).filter((label) => !labels.includes(label));
  return unknown.length > 0 ? unknownClassesMessage(unknown, labels) : null;
}

/** Whether `classWeightsReason` has anything to check for this request. */
export function needsTargetValues(request: TrainingRequest): boolean {
  return request.task === 'classification' && typeof request.training.classWeights === 'object';
}

/** The 400 for class weights keyed by labels the target does not have. */
export function unknownClassesMessage(unknown: string[], labels: string[]): string {
  const list = (names: string[]) => names.map((n) => JSON.stringify(n)).join(', ');
  return `training.classWeights: the target has no class ${list(unknown)}; its classes are ${list(labels)}`;
}
