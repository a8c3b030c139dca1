import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { metricsKey } from '../../src/training-jobs/keys';
import type { FrozenModel } from '../../src/ml/frozen-model';
import { epochMetricsSchema, trainingJobSchema } from '../../src/schemas/api.schema';
import { CheckpointStore, type JobCheckpoint } from '../../src/store/checkpoint-store';
import type { ModelMeta } from '../../src/store/model-store';
import { startService, xorCsv, type TestService } from '../helpers/app';
import { SseClient } from '../helpers/sse';

/**
 * Epoch metrics written by versions before `trainingModeLoss` (issue 10) still read: `loss` comes
 * back as `trainingModeLoss`, and their training-mode `accuracy` is not passed off as the
 * inference-mode figure the field now means. Old entries are written into Redis exactly as the
 * old worker wrote them; the real app reads them back.
 */

const legacy = (epoch: number) => ({
  epoch,
  loss: 0.61 - epoch / 100,
  penalty: 0.01,
  trainLoss: 0.52 - epoch / 100,
  valLoss: 0.55 - epoch / 100,
  gap: 0.03,
  accuracy: 0.7,
  valAccuracy: 0.8,
  kernelL2: 3.5,
  zeroShare: 0,
  durationMs: 40,
});

// An epoch the new worker wrote after resuming the old one's checkpoint: lists may mix.
const current = {
  epoch: 3,
  trainingModeLoss: 0.57,
  penalty: 0.01,
  trainLoss: 0.47,
  valLoss: 0.5,
  gap: 0.03,
  accuracy: 0.83,
  valAccuracy: 0.81,
  kernelL2: 3.6,
  zeroShare: 0,
  durationMs: 38,
};

describe('epoch metrics stored by older versions', () => {
  let svc: TestService;
  let jobId: string;
  before(async () => {
    svc = await startService({ worker: false });
    const upload = await svc.http.post('/v1/datasets').set('content-type', 'text/csv').send(xorCsv(60));
    assert.equal(upload.status, 201, JSON.stringify(upload.body));
    const queued = await svc.http.post('/v1/training-jobs').send({
      datasetId: upload.body.id,
      target: 'label',
      task: 'classification',
      training: { epochs: 5, seed: 1 },
    });
    assert.equal(queued.status, 202, JSON.stringify(queued.body));
    jobId = queued.body.jobId;
    // No worker: the job waits, and its metrics list is what an old worker left behind.
    await svc.app.redis.rpush(
      metricsKey(svc.config.redisPrefix, jobId),
      JSON.stringify(legacy(1)),
      JSON.stringify(legacy(2)),
      JSON.stringify(current),
    );
  });
  after(async () => {
    await svc.close();
  });

  test('GET /v1/training-jobs/:jobId: schema-valid, loss → trainingModeLoss, no training-mode accuracy', async () => {
    const res = await svc.http.get(`/v1/training-jobs/${jobId}`);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    trainingJobSchema.parse(res.body);
    const [first, second, third] = res.body.metrics;
    assert.equal(first.trainingModeLoss, legacy(1).loss);
    assert.equal(second.trainingModeLoss, legacy(2).loss);
    for (const m of [first, second]) {
      assert.equal('loss' in m, false);
      assert.equal('accuracy' in m, false, 'an old training-mode accuracy is not reported as the inference-mode one');
      assert.equal(m.valAccuracy, 0.8);
      assert.equal(m.trainLoss, legacy(m.epoch).trainLoss);
    }
    assert.deepEqual(third, current);
  });

  test('the event stream sends them in the documented shape', async () => {
    await svc.app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = svc.app.server.address() as AddressInfo;
    const client = await SseClient.open(`http://127.0.0.1:${port}/v1/training-jobs/${jobId}/events`);
    try {
      assert.equal(client.status, 200);
      const epochs: unknown[] = [];
      while (epochs.length < 3) {
        const event = await client.next(30_000);
        assert.ok(event, 'the stream ended before the stored epochs were sent');
        if (event.event === 'epoch') epochs.push(event.data);
      }
      const parsed = epochs.map((e) => epochMetricsSchema.strict().parse(e));
      assert.deepEqual(
        parsed.map((m) => m.trainingModeLoss),
        [legacy(1).loss, legacy(2).loss, current.trainingModeLoss],
      );
    } finally {
      client.abort();
    }
  });

  test('curves.svg and the report page draw them', async () => {
    const svg = await svc.http.get(`/v1/training-jobs/${jobId}/curves.svg`).buffer(true);
    assert.equal(svg.status, 200);
    assert.ok(String(svg.body).includes('>validation<'));
    const page = await svc.http.get(`/v1/training-jobs/${jobId}/report`);
    assert.equal(page.status, 200);
    assert.match(page.text, /training-mode loss/);
  });

  test('a checkpoint and a model meta written by an older version read back upgraded', async () => {
    const redis = svc.app.redis;
    const checkpoints = new CheckpointStore(redis, svc.config.redisPrefix);
    const old = {
      trainer: {
        epoch: 2,
        weights: {},
        optimizer: { step: 0, slots: {} },
        rng: [1, 2, 3, 4],
        metrics: [legacy(1), legacy(2)],
      },
      resumedAt: [],
    } as unknown as JobCheckpoint;
    await checkpoints.save('legacy-job', old);
    const loaded = await checkpoints.load('legacy-job');
    assert.deepEqual(
      loaded!.trainer.metrics.map((m) => m.trainingModeLoss),
      [legacy(1).loss, legacy(2).loss],
    );
    assert.ok(loaded!.trainer.metrics.every((m) => !('loss' in m) && m.accuracy === undefined));
    await checkpoints.delete('legacy-job');

    const id = 'mdl_legacy';
    const meta = {
      id,
      jobId,
      createdAt: new Date().toISOString(),
      task: 'classification',
      target: 'label',
      datasetId: 'ds',
      finalMetrics: legacy(2),
    };
    const frozen: FrozenModel = {
      inputSize: 1,
      outputSize: 1,
      output: 'identity',
      ops: [{ op: 'dense', inputSize: 1, units: 1, kernel: Float32Array.of(1), bias: Float32Array.of(0) }],
    };
    await svc.app.models.save(meta as unknown as ModelMeta, frozen);
    const read: ModelMeta = await svc.app.models.meta(id);
    assert.equal(read.finalMetrics.trainingModeLoss, legacy(2).loss);
    const res = await svc.http.get(`/v1/models/${id}`);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.finalMetrics.trainingModeLoss, legacy(2).loss);
    assert.equal('loss' in res.body.finalMetrics, false);
  });
});
