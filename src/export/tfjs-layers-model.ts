import * as tf from '@tensorflow/tfjs';
import { strToU8, zipSync } from 'fflate';
import { encodedFeatureNames } from '../data/preprocessing';
import { AppError } from '../errors';
import type { FrozenModel, FrozenOp } from '../ml/frozen-model';
import type { LayerNamer } from '../ml/ops/op-definition';
import { isOpKind, opDefinition } from '../ml/ops/op-table';
import type { StoredModel } from '../store/model-store';

/**
 * A trained model in the TensorFlow.js LayersModel format (what `tf.loadLayersModel` reads and
 * `model.save` writes): `model.json` (Keras-style topology + weights manifest) and `weights.bin`
 * (little-endian float32), zipped together. The network is the frozen inference form, layer for
 * layer, each op as its entry in the op table (ml/ops/op-table.ts) maps it:
 *
 *   dense       → Dense (batch norm already folded into the kernel)
 *   affine      → BatchNormalization with moving mean 0 and moving variance 1 − ε, γ = scale,
 *                 β = shift: exactly x·scale + shift (a batch norm that could not be folded)
 *   layerNorm   → LayerNormalization
 *   activation  → Activation
 *   cosine      → none: a 422 that says why
 *   softmax     → a final Activation('softmax') for classification
 *
 * The preprocessing (feature encodings, classes or target scaling) goes into the model.json's
 * `userDefinedMetadata.fitwell`, so the archive alone is enough to predict. The model is built
 * and serialized by tfjs itself, so the format is the one tfjs reads.
 */

const WEIGHTS_FILE = 'weights.bin';

export interface LayersModelFiles {
  /** The parsed model.json. */
  modelJson: Record<string, unknown>;
  weights: Uint8Array;
}

export async function toLayersModel(stored: StoredModel): Promise<LayersModelFiles> {
  const { meta, frozen } = stored;
  checkExportable(stored);
  const model = buildLayersModel(frozen, `fitwell_${meta.id.replace(/[^A-Za-z0-9_]/g, '_')}`);
  try {
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

/**
 * The frozen model as a tfjs Sequential model with its weights set (the caller disposes it).
 * Every op must be exportable (checkExportable refuses the others first).
 */
export function buildLayersModel(frozen: FrozenModel, name: string): tf.Sequential {
  const model = tf.sequential({ name });
  try {
    model.add(tf.layers.inputLayer({ inputShape: [frozen.inputSize], name: 'features' }));
    const counts = new Map<string, number>();
    const namer: LayerNamer = (kind) => {
      const n = (counts.get(kind) ?? 0) + 1;
      counts.set(kind, n);
      return `${kind}_${n}`;
    };
    for (const op of frozen.ops) addLayer(model, op, namer);
    if (frozen.output === 'softmax') {
      model.add(tf.layers.activation({ activation: 'softmax', name: 'probabilities' }));
    }
    return model;
  } catch (error) {
    model.dispose();
    throw error;
  }
}

/** Every op must have a standard tfjs layer; the first that has none is a 422 that names it. */
function checkExportable(stored: StoredModel): void {
  const { meta, frozen } = stored;
  let layerIndex = 0; // which hidden layer (spec.model.hidden[i]) an op belongs to
  frozen.ops.forEach((op, position) => {
    const definition = isOpKind(op.op) ? opDefinition(op) : null;
    if (definition?.opensLayer) layerIndex++;
    const exportAs = definition?.exportAs ?? null;
    if (exportAs?.exportable) return;
    const hidden = meta.spec?.model?.hidden ?? [];
    const where =
      layerIndex >= 1 && layerIndex <= hidden.length
        ? `hidden layer ${layerIndex} (model.hidden[${layerIndex - 1}])`
        : layerIndex > hidden.length
          ? 'the output layer'
          : `operation ${position + 1}`;
    const reason = exportAs
      ? `${where} ${exportAs.reason}`
      : `${where} uses a "${op.op}" operation, which has no standard TensorFlow.js layer`;
    throw new AppError('MODEL_NOT_EXPORTABLE', { id: meta.id, reason });
  });
}

function addLayer(model: tf.Sequential, op: FrozenOp, name: LayerNamer): void {
  const { exportAs } = opDefinition<FrozenOp>(op);
  if (!exportAs.exportable) throw new Error(`no tfjs layer for op ${op.op}: ${exportAs.reason}`);
  const { layer, weights } = exportAs.layer(op, name);
  try {
    model.add(layer);
  } catch (error) {
    tf.dispose(weights);
    throw error;
  }
  if (weights.length > 0) setWeights(layer, weights);
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
