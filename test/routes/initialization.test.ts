import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FrozenOp } from '../../src/ml/frozen-model';
import { DEFAULT_INITIALIZER, INITIALIZERS } from '../../src/schemas/training-request.schema';
import { startService, xorCsv, type TestService } from '../helpers/app';

/**
 * model.init and model.hidden[i].init through the HTTP API: validated with a 400 that lists the
 * schemes, recorded in the model's spec, and visible in the trained weights. The runs train one
 * epoch of SGD at learning rate 1e-9, far below float32 resolution for weights of this size, so
 * the stored kernels are still the initial draws and their largest |value| shows the scheme.
 * The formulas themselves are tested in test/ml/initialization.test.ts.
 */
describe('initialization through the HTTP API', () => {
  let svc: TestService;
  let datasetId: string;
  before(async () => {
    svc = await startService();
    const upload = await svc.http.post('/v1/datasets').set('content-type', 'text/csv').send(xorCsv(64));
    datasetId = upload.body.id;
  });
  after(async () => {
    await svc.close();
  });

  /** Trains (practically without moving the weights) and returns the spec and the dense ops. */
  const train = async (model: Record<string, unknown>) => {
    const queued = await svc.http.post('/v1/training-jobs').send({
      datasetId,
      target: 'label',
      task: 'classification',
      model,
      training: { epochs: 1, batchSize: 16, seed: 3, optimizer: 'sgd', learningRate: 1e-9 },
    });
    assert.equal(queued.status, 202, JSON.stringify(queued.body));
    await svc.waitForJob(queued.body.jobId);
    const job = await svc.http.get(`/v1/training-jobs/${queued.body.jobId}`);
    assert.equal(job.body.state, 'completed');
    const described = await svc.http.get(`/v1/models/${job.body.modelId}`);
    const stored = await svc.app.models.load(job.body.modelId);
    const dense = stored.frozen.ops.filter((op): op is Extract<FrozenOp, { op: 'dense' }> => op.op === 'dense');
    return { spec: described.body.spec, dense };
  };
  const maxAbs = (values: Float32Array) => values.reduce((m, v) => Math.max(m, Math.abs(v)), 0);

  test('model.init applies to every layer, the output layer too; hidden[i].init overrides it', async () => {
    const { spec, dense } = await train({
      init: 'torch-default',
      hidden: [{ units: 32 }, { units: 24, init: 'he-uniform' }],
    });
    assert.equal(spec.model.init, 'torch-default');
    assert.equal(spec.model.hidden[1].init, 'he-uniform');
    assert.equal(dense.length, 3);
    const [first, second, output] = dense;
    // 4 inputs (a, b, color=blue, color=red): torch-default draws kernel and bias in ±1/√4.
    assert.equal(first.inputSize, 4);
    assert.ok(maxAbs(first.kernel) <= 0.5 && maxAbs(first.kernel) > 0.45, `${maxAbs(first.kernel)}`);
    assert.ok(maxAbs(first.bias) <= 0.5 && maxAbs(first.bias) > 0.25, `${maxAbs(first.bias)}`);
    // The override: He-uniform, ±√(6/32) ≈ 0.433 (torch-default would stop at 0.177), zero bias.
    const he = Math.sqrt(6 / 32);
    assert.ok(maxAbs(second.kernel) <= he && maxAbs(second.kernel) > 0.95 * he, `${maxAbs(second.kernel)}`);
    assert.ok(maxAbs(second.bias) < 1e-6, `${maxAbs(second.bias)}`); // zero, moved by lr·gradient at most
    // The output layer follows model.init: ±1/√24 for kernel and bias.
    const torch = 1 / Math.sqrt(24);
    assert.ok(maxAbs(output.kernel) <= torch && maxAbs(output.kernel) > 0.9 * torch, `${maxAbs(output.kernel)}`);
    assert.ok(maxAbs(output.bias) > 0 && maxAbs(output.bias) <= torch, `${maxAbs(output.bias)}`);
  });

  test('the same seed and a scheme with a larger limit give the same draws, scaled', async () => {
    // Both schemes are uniform and draw the first kernel first, so its values differ exactly by
    // the ratio of the limits: √(6/4) / √(3/4) = √2 for he-uniform over lecun-uniform.
    const he = await train({ init: 'he-uniform', hidden: [{ units: 8 }] });
    const lecun = await train({ init: 'lecun-uniform', hidden: [{ units: 8 }] });
    const ratio = Array.from(he.dense[0].kernel, (v, i) => v / lecun.dense[0].kernel[i]);
    for (const r of ratio) assert.ok(Math.abs(r - Math.SQRT2) < 1e-4, `ratio ${r}`);
  });

  test('a request without init records the default', async () => {
    const { spec } = await train({ hidden: [{ units: 8 }] });
    assert.equal(spec.model.init, DEFAULT_INITIALIZER);
    assert.equal(spec.model.hidden[0].init, undefined);
  });

  test('an unknown scheme is a 400 that names the field, the schemes and the value', async () => {
    const list = INITIALIZERS.join(', ');
    const global = await svc.http.post('/v1/training-jobs').send({
      datasetId,
      target: 'label',
      task: 'classification',
      model: { init: 'xavier' },
    });
    assert.equal(global.status, 400);
    assert.equal(global.body.error.code, 'VALIDATION');
    assert.equal(global.body.error.message, `model.init: Expected one of ${list}, received "xavier"`);
    const layer = await svc.http.post('/v1/training-jobs').send({
      datasetId,
      target: 'label',
      task: 'classification',
      model: { hidden: [{ units: 4 }, { units: 4, init: 'kaiming' }] },
    });
    assert.equal(layer.status, 400);
    assert.equal(layer.body.error.message, `model.hidden[1].init: Expected one of ${list}, received "kaiming"`);
  });
});
