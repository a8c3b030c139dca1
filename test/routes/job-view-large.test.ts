import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { z } from 'zod';
import { trainingJobSchema } from '../../src/schemas/api.schema';
import { describeJob } from '../../src/training/job-view';
import { readStoredMetrics, readStoredMetricsInSlices } from '../../src/training/stored-metrics';
import { metricsKey } from '../../src/training-jobs/keys';
import { startService, xorCsv, type TestService } from '../helpers/app';

/**
 * GET /v1/training-jobs/:jobId of a job with 10,000 stored epochs (the most the schema allows)
 * answers exactly the bytes of the one-turn path (describeJob, then the zod serializer), and does
 * not hold the event loop for the whole read, check and stringify: a setImmediate ticker in the
 * same process gets turns between the moment the job is read from Redis and the moment the
 * answer is written. The old code did all of that in one turn (0 ticks there). No timing bound:
 * the measured event-loop delay is printed only.
 */

const EPOCHS = 10_000;

const epoch = (n: number) => ({
  epoch: n,
  trainingModeLoss: 0.6 - n / 1e5,
  penalty: 0.01,
  trainLoss: 0.5 - n / 1e5,
  valLoss: 0.55 - n / 1e5,
  gap: 0.05,
  accuracy: 0.8,
  valAccuracy: 0.79,
  kernelL2: 3.5,
  zeroShare: 0,
  durationMs: 40,
});

// Entries as stored, with some that the reading rules filter or change (see stored-metrics.ts).
function storedEntries(count: number): string[] {
  return Array.from({ length: count }, (_, i) => {
    const n = i + 1;
    if (n % 997 === 0) return '{not json';
    if (n % 991 === 0) return JSON.stringify({ ...epoch(n), valLoss: null }); // NaN as stored: left out
    if (n % 983 === 0) return JSON.stringify({ ...epoch(n), trainLoss: null }); // required: epoch left out
    if (n % 977 === 0) {
      const { trainingModeLoss, ...rest } = epoch(n);
      return JSON.stringify({ ...rest, loss: trainingModeLoss }); // before trainingModeLoss
    }
    if (n % 971 === 0) return `{"__proto__":1,${JSON.stringify(epoch(n)).slice(1)}`;
    if (n % 967 === 0) return JSON.stringify({ ...epoch(n), extra: 'text' }); // not a number: left out
    return JSON.stringify(epoch(n));
  });
}

describe('GET of a job with 10,000 epochs of metrics', () => {
  let svc: TestService;
  let jobId: string;
  const raw = storedEntries(EPOCHS);
  before(async () => {
    svc = await startService({ worker: false });
    const upload = await svc.http.post('/v1/datasets').set('content-type', 'text/csv').send(xorCsv(60));
    assert.equal(upload.status, 201, JSON.stringify(upload.body));
    const queued = await svc.http.post('/v1/training-jobs').send({
      datasetId: upload.body.id,
      target: 'label',
      task: 'classification',
      training: { epochs: EPOCHS, seed: 1 },
    });
    assert.equal(queued.status, 202, JSON.stringify(queued.body));
    jobId = queued.body.jobId;
    // No worker: the job waits, and its metrics list is what a worker would have left.
    const key = metricsKey(svc.config.redisPrefix, jobId);
    for (let from = 0; from < raw.length; from += 1000) {
      await svc.app.redis.rpush(key, ...raw.slice(from, from + 1000));
    }
  });
  after(async () => {
    await svc.close();
  });

  test('readStoredMetricsInSlices reads exactly what readStoredMetrics reads', async () => {
    const whole = readStoredMetrics(raw);
    const sliced = await readStoredMetricsInSlices(raw);
    assert.deepEqual(sliced, whole);
    assert.equal(JSON.stringify(sliced), JSON.stringify(whole));
    assert.ok(whole.length < EPOCHS && whole.length > EPOCHS - 60, String(whole.length));
  });

  test('same bytes as the one-turn path, with turns of the event loop in between', async () => {
    const stored = await svc.app.trainingJobs.read(jobId);
    assert.ok(stored && stored.kind === 'queued');
    const expected = JSON.stringify(
      z.encode(trainingJobSchema, describeJob(stored.job, stored.state, stored.rawMetrics)),
    );

    // Ticks from the moment the route has the job from Redis to the moment it writes the answer.
    let ticks = 0;
    let running = true;
    const tick = () => {
      ticks++;
      if (running) setImmediate(tick);
    };
    let readAt: number | undefined;
    let endAt: number | undefined;
    const jobs = svc.app.trainingJobs;
    const read = jobs.read.bind(jobs);
    jobs.read = async (id: string) => {
      const job = await read(id);
      readAt = ticks;
      return job;
    };
    const onRequest = (_req: IncomingMessage, res: ServerResponse) => {
      const end = res.end.bind(res) as (...args: unknown[]) => ServerResponse;
      res.end = ((...args: unknown[]) => {
        endAt ??= ticks;
        return end(...args);
      }) as typeof res.end;
    };
    svc.app.server.on('request', onRequest);
    const delay = monitorEventLoopDelay({ resolution: 1 });
    try {
      delay.enable();
      setImmediate(tick);
      const res = await svc.http
        .get(`/v1/training-jobs/${jobId}`)
        .buffer(true)
        .parse((r, done) => {
          let text = '';
          r.setEncoding('utf8');
          r.on('data', (chunk: string) => (text += chunk));
          r.on('end', () => done(null, text));
        });
      delay.disable();
      assert.equal(res.status, 200);
      assert.equal(res.headers['content-type'], 'application/json; charset=utf-8');
      assert.equal(res.body, expected);
      assert.equal(JSON.parse(res.body).metrics.length, readStoredMetrics(raw).length);
    } finally {
      running = false;
      delay.disable();
      svc.app.server.off('request', onRequest);
      jobs.read = read;
    }
    assert.ok(readAt !== undefined && endAt !== undefined, 'the route read the job and wrote the answer');
    const between = endAt - readAt;
    console.log(
      `GET of ${EPOCHS} epochs: ${between} event-loop turns between read and write; ` +
        `monitorEventLoopDelay max ${(delay.max / 1e6).toFixed(1)} ms`,
    );
    assert.ok(between >= 10, `only ${between} turns of the event loop while the answer was built`);
  });
});
