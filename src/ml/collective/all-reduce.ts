import type * as tf from '@tensorflow/tfjs';

/**
 * The collective step of data-parallel training, as synchronized batch normalization needs it.
 * Each replica (device) holds one shard of the mini-batch and contributes one tensor; every
 * replica receives the same result. The in-process implementation is handed all replicas'
 * tensors at once; a multi-device one (NCCL, MPI, a parameter server) would be handed its own
 * replica's tensor and exchange it with its peers — the results are the same.
 *
 * Both operations must be differentiable, so that gradients flow back through the combined
 * statistics to every replica's rows.
 */
export interface AllReduce {
  /** Number of replicas taking part. */
  readonly replicas: number;
  /** Element-wise sum over the replicas' tensors (all of one shape): an all-reduce(SUM). */
  sum(perReplica: tf.Tensor[]): tf.Tensor;
  /**
   * Every replica's tensor, stacked along a new leading axis in replica order: an all-gather.
   * Used where the combination is not a sum (Chan et al.'s merge of (count, mean, M2)), as
   * PyTorch's SyncBatchNorm gathers per-replica statistics and merges them locally.
   */
  gather(perReplica: tf.Tensor[]): tf.Tensor;
}
