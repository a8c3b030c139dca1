import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../random';
import { foldAffine, type FrozenModel } from './frozen-model';
import { Activation } from './layers/activation';
import { BatchNormalization } from './layers/batch-normalization';
import { CosineDense } from './layers/cosine-dense';
import { Dense } from './layers/dense';
import { Dropout } from './layers/dropout';
import { GaussianDropout } from './layers/gaussian-dropout';
import { GhostBatchNormalization } from './layers/ghost-batch-normalization';
import type { Buffer, ForwardContext, Layer, LayerPass, Param } from './layers/layer';
import { LayerNormalization } from './layers/layer-normalization';
import { SyncBatchNormalization } from './layers/sync-batch-normalization';
import { WeightNormalizedDense } from './layers/weight-normalized-dense';
import { DEFAULT_INITIALIZER, type HiddenLayerSpec, type Initializer } from './spec';

export interface NetworkSpec {
  inputSize: number;
  hidden: HiddenLayerSpec[];
  outputSize: number;
  output: FrozenModel['output'];
  /**
   * The initializer of every layer (the output layer's included) whose spec sets none
   * (request: model.init). Default DEFAULT_INITIALIZER.
   */
  init?: Initializer;
}

/**
 * A feed-forward network built from the request's hidden layers, followed by a Dense output layer
 * producing logits (classification) or the standardized target (regression). A hidden layer is,
 * by its normalization:
 * - none:                          Dense → activation → dropout
 * - batch, sync-batch, ghost-batch: Dense (no bias) → BN → activation → dropout (the concepts
 *                                  page's placement; batch's "after-activation" placement is
 *                                  Dense → activation → BN → dropout)
 * - layer:                         Dense → layer norm → activation → dropout
 * - weight:                        weight-normalized Dense → activation → dropout
 * - cosine:                        cosine Dense → activation → dropout
 * Dropout always comes last, so within one layer it never feeds that layer's normalization.
 */
export class Network {
  readonly layers: Layer[];
  readonly spec: NetworkSpec;

  constructor(spec: NetworkSpec, rng: Rng) {
    this.spec = spec;
    // Variables survive tidy; the initial tensors they were made from do not.
    let layers: Layer[] = [];
    tf.tidy(() => {
      layers = buildLayers(spec, rng);
    });
    this.layers = layers;
  }

  get params(): Param[] {
    return this.layers.flatMap((layer) => layer.params);
  }

  get buffers(): Buffer[] {
    return this.layers.flatMap((layer) => layer.buffers);
  }

  /** Kernels are the only parameters that regularization touches. */
  get kernels(): Param[] {
    return this.params.filter((p) => p.role === 'kernel');
  }

  /** Logits (classification) or standardized predictions (regression); differentiable. */
  forward(x: tf.Tensor2D, ctx: ForwardContext): tf.Tensor2D {
    let h = x;
    for (const layer of this.layers) h = layer.apply(h, ctx);
    return h;
  }

  /**
   * The same forward pass with its backward step: `backward(dL/d(output))` runs the layers'
   * backward steps from the last to the first and returns dL/d(param) for every parameter, in
   * `params` order. Nothing is recorded on tf's tape, and no gradient is computed for the input
   * or below the first layer with parameters. Call both inside one tf.tidy.
   */
  forwardWithBackward(
    x: tf.Tensor2D,
    ctx: ForwardContext,
  ): {
    output: tf.Tensor2D;
    backward: (dOutput: tf.Tensor2D) => tf.Tensor[];
  } {
    const passes: LayerPass[] = [];
    let h = x;
    for (const layer of this.layers) {
      const pass = layer.forward(h, ctx);
      passes.push(pass);
      h = pass.output;
    }
    const first = this.layers.findIndex((layer) => layer.params.length > 0);
    const backward = (dOutput: tf.Tensor2D): tf.Tensor[] => {
      const grads: tf.Tensor[][] = this.layers.map(() => []);
      let dy = dOutput;
      for (let i = this.layers.length - 1; i >= Math.max(first, 0); i--) {
        const { dx, params } = passes[i].backward(dy, passes[i].saved, i > first);
        grads[i] = params;
        if (dx) dy = dx;
      }
      return grads.flat();
    };
    return { output: h, backward };
  }

  freeze(): FrozenModel {
    return {
      inputSize: this.spec.inputSize,
      outputSize: this.spec.outputSize,
      output: this.spec.output,
      ops: foldAffine(this.layers.flatMap((layer) => layer.freeze())),
    };
  }

