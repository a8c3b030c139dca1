import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../random';
import type { HiddenLayerSpec } from '../schemas/training-request.schema';
import { foldAffine, type FrozenModel } from './frozen-model';
import { Activation } from './layers/activation';
import { BatchNormalization } from './layers/batch-normalization';
import { Dense } from './layers/dense';
import { Dropout } from './layers/dropout';
import type { Buffer, ForwardContext, Layer, Param } from './layers/layer';
import { LayerNormalization } from './layers/layer-normalization';

export interface NetworkSpec {
  inputSize: number;
  hidden: HiddenLayerSpec[];
  outputSize: number;
  output: FrozenModel['output'];
}

/**
 * A feed-forward network built from the request's hidden layers. Each hidden layer is
 * Dense → normalization → activation → dropout (normalization before the activation, as the
 * concepts page prescribes for batch norm), followed by a Dense output layer producing logits
 * (classification) or the standardized target (regression).
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

  /** Logits (classification) or standardized predictions (regression). */
  forward(x: tf.Tensor2D, ctx: ForwardContext): tf.Tensor2D {
    let h = x;
    for (const layer of this.layers) h = layer.apply(h, ctx);
    return h;
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
    for (const { name, variable } of [...this.params, ...this.buffers]) {
      const value = weights[name];
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
    const init = ['relu', 'elu', 'selu'].includes(hidden.activation) ? 'he' : 'glorot';
    layers.push(
      new Dense({
        name: `${name}/dense`,
        inputSize: width,
        units: hidden.units,
        useBias: norm.type !== 'batch',
        init,
        rng,
      }),
    );
    if (norm.type === 'batch') {
      layers.push(
        new BatchNormalization({
          name: `${name}/batch_norm`,
          units: hidden.units,
          momentum: norm.momentum,
          epsilon: norm.epsilon,
        }),
      );
    } else if (norm.type === 'layer') {
      layers.push(
        new LayerNormalization({ name: `${name}/layer_norm`, units: hidden.units, epsilon: norm.epsilon }),
      );
    }
    layers.push(new Activation(`${name}/activation`, hidden.activation));
    if (hidden.dropout.rate > 0) {
      layers.push(new Dropout({ name: `${name}/dropout`, rate: hidden.dropout.rate }));
    }
    width = hidden.units;
  });
  layers.push(
    new Dense({ name: 'output/dense', inputSize: width, units: spec.outputSize, init: 'glorot', rng }),
  );
  return layers;
}
