/**
 * ml/'s own names for what a training request asks of it. ml/ is not typed by the wire schema
 * (src/schemas/): src/training/ml-types.ts checks at compile time that the request's types are
 * assignable to these, so a change on either side that breaks the mapping fails the build.
 */

/** What the target is: classes (softmax cross-entropy) or a number (mean squared error). */
export type Task = 'classification' | 'regression';

/** A hidden layer's activation function (src/ml/activations.ts). */
export type Activation = 'relu' | 'tanh' | 'sigmoid' | 'elu' | 'selu' | 'linear';

/** A validation metric that early stopping and reduce-on-plateau can watch. */
export type ValidationMonitor = 'valLoss' | 'valAccuracy' | 'valMae';

/** Early stopping on a validation metric (src/ml/early-stopping.ts); every field filled in. */
export interface EarlyStoppingSpec {
  monitor: ValidationMonitor;
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

/** Kernel (and, for torch-default, bias) initializers; the formulas are in src/ml/layers/init.ts. */
export type Initializer =
  'he-uniform' | 'he-normal' | 'glorot-uniform' | 'glorot-normal' | 'lecun-uniform' | 'lecun-normal' | 'torch-default';

/**
 * The network's initializer for a layer whose spec sets none (src/ml/network.ts). The same scheme
 * as the request's default for model.init (chosen by measurement on the quality benchmark, README
 * "Initialization"): both are literal types, and src/training/ml-types.ts checks they are equal.
 */
export const DEFAULT_INITIALIZER = 'torch-default' satisfies Initializer;

/**
 * A hidden layer's normalization (src/ml/network.ts builds the layers), every option filled in;
 * the options are documented on the request's schemas.
 */
export type NormalizationSpec =
  | { type: 'none' }
  | { type: 'batch'; momentum: number; epsilon: number; placement: 'before-activation' | 'after-activation' }
  | { type: 'layer'; epsilon: number }
  | { type: 'weight' }
  | { type: 'cosine'; scale: number; learnScale: boolean }
  | { type: 'sync-batch'; replicas: number; passes: 1 | 2; momentum: number; epsilon: number }
  | { type: 'ghost-batch'; replicas: number; momentum: number; epsilon: number };

/** The normalizations that estimate statistics from the mini-batch (and keep running ones). */
export const BATCH_STATISTICS_NORMALIZATIONS = [
  'batch',
  'sync-batch',
  'ghost-batch',
] as const satisfies readonly NormalizationSpec['type'][];

/** Whether a normalization estimates statistics from the mini-batch (batch, sync-batch, ghost-batch). */
export function usesBatchStatistics(normalization: { type: string }): boolean {
  return (BATCH_STATISTICS_NORMALIZATIONS as readonly string[]).includes(normalization.type);
}

/** Dropout after a hidden layer's activation: off when rate is 0; both kinds are off at inference. */
export interface DropoutSpec {
  rate: number;
  /** inverted: kept units divided by 1 − rate; gaussian: multiplied by N(1, rate/(1 − rate)). */
  kind: 'inverted' | 'gaussian';
}

/** Penalties a hidden layer sets for its own kernel, overriding the global ones (src/ml/regularization.ts). */
export interface LayerRegularizationSpec {
  l1?: number;
  l2?: number;
  weightDecay?: number;
}

/** One hidden layer of the network (src/ml/network.ts). */
export interface HiddenLayerSpec {
  units: number;
  activation: Activation;
  normalization: NormalizationSpec;
  dropout: DropoutSpec;
  regularization?: LayerRegularizationSpec;
  /** This layer's kernel (and bias) initializer; the network's own when absent. */
  init?: Initializer;
}

/** The global penalties on kernels and how L1 is applied (src/ml/regularization.ts). */
export interface RegularizationSpec {
  l1: number;
  l1Mode: 'proximal' | 'proximal-lr' | 'subgradient';
  l2: number;
  weightDecay: number;
}

/** A learning-rate schedule (src/ml/learning-rate-schedule.ts), every default filled in. */
export type LearningRateScheduleSpec =
  | { type: 'step'; stepSize: number; gamma: number }
  | { type: 'cosine'; warmupEpochs?: number; warmupSteps?: number; minLearningRate: number }
  | { type: 'one-cycle'; maxLearningRate?: number; pctStart: number; divFactor: number; finalDivFactor: number }
  | {
      type: 'reduce-on-plateau';
      monitor: ValidationMonitor;
      factor: number;
      patience: number;
      threshold: number;
      thresholdMode: 'rel' | 'abs';
      cooldown: number;
      minLearningRate: number;
    };
