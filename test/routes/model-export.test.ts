import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { unzipSync, strFromU8 } from 'fflate';
import type { FrozenOp } from '../../src/ml/frozen-model';
import { linearCsv, startService, xorCsv, type TestService } from '../helpers/app';

/**
 * The export loaded back with plain @tensorflow/tfjs: unzip, read model.json, hand tfjs the
 * weights its manifest names, and encode inputs from the metadata alone. Nothing of fitwell is
 * on that path, so this is what any TensorFlow.js user gets.
 */

interface FeatureMeta {
  name: string;
  type: 'numeric' | 'categorical';
  mean?: number;
  std?: number;
  categories?: string[];
}
interface ExportMeta {
  task: string;
  input: { size: number; features: FeatureMeta[]; columns: string[] };
  output: { kind: string; classes?: (string | number)[]; mean?: number; std?: number };
}
interface ModelJson {
  format: string;
  modelTopology: { config: { layers: { class_name: string; config: Record<string, unknown> }[] } };
  weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
  userDefinedMetadata: { fitwell: ExportMeta };
}

type Row = Record<string, number | string | null>;

/** A custom IOHandler over the unzipped files, resolving the manifest's paths as a browser would. */
function archiveHandler(files: Record<string, Uint8Array>): tf.io.IOHandler {
  return {
    load: async () => {
      const modelJson = JSON.parse(strFromU8(files['model.json'])) as ModelJson;
      const parts = modelJson.weightsManifest.flatMap((group) => group.paths.map((path) => files[path]));
      const weightData = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
      let offset = 0;
      for (const part of parts) {
        weightData.set(part, offset);
        offset += part.byteLength;
      }
      return {
        modelTopology: modelJson.modelTopology as unknown as tf.io.ModelArtifacts['modelTopology'],
        weightSpecs: modelJson.weightsManifest.flatMap((group) => group.weights),
        weightData: weightData.buffer,
        format: modelJson.format,
        userDefinedMetadata: modelJson.userDefinedMetadata as unknown as tf.io.ModelArtifacts['userDefinedMetadata'],
      };
    },
  };
}

/** The encoding the metadata describes: standardize numbers (missing → 0), one-hot categories. */
function encode(meta: ExportMeta, row: Row): number[] {
  return meta.input.features.flatMap((feature) => {
    const value = row[feature.name];
    if (feature.type === 'numeric') return [value === null ? 0 : (Number(value) - feature.mean!) / feature.std!];
    return feature.categories!.map((category) => (value !== null && String(value) === category ? 1 : 0));
  });
}

