import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { buildLayersModel } from '../../src/export/tfjs-layers-model';
import { type FrozenModel, type OpKind, runFrozen } from '../../src/ml/frozen-model';
import { Activation } from '../../src/ml/layers/activation';
import { BatchNormalization } from '../../src/ml/layers/batch-normalization';
import { CosineDense } from '../../src/ml/layers/cosine-dense';
import { Dense } from '../../src/ml/layers/dense';
import { GhostBatchNormalization } from '../../src/ml/layers/ghost-batch-normalization';
import type { Layer } from '../../src/ml/layers/layer';
import { LayerNormalization } from '../../src/ml/layers/layer-normalization';
import { SyncBatchNormalization } from '../../src/ml/layers/sync-batch-normalization';
import { WeightNormalizedDense } from '../../src/ml/layers/weight-normalized-dense';
import { Network } from '../../src/ml/network';
import { OP_KINDS, OP_TABLE } from '../../src/ml/ops/op-table';
import { Rng } from '../../src/random';
import { ACTIVATIONS, hiddenLayerSchema, NORMALIZATIONS } from '../../src/schemas/training-request.schema';
import { FrozenExecutor } from '../../src/serving/frozen-executor';
import { take, useWasmBackend } from '../helpers/tf';

/**
 * Every op kind of the op table on every inference path, against the trainable layers' own
 * inference mode (the pieces Network.forward chains) and against each other, on random weights
 * and inputs:
 *   - `runFrozen` (tf, weights uploaded per call),
 *   - the serving executor's tf path (resident weights) and its JavaScript kernels,
 *   - the export: the tfjs LayersModel built from the op table, saved and loaded back by tfjs,
 *     for the ops the table marks exportable; the others must be refused with their reason.
 * A kind added to FrozenOp fails to compile in SOURCES and EXPORTABLE below until it has a
 * source here, and fails the first test if no source yields it.
 */

const ROWS = 9;
const WIDTH = 6;
/** |a − b| ≤ TOL · (1 + |b|): float32 rounding of sums over a few terms, nothing more. */
const TOL = 1e-5;

type Source = (rng: Rng) => { name: string; layer: Layer; inputSize: number };

/** Trainable layers whose frozen form is exactly one op of the kind, one or more per kind. */
const SOURCES: { readonly [K in OpKind]: Source[] } = {
  dense: [
    (rng) => ({ name: 'Dense', layer: new Dense({ name: 'd', inputSize: WIDTH, units: 5, rng }), inputSize: WIDTH }),
    (rng) => ({
      name: 'Dense without bias',
      layer: new Dense({ name: 'd', inputSize: WIDTH, units: 4, useBias: false, rng }),
      inputSize: WIDTH,
    }),
    (rng) => ({
      name: 'WeightNormalizedDense',
      layer: new WeightNormalizedDense({ name: 'w', inputSize: WIDTH, units: 7, rng }),
      inputSize: WIDTH,
    }),
  ],
  affine: [
    () => ({
      name: 'BatchNormalization',
      layer: new BatchNormalization({ name: 'b', units: WIDTH }),
      inputSize: WIDTH,
    }),
    () => ({
      name: 'SyncBatchNormalization',
      layer: new SyncBatchNormalization({ name: 's', units: WIDTH, replicas: 2, passes: 1 }),
      inputSize: WIDTH,
    }),
    () => ({
      name: 'GhostBatchNormalization',
      layer: new GhostBatchNormalization({ name: 'g', units: WIDTH, replicas: 2, epsilon: 0.01 }),
      inputSize: WIDTH,
    }),
  ],
  layerNorm: [
    () => ({
      name: 'LayerNormalization',
      layer: new LayerNormalization({ name: 'l', units: WIDTH }),
      inputSize: WIDTH,
    }),
  ],
  cosine: [
    (rng) => ({
      name: 'CosineDense',
      layer: new CosineDense({ name: 'c', inputSize: WIDTH, units: 5, scale: 2.5, rng }),
      inputSize: WIDTH,
    }),
  ],
  // Every activation that freezes to an op ('linear' freezes to none).
  activation: ACTIVATIONS.filter((fn) => fn !== 'linear').map((fn): Source => () => ({
    name: `Activation ${fn}`,
    layer: new Activation('a', fn),
    inputSize: WIDTH,
  })),
};

