import type { Rng } from '../random';

/**
 * k folds of n positions, seeded: for classification stratified (each class's positions
 * shuffled and dealt round-robin over the folds, the dealing continuing from class to class, so
 * every fold holds each class in proportion, within one row, and the folds' sizes differ by at
 * most one); for regression (a count) one shuffle dealt the same way. Each fold's positions
 * ascending. sklearn's StratifiedKFold(shuffle=True) has the same guarantees but not the same
 * rows (its own random stream).
 */
export function stratifiedFolds(nOrLabels: number | ArrayLike<number | string>, folds: number, rng: Rng): Int32Array[] {
  const n = typeof nOrLabels === 'number' ? nOrLabels : nOrLabels.length;
  if (!Number.isInteger(folds) || folds < 2)
    throw new Error(`folds must be an integer of at least 2, received ${folds}`);
  if (n < folds) throw new Error(`${folds} folds need at least ${folds} rows, received ${n}`);
  const groups = new Map<string, number[]>();
  for (let i = 0; i < n; i++) {
    const key = typeof nOrLabels === 'number' ? '' : String(nOrLabels[i]);
    let group = groups.get(key);
    if (!group) groups.set(key, (group = []));
    group.push(i);
  }
  const out: number[][] = Array.from({ length: folds }, () => []);
  let next = 0;
  for (const key of [...groups.keys()].sort()) {
    const positions = Int32Array.from(groups.get(key)!);
    rng.shuffle(positions);
    for (const p of positions) {
      out[next].push(p);
      next = (next + 1) % folds;
    }
  }
  return out.map((fold) => Int32Array.from(fold).sort());
}
