import { Rng } from '../random';
import type { ColumnImportance } from '../schemas/evaluation.schema';

/** The encoded columns of one input column: `width` adjacent values from `start` (one-hot groups are > 1). */
export interface ColumnGroup {
  column: string;
  start: number;
  width: number;
}

/** Written once, as the zod schema the evaluation is stored and served with; documented there. */
export type { ColumnImportance };

/**
 * Permutation feature importance (Breiman 2001; sklearn's permutation_importance, with a loss
 * instead of a score): for each input column, its encoded values (a one-hot group together) are
 * shuffled across the rows, everything else kept, and the loss measured again. Seeded: the same
 * seed shuffles the same way. `loss` is lower-is-better; a column the model ignores scores 0,
 * one it relies on a positive increase; a negative one is noise (or a harmful column).
 */
export function permutationImportance(options: {
  x: Float32Array;
  rows: number;
  inputSize: number;
  groups: ColumnGroup[];
  loss: (x: Float32Array) => number;
  repeats: number;
  seed: number;
}): { baselineLoss: number; columns: ColumnImportance[] } {
  const { x, rows, inputSize, groups, loss, repeats } = options;
  const baselineLoss = loss(x);
  const rng = new Rng(options.seed);
  const columns = groups.map((group): ColumnImportance => {
    const increases: number[] = [];
    for (let k = 0; k < repeats; k++) {
      const order = Int32Array.from({ length: rows }, (_, i) => i);
      rng.shuffle(order);
      const permuted = Float32Array.from(x);
      for (let r = 0; r < rows; r++) {
        const from = order[r] * inputSize + group.start;
        permuted.set(x.subarray(from, from + group.width), r * inputSize + group.start);
      }
      increases.push(loss(permuted) - baselineLoss);
    }
    const mean = increases.reduce((a, b) => a + b, 0) / repeats;
    const std = Math.sqrt(increases.reduce((s, v) => s + (v - mean) ** 2, 0) / repeats);
    return { column: group.column, mean, std, repeats };
  });
  return { baselineLoss, columns };
}