describe('model export (TensorFlow.js LayersModel)', () => {
  let svc: TestService;

  const train = async (csv: string, request: Record<string, unknown>) => {
    const upload = await svc.http.post('/v1/datasets').set('content-type', 'text/csv').send(csv);
    const queued = await svc.http.post('/v1/training-jobs').send({ datasetId: upload.body.id, ...request });
    assert.equal(queued.status, 202, JSON.stringify(queued.body));
    await svc.waitForJob(queued.body.jobId);
    return (await svc.http.get(`/v1/training-jobs/${queued.body.jobId}`)).body.modelId as string;
  };

  const fetchArchive = async (modelId: string) => {
    const res = await svc.http
      .get(`/v1/models/${modelId}/export`)
      .buffer(true)
      .parse((response, done) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => done(null, Buffer.concat(chunks)));
      });
    assert.equal(res.status, 200, String(res.body));
    assert.equal(res.headers['content-type'], 'application/zip');
    assert.equal(res.headers['content-disposition'], `attachment; filename="${modelId}.tfjs.zip"`);
    const files = unzipSync(new Uint8Array(res.body as Buffer));
    assert.deepEqual(Object.keys(files).sort(), ['model.json', 'weights.bin']);
    return files;
  };

  const download = async (modelId: string) => {
    const files = await fetchArchive(modelId);
    const modelJson = JSON.parse(strFromU8(files['model.json'])) as ModelJson;
    const model = await tf.loadLayersModel(archiveHandler(files));
    return { modelJson, model, meta: modelJson.userDefinedMetadata.fitwell };
  };

  const run = (model: tf.LayersModel, meta: ExportMeta, rows: Row[]): number[][] =>
    tf.tidy(() => (model.predict(tf.tensor2d(rows.map((row) => encode(meta, row)))) as tf.Tensor2D).arraySync());

  before(async () => {
    svc = await startService();
  });
  after(async () => {
    await svc.close();
  });

  const probeRows: Row[] = [
    { a: 0.5, b: 0.4, color: 'red' },
    { a: -0.7, b: 0.2, color: 'blue' },
    { a: 0.1, b: -0.9, color: 'green' }, // unseen category: all zeros
    { a: null, b: 0.3, color: null }, // missing values
  ];

  test('classification: batch norm, layer norm, dropout — same probabilities as the service', async () => {
    const modelId = await train(xorCsv(300), {
      target: 'label',
      task: 'classification',
      model: {
        hidden: [
          { units: 16, activation: 'relu', normalization: 'batch', dropout: 0.2 },
          { units: 8, activation: 'tanh', normalization: 'layer', dropout: 0.1 },
          { units: 8, activation: 'elu' },
        ],
      },
      training: { epochs: 5, seed: 11, learningRate: 0.01 },
    });
    // Building the export in the API process leaves no tensor behind.
    await fetchArchive(modelId); // warm-up: the model cache and tfjs kernels
    const tensorsBefore = tf.memory().numTensors;
    await fetchArchive(modelId);
    assert.equal(tf.memory().numTensors, tensorsBefore, 'tensors leaked by the export');

    const { modelJson, model, meta } = await download(modelId);
    try {
      assert.equal(modelJson.format, 'layers-model');
      const layers = modelJson.modelTopology.config.layers.map((l) =>
        l.class_name === 'Activation' ? `Activation:${l.config.activation}` : l.class_name,
      );
      // Batch norm is folded into the first kernel; dropout is gone at inference.
      assert.deepEqual(layers, [
        'InputLayer',
        'Dense',
        'Activation:relu',
        'Dense',
        'LayerNormalization',
        'Activation:tanh',
        'Dense',
        'Activation:elu',
        'Dense',
        'Activation:softmax',
      ]);
      assert.equal(meta.task, 'classification');
      assert.deepEqual(meta.output.classes, ['no', 'yes']);
      assert.deepEqual(meta.input.columns, ['a', 'b', 'color=blue', 'color=red']);

      const service = await svc.http.post(`/v1/models/${modelId}/predict`).send({ rows: probeRows });
      assert.equal(service.status, 200, JSON.stringify(service.body));
      const exported = run(model, meta, probeRows);
      exported.forEach((probabilities, r) => {
        probabilities.forEach((p, c) => {
          const expected = service.body.probabilities[r][c];
          assert.ok(Math.abs(p - expected) <= 1e-5, `row ${r} class ${c}: ${p} vs ${expected}`);
        });
        const best = probabilities.indexOf(Math.max(...probabilities));
        assert.equal(meta.output.classes![best], service.body.predictions[r]);
      });
    } finally {
      model.dispose();
    }
  });

  test('regression: outputs are the standardized target, scaled back by the metadata', async () => {
    const modelId = await train(linearCsv(200), {
      target: 'y',
      task: 'regression',
      model: { hidden: [{ units: 12, activation: 'selu', normalization: 'batch' }] },
      training: { epochs: 4, seed: 5 },
    });
    const { model, meta } = await download(modelId);
    try {
      assert.equal(meta.output.kind, 'standardized-target');
      const rows: Row[] = [
        { a: 0.3, b: -0.2 },
        { a: -1, b: 1 },
        { a: null, b: 0 },
      ];
      const service = await svc.http.post(`/v1/models/${modelId}/predict`).send({ rows });
      const exported = run(model, meta, rows).map(([z]) => z * meta.output.std! + meta.output.mean!);
      exported.forEach((y, r) => {
        const expected = service.body.predictions[r] as number;
        assert.ok(Math.abs(y - expected) <= 1e-5 * Math.max(1, meta.output.std!), `row ${r}: ${y} vs ${expected}`);
      });
    } finally {
      model.dispose();
    }
  });

  test('a batch norm that could not be folded becomes a BatchNormalization layer; cosine is a 422', async () => {
    const { models } = svc.app;
    const source = (await models.list(0, 10)).find((m) => m.task === 'classification')!;
    const stored = await models.load(source.id);
    const ops = stored.frozen.ops;
    const first = ops[0] as Extract<FrozenOp, { op: 'dense' }>;
    const units = first.units;
    const scale = Float32Array.from({ length: units }, (_, i) => 0.5 + i / units);
    const shift = Float32Array.from({ length: units }, (_, i) => (i % 3) - 1);
    // dense → activation → affine (batch norm after the activation, followed by layer norm: not foldable)
    const affineOps: FrozenOp[] = [
      first,
      { op: 'activation', fn: 'relu' },
      { op: 'affine', scale, shift },
      {
        op: 'layerNorm',
        gain: new Float32Array(units).fill(1.5),
        bias: new Float32Array(units).fill(0.1),
        epsilon: 1e-3,
      },
      ...ops.slice(ops.findIndex((op, i) => i > 0 && op.op === 'dense')),
    ];
    const affineId = `${source.id}_affine`;
    await models.save({ ...stored.meta, id: affineId }, { ...stored.frozen, ops: affineOps });

    const { modelJson, model, meta } = await download(affineId);
    try {
      const classes = modelJson.modelTopology.config.layers.map((l) => l.class_name);
      assert.ok(classes.includes('BatchNormalization'), classes.join(','));
      const service = await svc.http.post(`/v1/models/${affineId}/predict`).send({ rows: probeRows });
      const outputs = run(model, meta, probeRows);
      outputs.forEach((row, r) =>
        row.forEach((v, c) => assert.ok(Math.abs(v - service.body.probabilities[r][c]) <= 1e-5, `row ${r}: ${v}`)),
      );
    } finally {
      model.dispose();
    }

    const cosineId = `${source.id}_cosine`;
    const cosine: FrozenOp = { op: 'cosine', inputSize: first.inputSize, units, kernel: first.kernel, epsilon: 1e-12 };
    await models.save({ ...stored.meta, id: cosineId }, { ...stored.frozen, ops: [cosine, ...ops.slice(1)] });
    const refused = await svc.http.get(`/v1/models/${cosineId}/export`);
    assert.equal(refused.status, 422);
    assert.equal(refused.body.error.code, 'MODEL_NOT_EXPORTABLE');
    assert.match(refused.body.error.message, /hidden layer 1 \(model\.hidden\[0\]\) uses cosine normalization/);
    assert.match(refused.body.error.message, /no standard layer/);
  });

  test('an unknown model is a 404', async () => {
    const res = await svc.http.get('/v1/models/mdl_nope/export');
    assert.equal(res.status, 404);
    assert.equal(res.body.error.code, 'MODEL_NOT_FOUND');
  });
});
