import { invalid } from '../errors';
import type { Rng } from '../random';

/**
 * Holds out validation rows. Which rows are held out is random but seeded, so the same seed
 * gives the same split; within each part the indices are returned ascending, keeping the data's
 * order for a trainer that does not shuffle.
 */

export interface TrainValidationSplit {
  /** Positions 0..n-1 (into the labels array, or into whatever list of n rows the caller split). */
  train: Int32Array;
  validation: Int32Array;
}

/**
 * Splits n rows, or one row per entry of `labels` stratified by class so that each class is
 * held out in proportion: round(count · validationSplit) of its rows. A class always keeps at
 * least one row in training, since a class the network never sees cannot be learned (this also
 * holds a single-row class back when validationSplit ≥ 0.5). When validationSplit > 0 and there
 * are 2 or more rows, at least one row is held out even if rounding says none.
 */
export function splitTrainValidation(
  nOrLabels: number | ArrayLike<number | string>,
  validationSplit: number,
  rng: Rng,
): TrainValidationSplit {
  checkValidationSplit(validationSplit);
  const n = typeof nOrLabels === 'number' ? nOrLabels : nOrLabels.length;
  if (!Number.isInteger(n) || n < 1) {
    throw invalid('INVALID_TRAINING_REQUEST', `there are ${n} rows with a target; at least 1 is needed to train`);
  }
  const picked =
    typeof nOrLabels === 'number'
      ? pickRandom(n, validationSplit, rng)
      : pickStratified(nOrLabels, validationSplit, rng);
  return partition(n, picked);
}

function checkValidationSplit(validationSplit: number): void {
  if (!Number.isFinite(validationSplit) || validationSplit < 0 || validationSplit >= 1) {
    throw invalid(
      'INVALID_TRAINING_REQUEST',
      `validationSplit must be at least 0 and less than 1, got ${validationSplit}`,
    );
  }
}

function pickRandom(n: number, validationSplit: number, rng: Rng): Set<number> {
  const order = Int32Array.from({ length: n }, (_, i) => i);
  rng.shuffle(order);
  let count = Math.min(Math.round(n * validationSplit), n - 1);
  if (validationSplit > 0 && n >= 2) count = Math.max(count, 1);
  return new Set(order.subarray(0, count));
}

function pickStratified(labels: ArrayLike<number | string>, validationSplit: number, rng: Rng): Set<number> {
  const groups = groupByLabel(labels);
  const picked = new Set<number>();
  // Each group's rows are shuffled once; validation takes from the front, so the fallback
  // below takes the next row of the same shuffled order.
  const taken = groups.map((rows) => {
    rng.shuffle(rows);
    const count = heldOutOfClass(rows.length, validationSplit);
    for (let i = 0; i < count; i++) picked.add(rows[i]);
    return count;
  });
  if (picked.size === 0 && validationSplit > 0 && labels.length >= 2) {
    const g = fallbackGroup(groups, rng);
    picked.add(groups[g][taken[g]]);
  }
  return picked;
}

/**
 * How many of a class's `rows` the stratified split holds out: round(rows · share), but always
 * at least one left in training (so none of a single-row class). Before the fallback that holds
 * one row out when no class gave any.
 */
export function heldOutOfClass(rows: number, share: number): number {
  return rows >= 2 ? Math.min(Math.round(rows * share), rows - 1) : 0;
}

/** The largest class that can spare a row; if every class has one row, a random one. */
function fallbackGroup(groups: Int32Array[], rng: Rng): number {
  let best = 0;
  groups.forEach((rows, g) => {
    if (rows.length > groups[best].length) best = g;
  });
  return groups[best].length >= 2 ? best : rng.int(groups.length);
}

/** Row positions per distinct label, groups in order of first appearance (so the result is deterministic). */
function groupByLabel(labels: ArrayLike<number | string>): Int32Array[] {
  const groups = new Map<number | string, number[]>();
  for (let i = 0; i < labels.length; i++) {
    const rows = groups.get(labels[i]);
    if (rows) rows.push(i);
    else groups.set(labels[i], [i]);
  }
  return [...groups.values()].map((rows) => Int32Array.from(rows));
}

function partition(n: number, validation: Set<number>): TrainValidationSplit {
  const train = new Int32Array(n - validation.size);
  const held = new Int32Array(validation.size);
  let t = 0;
  let v = 0;
  for (let i = 0; i < n; i++) {
    if (validation.has(i)) held[v++] = i;
    else train[t++] = i;
  }
  return { train, validation: held };
}