/** Which kinds the export maps to a standard tfjs layer: written here so a change to the table's list shows. */
const EXPORTABLE: { readonly [K in OpKind]: boolean } = {
  dense: true,
  affine: true,
  layerNorm: true,
  activation: true,
  cosine: false,
};

function uniform(rng: Rng, n: number, low: number, high: number): Float32Array {
  return Float32Array.from({ length: n }, () => low + (high - low) * rng.next());
}

/** Random values for every parameter, and running statistics far from their (0, 1) start. */
function randomize(layer: Layer, rng: Rng): void {
  tf.tidy(() => {
    for (const { role, variable } of layer.params) {
      const [low, high] = role === 'scale' ? [0.5, 2] : [-1, 1];
      variable.assign(tf.tensor(uniform(rng, variable.size, low, high), variable.shape));
    }
    for (const { name, variable } of layer.buffers) {
      if (name.endsWith('/moving_mean')) variable.assign(tf.tensor(uniform(rng, variable.size, -1, 1), variable.shape));
      if (name.endsWith('/moving_variance')) {
        variable.assign(tf.tensor(uniform(rng, variable.size, 0.25, 2), variable.shape));
      }
    }
  });
}

/**
 * ROWS random rows: values in ±2 with about one in five exactly zero (the JS dense kernel skips
 * zeros), one row all zeros (cosine's ε floor, layer norm of a constant row) and one of ±20
 * (saturated activations).
 */
function inputs(rng: Rng, width: number): Float32Array {
  const x = Float32Array.from({ length: ROWS * width }, () => (rng.next() < 0.2 ? 0 : 4 * rng.next() - 2));
  x.fill(0, 0, width);
  for (let j = 0; j < width; j++) x[width + j] = j % 2 === 0 ? 20 : -20;
  return x;
}

/** A layer's inference-mode output: what Network.forward computes with ctx.training false. */
function inferenceForward(forward: (x: tf.Tensor2D) => tf.Tensor2D, x: Float32Array, width: number): Float32Array {
  return take(tf.tidy(() => forward(tf.tensor2d(x, [x.length / width, width]))));
}

/** The export path: the op table's tfjs layers, serialized by tfjs and loaded back by it. */
async function viaExport(model: FrozenModel, x: Float32Array, rows: number): Promise<Float32Array> {
  const built = buildLayersModel(model, 'op_table_test');
  let artifacts: tf.io.ModelArtifacts | undefined;
  try {
    await built.save(
      tf.io.withSaveHandler(async (saved) => {
        artifacts = saved;
        return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(saved) };
      }),
    );
  } finally {
    built.dispose();
  }
  assert.ok(artifacts);
  const loaded = await tf.loadLayersModel(tf.io.fromMemory(artifacts));
  try {
    return take(tf.tidy(() => loaded.predict(tf.tensor2d(x, [rows, model.inputSize])) as tf.Tensor));
  } finally {
    loaded.dispose();
  }
}

function assertNear(actual: ArrayLike<number>, expected: ArrayLike<number>, label: string): void {
  assert.equal(actual.length, expected.length, `${label}: length ${actual.length} ≠ ${expected.length}`);
  for (let i = 0; i < expected.length; i++) {
    const diff = Math.abs(actual[i] - expected[i]);
    assert.ok(
      Number.isFinite(actual[i]) && diff <= TOL * (1 + Math.abs(expected[i])),
      `${label}[${i}]: got ${actual[i]}, expected ${expected[i]} (|diff| ${diff})`,
    );
  }
}

/** Runs `model` on every path and holds each to `expected`; returns the paths that ran. */
async function checkEveryPath(model: FrozenModel, x: Float32Array, expected: Float32Array, label: string) {
  const rows = x.length / model.inputSize;
  const ran: string[] = [];
  assertNear(runFrozen(model, x, rows), expected, `${label}: runFrozen`);
  ran.push('runFrozen');
  const executor = new FrozenExecutor(model);
  try {
    assertNear(executor.runJs(x, rows), expected, `${label}: executor JavaScript`);
    ran.push('executor JavaScript');
    // Twice: the first run uploads the weights, the second reads the resident ones.
    assertNear(executor.runTf(x, rows), expected, `${label}: executor tf (upload)`);
    assertNear(executor.runTf(x, rows), expected, `${label}: executor tf (resident)`);
    ran.push('executor tf');
  } finally {
    executor.dispose();
  }
  const refused = model.ops.find((op) => !EXPORTABLE[op.op]);
  if (refused) {
    assert.throws(() => buildLayersModel(model, 'refused'), new RegExp(`no tfjs layer for op ${refused.op}`));
  } else {
    assertNear(await viaExport(model, x, rows), expected, `${label}: export`);
    ran.push('export');
  }
  return ran;
}

