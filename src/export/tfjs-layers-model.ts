import * as tf from '@tensorflow/tfjs';
import { strToU8, zipSync } from 'fflate';
import { encodedFeatureNames } from '../data/preprocessing';
import { AppError } from '../errors';
import type { FrozenOp } from '../ml/frozen-model';
import type { StoredModel } from '../store/model-store';

/**
 * A trained model in the TensorFlow.js LayersModel format (what `tf.loadLayersModel` reads and
 * `model.save` writes): `model.json` (Keras-style topology + weights manifest) and `weights.bin`
 * (little-endian float32), zipped together. The network is the frozen inference form, layer for
 * layer:
 *
 *   dense       → Dense (batch norm already folded into the kernel)
 *   affine      → BatchNormalization with moving mean 0 and moving variance 1 − ε, γ = scale,
 *                 β = shift: exactly x·scale + shift (a batch norm that could not be folded)
 *   layerNorm   → LayerNormalization
 *   activation  → Activation
 *   softmax     → a final Activation('softmax') for classification
 *
 * The preprocessing (feature encodings, classes or target scaling) goes into the model.json's
 * `userDefinedMetadata.fitwell`, so the archive alone is enough to predict. The model is built
 * and serialized by tfjs itself, so the format is the one tfjs reads.
 */

const AFFINE_EPSILON = 1e-3;
const WEIGHTS_FILE = 'weights.bin';

export interface LayersModelFiles {
  /** The parsed model.json. */
  modelJson: Record<string, unknown>;
  weights: Uint8Array;
}

export async function toLayersModel(stored: StoredModel): Promise<LayersModelFiles> {
  const { meta, frozen } = stored;
  checkExportable(stored);
  const model = tf.sequential({ name: `fitwell_${meta.id.replace(/[^A-Za-z0-9_]/g, '_')}` });
  try {
    model.add(tf.layers.inputLayer({ inputShape: [frozen.inputSize], name: 'features' }));
    const counts = new Map<string, number>();
    const name = (kind: string) => {
      const n = (counts.get(kind) ?? 0) + 1;
      counts.set(kind, n);
      return `${kind}_${n}`;
    };
    for (const op of frozen.ops) addLayer(model, op, name);
    if (frozen.output === 'softmax') {
      model.add(tf.layers.activation({ activation: 'softmax', name: 'probabilities' }));
    }
    model.setUserDefinedMetadata({ fitwell: describePreprocessing(stored) });

    let artifacts: tf.io.ModelArtifacts | undefined;
    await model.save(
      tf.io.withSaveHandler(async (saved) => {
        artifacts = saved;
        return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(saved) };
      }),
    );
    if (!artifacts?.weightData || !artifacts.weightSpecs) throw new Error('tfjs saved no weights');
    const weightData = Array.isArray(artifacts.weightData)
      ? tf.io.CompositeArrayBuffer.join(artifacts.weightData)
      : artifacts.weightData;
    return {
      modelJson: {
        format: artifacts.format ?? 'layers-model',
        generatedBy: artifacts.generatedBy,
        convertedBy: `fitwell (model ${meta.id})`,
        modelTopology: artifacts.modelTopology,
        weightsManifest: [{ paths: [WEIGHTS_FILE], weights: artifacts.weightSpecs }],
        userDefinedMetadata: artifacts.userDefinedMetadata,
      },
      weights: new Uint8Array(weightData),
    };
  } finally {
    model.dispose();
  }
}

/** model.json + weights.bin in one zip archive. */
export async function exportArchive(stored: StoredModel): Promise<Uint8Array> {
  const { modelJson, weights } = await toLayersModel(stored);
  return zipSync({
    'model.json': strToU8(JSON.stringify(modelJson, null, 1)),
    // Float weights hardly compress; storing them keeps the export fast.
    [WEIGHTS_FILE]: [weights, { level: 0 }],
  });
}

