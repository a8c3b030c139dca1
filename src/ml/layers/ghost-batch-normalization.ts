import * as tf from '@tensorflow/tfjs';
import { splitIntoShards } from '../collective/shards';
import { BatchNormalization, type BatchNormalizationArgs, type BatchNormalized } from './batch-normalization';

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
 * mean) and the count-weighted mean of the shards' biased variances — the average of what
 * training normalized with, as Keras's `virtual_batch_size` does for equal shards. This is the
 * within-shard variance, smaller than the full batch's by the spread of the shard means.
 * Empty shards (a batch smaller than `replicas`) take no part; a one-row shard has variance 0.
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

  protected override normalizeBatch(x: tf.Tensor2D): BatchNormalized {
    const rows = x.shape[0];
    const shards = splitIntoShards(x, this.replicas).filter((s) => s.shape[0] > 0);
    const outputs: tf.Tensor2D[] = [];
    const means: tf.Tensor[] = [];
    const variances: tf.Tensor[] = [];
    for (const shard of shards) {
      const { mean, variance } = tf.moments(shard, 0);
      outputs.push(this.normalize(shard, mean, variance));
      const weight = shard.shape[0] / rows;
      means.push(tf.mul(mean, weight));
      variances.push(tf.mul(variance, weight));
    }
    return {
      output: outputs.length === 1 ? outputs[0] : tf.concat(outputs, 0),
      mean: tf.addN(means),
      variance: tf.addN(variances),
    };
  }
}