describe('the op table: every op kind on every inference path', () => {
  before(async () => {
    await useWasmBackend();
  });

  test('the table, the sources and the export list cover the same op kinds', () => {
    assert.deepEqual([...OP_KINDS].sort(), Object.keys(SOURCES).sort());
    assert.deepEqual([...OP_KINDS].sort(), Object.keys(EXPORTABLE).sort());
    for (const kind of OP_KINDS) {
      assert.equal(OP_TABLE[kind].exportAs.exportable, EXPORTABLE[kind], `${kind}: exportable`);
      const { exportAs } = OP_TABLE[kind];
      if (!exportAs.exportable) assert.ok(exportAs.reason.length > 20, `${kind}: a reason that says why`);
    }
  });

  for (const kind of OP_KINDS) {
    test(`${kind}: runFrozen, both executor paths and the export agree with the layer's inference mode`, async () => {
      const rng = new Rng(7 + OP_KINDS.indexOf(kind));
      assert.ok(SOURCES[kind].length > 0, `no source yields a ${kind} op`);
      for (const source of SOURCES[kind]) {
        const { name, layer, inputSize } = source(rng);
        try {
          randomize(layer, rng);
          const ops = layer.freeze();
          assert.deepEqual(
            ops.map((op) => op.op),
            [kind],
            `${name} freezes to one ${kind} op`,
          );
          const x = inputs(rng, inputSize);
          const expected = inferenceForward((h) => layer.apply(h, { training: false }), x, inputSize);
          const outputSize = expected.length / ROWS;
          const model: FrozenModel = { inputSize, outputSize, output: 'identity', ops };
          const ran = await checkEveryPath(model, x, expected, name);
          const paths = ['runFrozen', 'executor JavaScript', 'executor tf', ...(EXPORTABLE[kind] ? ['export'] : [])];
          assert.deepEqual(ran, paths, `${name}: paths run`);
          // The output function on top, as classification serves it.
          const softmaxed = take(tf.tidy(() => tf.softmax(tf.tensor2d(expected, [ROWS, outputSize]))));
          await checkEveryPath({ ...model, output: 'softmax' }, x, softmaxed, `${name}, softmax output`);
        } finally {
          for (const { variable } of [...layer.params, ...layer.buffers]) variable.dispose();
        }
      }
    });
  }

  test('whole networks of every normalization: every path equals softmax(Network.forward) in inference mode', async () => {
    const layer = (units: number, normalization: unknown, activation: string) =>
      hiddenLayerSchema.parse({ units, normalization, activation, dropout: 0.2 });
    // Every normalization but cosine, every activation, batch norm in both placements: exportable.
    const exportable = NORMALIZATIONS.filter((type) => type !== 'cosine').map((type, i) =>
      layer(5 + i, type, ACTIVATIONS[i % ACTIVATIONS.length]),
    );
    exportable.push(layer(6, { type: 'batch', placement: 'after-activation' }, 'selu'));
    // After-activation batch norm followed by a cosine layer stays an affine op; cosine refuses the export.
    const withCosine = [
      layer(7, { type: 'batch', placement: 'after-activation' }, 'relu'),
      layer(5, 'cosine', 'tanh'),
      layer(4, 'layer', 'elu'),
    ];
    const rng = new Rng(41);
    const seen = new Set<OpKind>();
    const cases = [
      { name: 'exportable network', hidden: exportable, paths: 4 },
      { name: 'network with cosine', hidden: withCosine, paths: 3 },
    ];
    for (const { name, hidden, paths } of cases) {
      const network = new Network({ inputSize: WIDTH, hidden, outputSize: 3, output: 'softmax' }, rng);
      try {
        for (const l of network.layers) randomize(l, rng);
        const frozen = network.freeze();
        for (const op of frozen.ops) seen.add(op.op);
        const x = inputs(rng, WIDTH);
        const expected = inferenceForward((h) => tf.softmax(network.forward(h, { training: false })), x, WIDTH);
        assert.equal((await checkEveryPath(frozen, x, expected, name)).length, paths, `${name}: paths run`);
      } finally {
        network.dispose();
      }
    }
    assert.deepEqual([...seen].sort(), [...OP_KINDS].sort(), 'the networks freeze to every op kind');
  });
});