/** Every op must have a standard tfjs layer; the first that has none is a 422 that names it. */
function checkExportable(stored: StoredModel): void {
  const { meta, frozen } = stored;
  let layerIndex = 0; // which hidden layer (spec.model.hidden[i]) an op belongs to
  frozen.ops.forEach((raw, position) => {
    const op = raw as { op: string };
    if (op.op === 'dense' || op.op === 'cosine') layerIndex++;
    if (['dense', 'affine', 'layerNorm', 'activation'].includes(op.op)) return;
    const hidden = meta.spec?.model?.hidden ?? [];
    const where =
      layerIndex >= 1 && layerIndex <= hidden.length
        ? `hidden layer ${layerIndex} (model.hidden[${layerIndex - 1}])`
        : layerIndex > hidden.length
          ? 'the output layer'
          : `operation ${position + 1}`;
    const reason =
      op.op === 'cosine'
        ? `${where} uses cosine normalization, y = (x/‖x‖)·(s·w/‖w‖): its input is divided by its own norm, ` +
          'and TensorFlow.js has no standard layer that does that (a Dense layer computes x·w), so loading it ' +
          'would need a custom layer class; train with another normalization to export'
        : `${where} uses a "${op.op}" operation, which has no standard TensorFlow.js layer`;
    throw new AppError('MODEL_NOT_EXPORTABLE', { id: meta.id, reason });
  });
}

function addLayer(model: tf.Sequential, op: FrozenOp, name: (kind: string) => string): void {
  switch (op.op) {
    case 'dense': {
      const layer = tf.layers.dense({
        units: op.units,
        useBias: true,
        name: name('dense'),
        kernelInitializer: 'zeros',
      });
      model.add(layer);
      setWeights(layer, [tf.tensor2d(op.kernel, [op.inputSize, op.units]), tf.tensor1d(op.bias)]);
      return;
    }
    case 'affine': {
      const layer = tf.layers.batchNormalization({ axis: -1, epsilon: AFFINE_EPSILON, name: name('affine') });
      model.add(layer);
      const units = op.scale.length;
      setWeights(layer, [
        tf.tensor1d(op.scale),
        tf.tensor1d(op.shift),
        tf.zeros([units]),
        tf.fill([units], 1 - AFFINE_EPSILON),
      ]);
      return;
    }
    case 'layerNorm': {
      const layer = tf.layers.layerNormalization({ axis: -1, epsilon: op.epsilon, name: name('layer_norm') });
      model.add(layer);
      setWeights(layer, [tf.tensor1d(op.gain), tf.tensor1d(op.bias)]);
      return;
    }
    case 'activation':
      model.add(tf.layers.activation({ activation: op.fn, name: name(op.fn) }));
      return;
    default:
      // checkExportable has refused every other op.
      throw new Error(`no tfjs layer for op ${(op as { op: string }).op}`);
  }
}

function setWeights(layer: tf.layers.Layer, weights: tf.Tensor[]): void {
  try {
    layer.setWeights(weights);
  } finally {
    tf.dispose(weights);
  }
}

/** How to get from raw feature values to the model's input, and from its output to answers. */
function describePreprocessing(stored: StoredModel) {
  const { meta, frozen } = stored;
  const prep = meta.preprocessing;
  return {
    modelId: meta.id,
    jobId: meta.jobId,
    createdAt: meta.createdAt,
    task: meta.task,
    target: meta.target,
    input: {
      size: frozen.inputSize,
      encoding:
        'One input row is the features below, in order, each encoded and concatenated: a numeric feature ' +
        'becomes (x - mean) / std, and 0 when missing; a categorical feature becomes one-hot over its ' +
        '`categories` (in that order), all zeros when missing or unseen.',
      features: prep.features,
      columns: encodedFeatureNames(prep).map((entry) => entry.label),
    },
    output:
      prep.target.task === 'classification'
        ? {
            kind: 'probabilities',
            description: 'One probability per class, in the order of `classes`; the prediction is the most probable.',
            classes: prep.target.classes,
          }
        : {
            kind: 'standardized-target',
            description: "The standardized target: the prediction in the target's units is output * std + mean.",
            mean: prep.target.mean,
            std: prep.target.std,
          },
  };
}
