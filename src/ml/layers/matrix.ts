import * as tf from '@tensorflow/tfjs';

/**
 * Matrix building blocks of the layers' forward and backward steps, written so that every
 * backend runs them on its fast kernels. They are ordinary tf ops, correct on every backend; the
 * choices below are what the wasm backend needs, and cost nothing elsewhere:
 *
 * - wasm multiplies matrices with XNNPACK only when neither operand is transposed; `matMul` with
 *   a transpose flag (what tf's own matMul gradient uses) runs a scalar loop 14–18× slower.
 *   Gradients therefore materialize the transpose and multiply without flags.
 * - wasm's 2-D transpose writes the output with a stride of the input's row count; when that
 *   stride is a large power-of-two multiple of the cache line, the writes fall into a few cache
 *   sets and evict each other ([256, 256]: 190 µs instead of 56). The same permutation written as a 3-D
 *   transpose reads the input in short contiguous runs and writes the output in order.
 * - wasm reduces over a non-innermost axis by transposing first, with the same 2-D transpose.
 */

/** Rows at or above this count, in multiples of 64, take the blocked transpose. */
const BLOCKED_TRANSPOSE_MIN_ROWS = 128;
/** Contiguous floats read per step of the blocked transpose. */
const BLOCK = 8;

/** xᵀ for a [rows, cols] matrix. */
export function transposeMatrix(x: tf.Tensor2D): tf.Tensor2D {
  const [rows, cols] = x.shape;
  if (rows >= BLOCKED_TRANSPOSE_MIN_ROWS && rows % 64 === 0 && cols >= 8 * BLOCK && cols % BLOCK === 0) {
    // x as [rows, cols/B, B] → [cols/B, B, rows], which is xᵀ element for element.
    const blocked = tf.transpose(tf.reshape(x, [rows, cols / BLOCK, BLOCK]), [1, 2, 0]);
    return tf.reshape(blocked, [cols, rows]);
  }
  return tf.transpose(x);
}

/** aᵀ·b for a [k, m] and b [k, n]: the weight gradient of a dense layer (a its input). */
export function matMulTransposeA(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  return tf.matMul(transposeMatrix(a), b);
}

/** a·bᵀ for a [m, k] and b [n, k]: the input gradient of a dense layer (b its kernel). */
export function matMulTransposeB(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  return tf.matMul(a, transposeMatrix(b));
}

/** Σ over the rows of a [rows, cols] matrix: a [cols] vector. */
export function columnSums(x: tf.Tensor2D): tf.Tensor1D {
  const [rows, cols] = x.shape;
  if (rows === 0) return tf.zeros([cols]);
  if (rows === 1) return tf.reshape(x, [cols]);
  if (rows >= 128 && rows % 8 === 0) {
    // Reduced over two leading axes, wasm permutes the view with its 3-D transpose instead of
    // the cache-thrashing 2-D one (see the top of this file): 35 µs instead of 100 for [128, 256].
    return tf.sum(tf.reshape(x, [8, rows / 8, cols]), [0, 1]);
  }
  return tf.sum(x, 0);
}

/**
 * Σ over the rows of x as the product 1ᵀ·x, for an x that was just the right operand of a
 * matMul (a dense layer's dy, after its weight gradient xᵀ·dy): XNNPACK keeps that operand
 * packed for as long as the tensor lives, so this product costs one pass over x (6 µs for
 * [128, 256]); for any other x the packing makes it slower than `columnSums`.
 */
export function columnSumsOfRightOperand(x: tf.Tensor2D): tf.Tensor1D {
  const [rows, cols] = x.shape;
  if (rows <= 1) return columnSums(x);
  return tf.reshape(tf.matMul(tf.ones([1, rows]), x), [cols]);
}

/** Σ over the columns of a [rows, cols] matrix, kept as [rows, 1] for broadcasting. */
export function rowSums(x: tf.Tensor2D): tf.Tensor2D {
  return tf.sum(x, 1, true);
}
