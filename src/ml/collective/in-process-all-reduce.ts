import * as tf from '@tensorflow/tfjs';
import type { AllReduce } from './all-reduce';

/**
 * All replicas live in this process: the all-reduce is an addN and the all-gather a stack, both
 * differentiable. `exchanges` counts collective calls, so a test can tell a one-pass from a
 * two-pass synchronization.
 */
export class InProcessAllReduce implements AllReduce {
  exchanges = 0;

  constructor(readonly replicas: number) {
    if (!Number.isInteger(replicas) || replicas < 1) {
      throw new Error(`Expected a positive integer number of replicas, received ${replicas}`);
    }
  }

  sum(perReplica: tf.Tensor[]): tf.Tensor {
    this.check(perReplica);
    this.exchanges++;
    return perReplica.length === 1 ? tf.clone(perReplica[0]) : tf.addN(perReplica);
  }

  gather(perReplica: tf.Tensor[]): tf.Tensor {
    this.check(perReplica);
    this.exchanges++;
    return tf.stack(perReplica);
  }

  private check(perReplica: tf.Tensor[]): void {
    if (perReplica.length !== this.replicas) {
      throw new Error(`Expected one tensor per replica (${this.replicas}), received ${perReplica.length}`);
    }
  }
}
