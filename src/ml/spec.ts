/**
 * ml/'s own names for what a training request asks of it. ml/ is not typed by the wire schema
 * (src/schemas/): src/training/ml-types.ts checks at compile time that the request's types are
 * assignable to these, so a change on either side that breaks the mapping fails the build.
 */

/** What the target is: classes (softmax cross-entropy) or a number (mean squared error). */
export type Task = 'classification' | 'regression';

/** A hidden layer's activation function (src/ml/activations.ts). */
export type Activation = 'relu' | 'tanh' | 'sigmoid' | 'elu' | 'selu' | 'linear';

/** Early stopping on a validation metric (src/ml/early-stopping.ts); every field filled in. */
export interface EarlyStoppingSpec {
  monitor: 'valLoss' | 'valAccuracy' | 'valMae';
  /** Epochs without improvement before stopping. */
  patience: number;
  /** The least change that counts as an improvement. */
  minDelta: number;
  /** Keep the best epoch's weights rather than the last's. */
  restoreBestWeights: boolean;
}

/** Gradient clipping (src/ml/gradient-clipping.ts): by value, then by global norm; at least one. */
export interface GradientClippingSpec {
  globalNorm?: number;
  value?: number;
}

/** Input augmentation per batch (src/ml/augmentation.ts). */
export interface AugmentationSpec {
  /** σ of Gaussian noise added to standardized numeric features. */
  gaussianNoise?: number;
  /** α of mixup. */
  mixup?: number;
}
