import * as tf from '@tensorflow/tfjs';
import type { AllReduce } from '../collective/all-reduce';
import { InProcessAllReduce } from '../collective/in-process-all-reduce';
import { replicaMoments, type SyncPasses } from '../collective/replica-moments';
import { splitIntoShards } from '../collective/shards';
import { BatchNormalization, unbiased, type BatchNormalizationArgs, type BatchNormPass } from './batch-normalization';
import { columnSums } from './matrix';

export interface SyncBatchNormalizationArgs extends BatchNormalizationArgs {
  /** Data-parallel replicas the mini-batch is split over. Default 4. */
  replicas?: number;
  /**
   * 2: exchange the sums for the global mean, then Σ(x − μ)² for the variance (two collective
   * calls). 1: one all-gather of (count, mean, M2) merged with Chan et al.'s parallel formula.
   * Default 1: one collective round per step, and as exact as two.
   */
  passes?: SyncPasses;
  /** The collective; default an in-process one over `replicas` simulated devices. */
  allReduce?: AllReduce;
}

/**
 * Synchronized batch normalization. The mini-batch is split into `replicas` contiguous shards as
 * data-parallel devices would hold it (sizes differ by at most one); each shard computes local
 * statistics, the all-reduce combines them into the whole batch's mean and biased variance, and
 * each shard is normalized with those. Training output (and so every gradient) equals full-batch
 * batch normalization up to float rounding; running statistics, inference and freezing are
 * batch normalization's.
 *
 * The backward step is the data-parallel one too: the two sums it needs over the whole batch
 * (Σ dy and Σ dy⊙(x − μ)) are each replica's partial sums combined by an all-reduce, as
 * PyTorch's SyncBatchNorm does; every replica then computes its rows' dx locally.
 */
export class SyncBatchNormalization extends BatchNormalization {
  readonly replicas: number;
  readonly passes: SyncPasses;
  readonly allReduce: AllReduce;

  constructor(args: SyncBatchNormalizationArgs) {
    super(args);
    this.replicas = args.replicas ?? args.allReduce?.replicas ?? 4;
    this.passes = args.passes ?? 1;
    if (!Number.isInteger(this.replicas) || this.replicas < 1) {
      throw new Error(`Expected a positive integer number of replicas, received ${args.replicas}`);
    }
    if (this.passes !== 1 && this.passes !== 2) {
      throw new Error(`Expected passes to be one of 1, 2, received ${args.passes}`);
    }
    this.allReduce = args.allReduce ?? new InProcessAllReduce(this.replicas);
    if (this.allReduce.replicas !== this.replicas) {
      throw new Error(`The all-reduce spans ${this.allReduce.replicas} replicas, not ${this.replicas}`);
    }
  }

  protected override trainingPass(x: tf.Tensor2D): BatchNormPass {
    const { mean, variance } = replicaMoments(splitIntoShards(x, this.replicas), this.allReduce, this.passes);
    // Each replica normalizes its own rows with the shared statistics: row by row the same
    // arithmetic as normalizing the whole batch at once, which is what runs here.
    const centred = tf.sub<tf.Tensor2D>(x, mean);
    return {
      ...this.batchPass(centred, variance, (t) => this.allReduceSum(t)),
      mean,
      variance,
      // The whole batch's rows, as torch's SyncBatchNorm corrects by the global count.
      unbiasedVariance: unbiased(variance, x.shape[0]),
    };
  }

  /** Σ over the whole batch's rows: each replica sums its shard, the all-reduce adds them up. */
  private allReduceSum(t: tf.Tensor2D): tf.Tensor1D {
    return this.allReduce.sum(splitIntoShards(t, this.replicas).map(columnSums)) as tf.Tensor1D;
  }
}
