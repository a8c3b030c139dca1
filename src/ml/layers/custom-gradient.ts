import * as tf from '@tensorflow/tfjs';
import type { ForwardContext, Layer } from './layer';

/**
 * `layer.forward(x, ctx)` as one differentiable tf op: the output of the forward pass, whose
 * gradients with respect to x and to every parameter of the layer are the pass's backward step
 * (tf.customGrad). This is what `Layer.apply` returns, so tf.grads and tf.variableGrads through a
 * layer use the same closed-form gradients as the training loop.
 */
export function applyWithCustomGradient(layer: Layer, x: tf.Tensor2D, ctx: ForwardContext): tf.Tensor2D {
  const variables = layer.params.map((p) => p.variable);
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = args[args.length - 1] as tf.GradSaveFunc;
    const pass = layer.forward(args[0] as tf.Tensor2D, ctx);
    save(pass.saved);
    return {
      value: pass.output,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const { dx, params } = pass.backward(dy as tf.Tensor2D, saved, true);
        return [dx!, ...params];
      },
    };
  });
  return op(x, ...variables);
}
