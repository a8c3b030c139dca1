import * as tf from '@tensorflow/tfjs';
import { splitIntoShards } from '../collective/shards';
import { BatchNormalization, unbiased, type BatchNormalizationArgs, type BatchNormPass } from './batch-normalization';
import type { LayerPass } from './layer';
import { columnSums } from './matrix';

export interface GhostBatchNormalizationArgs extends BatchNormalizationArgs {
  /** Shards ("ghost batches") the mini-batch is split into. Default 4. */
  replicas?: number;
}

/**
 * Ghost (unsynchronized per-replica) batch normalization: the mini-batch is split into
 * `replicas` contiguous shards as for synchronized BN, and each shard is normalized with its own
 * mean and biased variance, with no exchange. This is what data-parallel training does without
 * SyncBN, and what Hoffer et al.'s ghost batch norm does on purpose (small-batch noise).
 *
 * Running statistics move towards the count-weighted mean of the shards' means (= the batch
 * mean) and the count-weighted mean of the shards' unbiased variances (each shard's biased one
 * times n_s/(n_s − 1), as in BatchNormalization): the average of what training normalized with,
 * each corrected to estimate the population's variance. This is the within-shard variance,
 * smaller than the full batch's by the spread of the shard means.
 *
 * Every shard holds at least two rows: a one-row shard has variance 0, so its output would be β
 * whatever the input, no gradient would reach the kernel, and it would pull the running variance
 * towards 0. The request schema refuses batch sizes below 2·replicas, so full batches always get
 * `replicas` shards; a shorter batch (an epoch's last) is split into min(replicas, ⌊rows/2⌋)
 * shards instead, i.e. its one-row shards are merged into the others as evenly as shardSizes
 * spreads rows. A batch of one row (which the trainer skips) is one shard.
 */
export class GhostBatchNormalization extends BatchNormalization {
  readonly replicas: number;

  constructor(args: GhostBatchNormalizationArgs) {
    super(args);
    this.replicas = args.replicas ?? 4;
    if (!Number.isInteger(this.replicas) || this.replicas < 1) {
      throw new Error(`Expected a positive integer number of replicas, received ${args.replicas}`);
    }
  }

  protected override trainingPass(x: tf.Tensor2D): BatchNormPass {
    const rows = x.shape[0];
    const shards = splitIntoShards(x, Math.max(1, Math.min(this.replicas, Math.floor(rows / 2))));
    const sizes = shards.map((s) => s.shape[0]);
    const passes: LayerPass[] = [];
    const means: tf.Tensor[] = [];
    const variances: tf.Tensor[] = [];
    const unbiasedVariances: tf.Tensor[] = [];
    for (const shard of shards) {
      const n = shard.shape[0];
      const mean = tf.div(columnSums(shard), n);
      const centred = tf.sub<tf.Tensor2D>(shard, mean);
      const variance = tf.div(columnSums(tf.square(centred)), n);
      passes.push(this.batchPass(centred, variance, columnSums));
      means.push(tf.mul(mean, n / rows));
      variances.push(tf.mul(variance, n / rows));
      unbiasedVariances.push(tf.mul(unbiased(variance, n), n / rows));
    }
    const concat = (parts: tf.Tensor2D[]) => (parts.length === 1 ? parts[0] : tf.concat(parts, 0));
    const perShard = passes.map((p) => p.saved.length);
    return {
      output: concat(passes.map((p) => p.output)),
      saved: passes.flatMap((p) => p.saved),
      backward: (dy, saved, inputGradient) => {
        // Each shard's backward step on its rows of dy, with its own saved tensors.
        const dys = sizes.length === 1 ? [dy] : tf.split<tf.Tensor2D>(dy, sizes, 0);
        let offset = 0;
        const grads = passes.map((p, i) => {
          const own = saved.slice(offset, offset + perShard[i]);
          offset += perShard[i];
          return p.backward(dys[i], own, inputGradient);
        });
        return {
          dx: inputGradient ? concat(grads.map((g) => g.dx!)) : null,
          params: [0, 1].map((k) => tf.addN(grads.map((g) => g.params[k]))),
        };
      },
      mean: tf.addN(means),
      variance: tf.addN(variances),
      unbiasedVariance: tf.addN(unbiasedVariances),
    };
  }
}
