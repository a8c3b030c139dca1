import * as tf from '@tensorflow/tfjs';

/** What the training loss of a classification step applies to its targets. */
export interface CrossEntropyOptions {
  /** A weight per class as a [1, K] tensor; absent: every class weighs 1. */
  classWeights?: tf.Tensor2D;
  /** ε: targets become (1 − ε)·t + ε/K. 0 for none. */
  labelSmoothing: number;
}

/**
 * The training loss of a classification step and its gradient with respect to the logits z, in
 * closed form, as torch.nn.CrossEntropyLoss(weight=w, label_smoothing=ε) with mean reduction:
 *
 *   a_ic = w_c · ((1 − ε)·t_ic + ε/K),   S = Σ_i Σ_c w_c·t_ic   (the batch's sum of row weights)
 *   loss = −Σ_i Σ_c a_ic · log softmax(z_i)_c / S,   ∂loss/∂z_i = (Σ_c a_ic · softmax(z_i) − a_i) / S
 *
 * For one-hot targets this is torch's formula exactly (its smoothing term weighs class c by w_c,
 * and it divides by the sum of the targets' weights); soft (mixup) targets extend it linearly.
 * Without weights S = n and Σ_c a_ic = 1: the mean of the rows' losses and (softmax(z) − a)/n,
 * the same few ops as plain cross-entropy.
 */
export function softmaxCrossEntropyWithGradient(
  logits: tf.Tensor2D,
  targets: tf.Tensor2D,
  options: CrossEntropyOptions = { labelSmoothing: 0 },
): { loss: tf.Scalar; gradient: tf.Tensor2D } {
  const { classWeights, labelSmoothing: epsilon } = options;
  const [rows, classes] = logits.shape;
  const smoothed = epsilon > 0 ? tf.add<tf.Tensor2D>(tf.mul(targets, 1 - epsilon), epsilon / classes) : targets;
  const logProbabilities = tf.sub(logits, tf.logSumExp(logits, 1, true));
  if (!classWeights) {
    const loss = tf.neg(tf.mean<tf.Scalar>(tf.sum(tf.mul(logProbabilities, smoothed), 1)));
    const gradient = tf.mul<tf.Tensor2D>(tf.sub(tf.exp(logProbabilities), smoothed), 1 / rows);
    return { loss, gradient };
  }
  const a = tf.mul<tf.Tensor2D>(smoothed, classWeights);
  const weightSum = epsilon > 0 ? tf.sum(tf.mul(targets, classWeights)) : tf.sum(a);
  const loss = tf.neg(tf.div<tf.Scalar>(tf.sum(tf.mul(logProbabilities, a)), weightSum));
  const rowMass = tf.sum(a, 1, true);
  const gradient = tf.div<tf.Tensor2D>(tf.sub(tf.mul(tf.exp(logProbabilities), rowMass), a), weightSum);
  return { loss, gradient };
}

/**
 * For reported (inference-mode) losses with class weights: [Σ_i ω_i·CE_i, Σ_i ω_i] with
 * ω_i = Σ_c w_c·t_ic and CE_i the plain (unsmoothed) cross-entropy of row i, so that chunks add
 * up and the weighted mean is their ratio.
 */
export function weightedCrossEntropySums(
  logits: tf.Tensor2D,
  targets: tf.Tensor2D,
  classWeights: tf.Tensor2D,
): [tf.Scalar, tf.Scalar] {
  const logProbabilities = tf.sub(logits, tf.logSumExp(logits, 1, true));
  const rowLoss = tf.neg(tf.sum(tf.mul(logProbabilities, targets), 1));
  const rowWeight = tf.sum(tf.mul(targets, classWeights), 1);
  return [tf.sum<tf.Scalar>(tf.mul(rowLoss, rowWeight)), tf.sum<tf.Scalar>(rowWeight)];
}

/**
 * scikit-learn's compute_class_weight("balanced"): n / (K · n_c) over the given rows, where
 * n_c is the number of rows of class c. A class without rows gets weight 1 (it never occurs
 * in the loss).
 */
export function balancedClassWeights(y: Float32Array, rows: Int32Array, classes: number): Float32Array {
  const counts = new Float64Array(classes);
  for (const row of rows) counts[y[row]]++;
  return Float32Array.from(counts, (count) => (count > 0 ? rows.length / (classes * count) : 1));
}
