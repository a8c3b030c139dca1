import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app';
import { startService, xorCsv, type TestService } from '../helpers/app';
import { LogCapture } from '../helpers/logs';
import { waitForReady } from '../helpers/ready';
import supertest from 'supertest';

const EPOCHS = 4;

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The Prometheus text format, one sample per line. */
function parseMetrics(text: string): Sample[] {
  return text
    .split('\n')
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => {
      const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)/.exec(line);
      assert.ok(match, `unparsable line: ${line}`);
      const labels: Record<string, string> = {};
      for (const [, key, value] of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[key] = value;
      return { name: match[1], labels, value: Number(match[3]) };
    });
}

function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  return samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}

/**
 * /metrics after a real training job and a prediction. Job metrics are observed by the API from
 * the queue's events; a second API replica on the same queue must not count the job again.
 */
describe('Prometheus metrics', () => {
  let svc: TestService;
  let replica: FastifyInstance;
  const logs = new LogCapture();
  const replicaLogs = new LogCapture();
  let jobId: string;
  let modelId: string;

  before(async () => {
    svc = await startService({ env: { LOG_LEVEL: 'debug' }, build: { logStream: logs } });
    replica = await buildApp(svc.config, { logStream: replicaLogs });
    await replica.ready();
    await waitForReady(supertest(replica.server));
    const upload = await svc.http.post('/v1/datasets').set('content-type', 'text/csv').send(xorCsv(120));
    const queued = await svc.http.post('/v1/training-jobs').send({
      datasetId: upload.body.id,
      target: 'label',
      task: 'classification',
      training: { epochs: EPOCHS, seed: 3 },
    });
    jobId = queued.body.jobId;
    await svc.waitForJob(jobId);
    modelId = (await svc.http.get(`/v1/training-jobs/${jobId}`)).body.modelId;
    const predicted = await svc.http.post(`/v1/models/${modelId}/predict`).send({
      inputs: [
        [0.5, 0.5, 'red'],
        [-0.5, 0.5, 'blue'],
      ],
    });
    assert.equal(predicted.status, 200, JSON.stringify(predicted.body));
  });
  after(async () => {
    await replica.close();
    await svc.close();
  });

  test('HTTP latency per route pattern, predict latency, queue depth, backend, model cache', async () => {
    const res = await svc.http.get('/metrics');
    assert.equal(res.status, 200);
    assert.match(res.headers['content-type'], /^text\/plain; version=0\.0\.4/);
    const samples = parseMetrics(res.text);

    const predictRoute = { method: 'POST', route: '/v1/models/:modelId/predict', status_code: '200' };
    assert.equal(value(samples, 'fitwell_http_request_duration_seconds_count', predictRoute), 1);
    assert.ok(value(samples, 'fitwell_http_request_duration_seconds_sum', predictRoute)! > 0);
    assert.equal(
      value(samples, 'fitwell_http_request_duration_seconds_count', {
        method: 'GET',
        route: '/v1/training-jobs/:jobId',
        status_code: '200',
      }),
      1,
    );
    const labelValues = samples.flatMap((s) => Object.values(s.labels));
    assert.ok(!labelValues.some((v) => v.includes(modelId) || v.includes(jobId)), 'no raw URL (id) in any label');

    assert.equal(value(samples, 'fitwell_predict_duration_seconds_count', { task: 'classification' }), 1);
    assert.equal(value(samples, 'fitwell_predict_rows_total', { task: 'classification' }), 2);
    assert.equal(value(samples, 'fitwell_queue_jobs', { state: 'completed' }), 1);
    assert.equal(value(samples, 'fitwell_queue_jobs', { state: 'waiting' }), 0);
    assert.equal(value(samples, 'fitwell_queue_jobs', { state: 'active' }), 0);
    assert.equal(value(samples, 'fitwell_backend_info', { backend: 'wasm' }), 1);
    assert.equal(value(samples, 'fitwell_model_cache_models'), 1);
    assert.equal(value(samples, 'fitwell_model_cache_capacity'), svc.config.modelCacheSize);
    assert.ok(value(samples, 'process_cpu_user_seconds_total') !== undefined, 'process metrics');
  });

  test('job duration and epoch times, counted once across API replicas', async () => {
    // Each replica hears the completion; one records it and logs it, the other defers to it.
    const recorded = await Promise.race([
      logs.waitFor((l) => l.msg === 'training job completed' && l.jobId === jobId).then(() => svc.app),
      replicaLogs.waitFor((l) => l.msg === 'training job completed' && l.jobId === jobId).then(() => replica),
    ]);
    const other = recorded === svc.app ? replica : svc.app;
    await (other === svc.app ? logs : replicaLogs).waitFor(
      (l) => l.msg === 'training job already recorded by another API replica' && l.jobId === jobId,
    );

    const scrape = async (app: FastifyInstance) => parseMetrics((await app.inject('/metrics')).body);
    const [mine, theirs] = await Promise.all([scrape(recorded), scrape(other)]);
    assert.equal(value(mine, 'fitwell_training_job_duration_seconds_count', { outcome: 'completed' }), 1);
    assert.ok(value(mine, 'fitwell_training_job_duration_seconds_sum', { outcome: 'completed' })! > 0);
    assert.equal(value(mine, 'fitwell_training_epoch_duration_seconds_count'), EPOCHS);
    assert.equal(value(mine, 'fitwell_training_jobs_finished_total', { outcome: 'completed', backend: 'wasm' }), 1);
    assert.equal(value(mine, 'fitwell_training_job_queue_wait_seconds_count'), 1);
    assert.equal(value(theirs, 'fitwell_training_job_duration_seconds_count', { outcome: 'completed' }) ?? 0, 0);
    assert.equal(value(theirs, 'fitwell_training_epoch_duration_seconds_count') ?? 0, 0);
  });
});