  /** Every parameter and buffer by name, for checkpoints. */
  getWeights(): Record<string, Float32Array> {
    const out: Record<string, Float32Array> = {};
    for (const { name, variable } of [...this.params, ...this.buffers]) {
      out[name] = variable.dataSync() as Float32Array;
    }
    return out;
  }

  setWeights(weights: Record<string, Float32Array>): void {
    const entries: { name: string; variable: tf.Variable; whenAbsent?: number }[] = [...this.params, ...this.buffers];
    for (const { name, variable, whenAbsent } of entries) {
      // A buffer added after these weights were saved takes its stated value.
      const value =
        weights[name] ?? (whenAbsent === undefined ? undefined : new Float32Array(variable.size).fill(whenAbsent));
      if (!value || value.length !== variable.size) {
        throw new Error(`weights for ${name} are missing or have the wrong size`);
      }
      tf.tidy(() => variable.assign(tf.tensor(value, variable.shape)));
    }
  }

  dispose(): void {
    for (const { variable } of [...this.params, ...this.buffers]) variable.dispose();
  }
}

function buildLayers(spec: NetworkSpec, rng: Rng): Layer[] {
  const layers: Layer[] = [];
  let width = spec.inputSize;
  spec.hidden.forEach((hidden, index) => {
    const name = `hidden${index}`;
    const norm = hidden.normalization;
    const init = hidden.init ?? spec.init ?? DEFAULT_INITIALIZER;
    const dense = { inputSize: width, units: hidden.units, init, rng } as const;
    const activation = new Activation(`${name}/activation`, hidden.activation);
    switch (norm.type) {
      case 'none':
        layers.push(new Dense({ name: `${name}/dense`, ...dense }), activation);
        break;
      case 'batch': {
        const bn = new BatchNormalization({
          name: `${name}/batch_norm`,
          units: hidden.units,
          momentum: norm.momentum,
          epsilon: norm.epsilon,
        });
        if (norm.placement === 'after-activation') {
          layers.push(new Dense({ name: `${name}/dense`, ...dense }), activation, bn);
        } else {
          // β makes a bias redundant: the batch mean subtraction cancels it.
          layers.push(new Dense({ name: `${name}/dense`, ...dense, useBias: false }), bn, activation);
        }
        break;
      }
      case 'sync-batch':
        layers.push(
          new Dense({ name: `${name}/dense`, ...dense, useBias: false }),
          new SyncBatchNormalization({
            name: `${name}/sync_batch_norm`,
            units: hidden.units,
            momentum: norm.momentum,
            epsilon: norm.epsilon,
            replicas: norm.replicas,
            passes: norm.passes,
          }),
          activation,
        );
        break;
      case 'ghost-batch':
        layers.push(
          new Dense({ name: `${name}/dense`, ...dense, useBias: false }),
          new GhostBatchNormalization({
            name: `${name}/ghost_batch_norm`,
            units: hidden.units,
            momentum: norm.momentum,
            epsilon: norm.epsilon,
            replicas: norm.replicas,
          }),
          activation,
        );
        break;
      case 'layer':
        layers.push(
          new Dense({ name: `${name}/dense`, ...dense }),
          new LayerNormalization({ name: `${name}/layer_norm`, units: hidden.units, epsilon: norm.epsilon }),
          activation,
        );
        break;
      case 'weight':
        layers.push(new WeightNormalizedDense({ name: `${name}/weight_norm_dense`, ...dense }), activation);
        break;
      case 'cosine':
        layers.push(
          new CosineDense({
            name: `${name}/cosine_dense`,
            ...dense,
            scale: norm.scale,
            learnScale: norm.learnScale,
          }),
          activation,
        );
        break;
    }
    const { rate, kind } = hidden.dropout;
    if (rate > 0) {
      const dropoutName = `${name}/dropout`;
      layers.push(
        kind === 'gaussian'
          ? new GaussianDropout({ name: dropoutName, rate })
          : new Dropout({ name: dropoutName, rate }),
      );
    }
    width = hidden.units;
  });
  layers.push(
    new Dense({
      name: 'output/dense',
      inputSize: width,
      units: spec.outputSize,
      init: spec.init ?? DEFAULT_INITIALIZER,
      rng,
    }),
  );
  return layers;
}
