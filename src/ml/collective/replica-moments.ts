import * as tf from '@tensorflow/tfjs';
import type { AllReduce } from './all-reduce';

/** Per-feature mean and biased variance (divide by the count) of a whole batch. */
export interface Moments {
  mean: tf.Tensor1D;
  variance: tf.Tensor1D;
}

export type SyncPasses = 1 | 2;

/**
 * The moments of the whole batch from its replicas' shards, combined through `allReduce`, equal
 * to the full-batch moments up to float rounding. Every step is a differentiable tf op, so
 * gradients flow through the combined statistics to every shard.
 *
 * - passes 2: exchange (count, Σx) to get the global mean μ, then Σ(x − μ)² to get the variance.
 *   The mean's rounding error enters the variance only squared.
 * - passes 1: a single exchange (all-gather) of (count, mean, M2) per replica, merged with
 *   Chan et al.'s parallel formula. Each replica's mean is sent as shift + offset (the shift is
 *   its first row), so the merge's δ = μ_b − μ_a is computed from small numbers and stays exact
 *   in float32 even when the data sit far from zero (mean 1e4, std 1), where rounding the means
 *   themselves to float32 would already cost ~1e-4 of the variance.
 */
export function replicaMoments(shards: tf.Tensor2D[], allReduce: AllReduce, passes: SyncPasses): Moments {
  if (shards.length !== allReduce.replicas) {
    throw new Error(`Expected ${allReduce.replicas} shards, received ${shards.length}`);
  }
  return passes === 2 ? twoPassMoments(shards, allReduce) : onePassMoments(shards, allReduce);
}

function rowsOf(shard: tf.Tensor2D): number {
  return shard.shape[0];
}

function twoPassMoments(shards: tf.Tensor2D[], allReduce: AllReduce): Moments {
  const units = shards[0].shape[1];
  // Exchange 1: [count, Σx].
  const sums = allReduce.sum(
    shards.map((s) => tf.concat([tf.tensor1d([rowsOf(s)]), rowsOf(s) > 0 ? tf.sum(s, 0) : tf.zeros([units])])),
  );
  const count = tf.maximum(tf.slice(sums, [0], [1]), 1);
  const mean = tf.div<tf.Tensor1D>(tf.slice(sums, [1], [units]), count);
  // Exchange 2: Σ(x − μ)² around the global mean.
  const squares = allReduce.sum(
    shards.map((s) => (rowsOf(s) > 0 ? tf.sum(tf.square(tf.sub(s, mean)), 0) : tf.zeros([units]))),
  );
  return { mean, variance: tf.div<tf.Tensor1D>(squares, count) };
}

/** One replica's statistics: count n, mean as shift + m, and M2 = Σ(x − mean)². */
interface ReplicaStats {
  count: tf.Tensor;
  shift: tf.Tensor;
  offset: tf.Tensor;
  m2: tf.Tensor;
}

function localStats(shard: tf.Tensor2D): tf.Tensor {
  const [rows, units] = shard.shape;
  if (rows === 0) return tf.zeros([1 + 3 * units]);
  const shift = tf.reshape(tf.slice(shard, [0, 0], [1, units]), [units]);
  const centred = tf.sub(shard, shift);
  const offset = tf.mean(centred, 0);
  const m2 = tf.sum(tf.square(tf.sub(centred, offset)), 0);
  return tf.concat([tf.tensor1d([rows]), shift, offset, m2]);
}

/**
 * Chan, Golub & LeVeque's pairwise update: n = n_a + n_b, δ = mean_b − mean_a,
 * mean = mean_a + δ·n_b/n, M2 = M2_a + M2_b + δ²·n_a·n_b/n. The merged mean keeps a's shift.
 */
function chanMerge(a: ReplicaStats, b: ReplicaStats): ReplicaStats {
  const count = tf.add(a.count, b.count);
  const weight = tf.div(b.count, tf.maximum(count, 1)); // n_b / n; 0 when b is empty
  const delta = tf.add(tf.sub(b.shift, a.shift), tf.sub(b.offset, a.offset));
  return {
    count,
    shift: a.shift,
    offset: tf.add(a.offset, tf.mul(delta, weight)),
    m2: tf.add(tf.add(a.m2, b.m2), tf.mul(tf.square(delta), tf.mul(a.count, weight))),
  };
}

function onePassMoments(shards: tf.Tensor2D[], allReduce: AllReduce): Moments {
  const units = shards[0].shape[1];
  // The merge starts from replica 0's shift; shardSizes guarantees replica 0 holds rows.
  if (rowsOf(shards[0]) === 0) throw new Error('The first replica holds no rows');
  const gathered = allReduce.gather(shards.map(localStats)) as tf.Tensor2D;
  const stats: ReplicaStats[] = tf.unstack(gathered).map((row) => ({
    count: tf.slice(row, [0], [1]),
    shift: tf.slice(row, [1], [units]),
    offset: tf.slice(row, [1 + units], [units]),
    m2: tf.slice(row, [1 + 2 * units], [units]),
  }));
  const total = stats.reduce(chanMerge);
  return {
    mean: tf.add<tf.Tensor1D>(total.shift, total.offset),
    variance: tf.div<tf.Tensor1D>(total.m2, tf.maximum(total.count, 1)),
  };
}
