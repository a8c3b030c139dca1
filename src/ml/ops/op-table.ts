import { activation, type ActivationOp } from './activation';
import { affine, type AffineOp } from './affine';
import { cosine, type CosineOp } from './cosine';
import { dense, type DenseOp } from './dense';
import { layerNorm, type LayerNormOp } from './layer-norm';
import type { OpDefinition } from './op-definition';

/** One operation of the frozen inference form (frozen-model.ts). */
export type FrozenOp = DenseOp | AffineOp | LayerNormOp | CosineOp | ActivationOp;
export type OpKind = FrozenOp['op'];
export type OpOf<K extends OpKind> = Extract<FrozenOp, { op: K }>;

/**
 * The op table: every op kind's definition (its shape, JavaScript kernel, TensorFlow.js kernel
 * and export mapping), each in its own module. A Record over OpKind whose entries are typed by
 * their own op, so an op added to FrozenOp is a compile error here until it has a definition, and
 * every path (runFrozen, the serving executor's two paths, the export) reads this table instead
 * of switching on the kind. test/ml/op-table.test.ts runs every kind on every path.
 */
export const OP_TABLE: { readonly [K in OpKind]: OpDefinition<OpOf<K>> } = {
  dense,
  affine,
  layerNorm,
  cosine,
  activation,
};

export const OP_KINDS = Object.keys(OP_TABLE) as OpKind[];

/** Whether this build knows the op kind (a stored model is decoded without a schema). */
export function isOpKind(kind: string): kind is OpKind {
  return Object.hasOwn(OP_TABLE, kind);
}

/** The definition of `op`'s kind; throws for a kind this build does not know. */
export function opDefinition<Op extends FrozenOp>(op: Op): OpDefinition<Op> {
  const kind: string = op.op;
  if (!isOpKind(kind)) throw new Error(`unknown frozen op "${kind}"`);
  // OP_TABLE[op.op] is the definition of exactly Op's kind; TypeScript cannot relate the key to Op.
  return OP_TABLE[op.op] as unknown as OpDefinition<Op>;
}
