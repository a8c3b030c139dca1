import type { EarlyStoppingSpec } from './spec';

export interface EarlyStoppingState {
  best: number | null;
  bestEpoch: number;
  /** Epochs since the last improvement. */
  wait: number;
  stoppedEpoch?: number;
}

/**
 * The service's own early stopping (the built-in tfjs callback throws for restoreBestWeights in
 * 4.22). It watches a validation metric after each epoch and says when to stop; whether to keep
 * the best weights is the caller's business. Its state is plain data, saved in checkpoints.
 */
export class EarlyStopping {
  state: EarlyStoppingState = { best: null, bestEpoch: 0, wait: 0 };

  constructor(readonly spec: EarlyStoppingSpec) {}

  private get higherIsBetter(): boolean {
    return this.spec.monitor === 'valAccuracy';
  }

  /**
   * Records one epoch's value; returns whether this epoch is the best so far and whether to stop.
   * An improvement must beat the best by more than minDelta.
   */
  update(epoch: number, value: number | undefined): { improved: boolean; stop: boolean } {
    if (value === undefined || !Number.isFinite(value)) {
      return { improved: false, stop: false };
    }
    const { best } = this.state;
    const improved =
      best === null || (this.higherIsBetter ? value > best + this.spec.minDelta : value < best - this.spec.minDelta);
    if (improved) {
      this.state = { best: value, bestEpoch: epoch, wait: 0 };
      return { improved: true, stop: false };
    }
    this.state.wait++;
    // Keras' rule: stop once `patience` epochs in a row brought no improvement.
    const stop = this.state.wait >= this.spec.patience;
    if (stop) this.state.stoppedEpoch = epoch;
    return { improved: false, stop };
  }
}
