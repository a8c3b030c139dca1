import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../../random';
import type { FrozenOp } from '../frozen-model';
import type { Initializer } from '../spec';
import { applyWithCustomGradient } from './custom-gradient';
import { initBias, initKernel, LAYER_DEFAULT_INITIALIZER } from './init';
import type { Buffer, ForwardContext, Layer, LayerPass, Param } from './layer';
import { columnSumsOfRightOperand, matMulTransposeA, matMulTransposeB } from './matrix';

export interface DenseArgs {
  name: string;
  inputSize: number;
  units: number;
  /**
   * Default true. Off when batch norm follows directly: its shift β makes a bias redundant
   * (the batch mean subtraction cancels it).
   */
  useBias?: boolean;
  /**
   * The kernel's (and, for torch-default, the bias's) initializer. Default
   * LAYER_DEFAULT_INITIALIZER (the network always passes one).
   */
  init?: Initializer;
  rng: Rng;
}

/** y = x·W + b. */
export class Dense implements Layer {
  readonly name: string;
  readonly params: Param[];
  readonly buffers: Buffer[] = [];
  readonly kernel: tf.Variable;
  readonly bias?: tf.Variable;
  readonly inputSize: number;
  readonly units: number;

  constructor(args: DenseArgs) {
    if (!Number.isInteger(args.units) || args.units < 1) {
      throw new Error(`Dense units must be a positive integer, received ${args.units}`);
    }
    this.name = args.name;
    this.inputSize = args.inputSize;
    this.units = args.units;
    const init = args.init ?? LAYER_DEFAULT_INITIALIZER;
    this.kernel = tf.variable(initKernel(args.rng, args.inputSize, args.units, init), true);
    this.params = [{ name: `${args.name}/kernel`, role: 'kernel', variable: this.kernel }];
    if (args.useBias ?? true) {
      this.bias = tf.variable(initBias(args.rng, args.inputSize, args.units, init), true);
      this.params.push({ name: `${args.name}/bias`, role: 'bias', variable: this.bias });
    }
  }

  apply(x: tf.Tensor2D, ctx: ForwardContext = { training: false }): tf.Tensor2D {
    return applyWithCustomGradient(this, x, ctx);
  }

  /** Backward: dW = xᵀ·dy, db = Σ_rows dy, dx = dy·Wᵀ, each one untransposed product. */
  forward(x: tf.Tensor2D): LayerPass {
    const kernel = this.kernel as tf.Tensor2D;
    // The bias joins the product in one kernel (XNNPACK adds it in the matrix multiply).
    const output = tf.fused.matMul({ a: x, b: kernel, bias: this.bias }) as tf.Tensor2D;
    return {
      output,
      saved: [x, kernel],
      backward: (dy, [input, w], inputGradient) => {
        const params: tf.Tensor[] = [matMulTransposeA(input as tf.Tensor2D, dy)];
        if (this.bias) params.push(columnSumsOfRightOperand(dy));
        return { dx: inputGradient ? matMulTransposeB(dy, w as tf.Tensor2D) : null, params };
      },
    };
  }

  freeze(): FrozenOp[] {
    return [
      {
        op: 'dense',
        inputSize: this.inputSize,
        units: this.units,
        kernel: this.kernel.dataSync() as Float32Array,
        bias: this.bias ? (this.bias.dataSync() as Float32Array) : new Float32Array(this.units),
      },
    ];
  }
}

export type { ForwardContext };
