import * as tf from '@tensorflow/tfjs';

/**
 * How `rows` rows are spread over `replicas` data-parallel devices: contiguous shards whose
 * sizes differ by at most one, the larger ones first (numpy's array_split). A batch smaller
 * than the number of replicas leaves the last replicas empty; the first never is (rows ≥ 1).
 */
export function shardSizes(rows: number, replicas: number): number[] {
  if (!Number.isInteger(replicas) || replicas < 1) {
    throw new Error(`Expected a positive integer number of replicas, received ${replicas}`);
  }
  const base = Math.floor(rows / replicas);
  const larger = rows % replicas;
  return Array.from({ length: replicas }, (_, r) => base + (r < larger ? 1 : 0));
}

/**
 * The shards of a [rows, units] batch, one per replica, in replica order. Empty shards are
 * [0, units] tensors: callers must not reduce over them (tf's reductions of an empty tensor are
 * not defined on every backend).
 */
export function splitIntoShards(x: tf.Tensor2D, replicas: number): tf.Tensor2D[] {
  const sizes = shardSizes(x.shape[0], replicas);
  // One piece is x itself: tfjs 4 cannot differentiate a one-piece tf.split ("Pass at least one
  // tensor to concat").
  return sizes.length === 1 ? [x] : tf.split(x, sizes, 0);
}
