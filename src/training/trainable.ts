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
