/**
 * The API process's event-loop delay during GET /v1/training-jobs/:jobId of a job with 10,000
 * stored epochs of metrics (the most a request may ask for), measured as bench/predict-stall.ts
 * measures it (the API's own monitorEventLoopDelay, prom-client's nodejs_eventloop_lag_max_seconds,
 * reset at every /metrics scrape); and, from outside, the slowest /healthz answer while the GET
 * runs (polled back to back).
 *
 *   node dist/bench/job-view-stall.js [rounds=10]
 *
 * Needs a Redis at REDIS_URL (default redis://127.0.0.1:6379); uses a key prefix of its own and
 * deletes it at the end. No worker: the job waits, with a metrics list as a worker writes it.
 */
import supertest from 'supertest';
import { buildApp } from '../src/app';
import { metricsKey } from '../src/training-jobs/keys';
import { xorCsv } from '../test/helpers/app';
import { waitForReady } from '../test/helpers/ready';
import { measureStalls, stallBenchConfig } from './event-loop-stall';

const ROUNDS = Number(process.argv[2] ?? 10);
const EPOCHS = 10_000;

const epoch = (n: number) => ({
  epoch: n,
  trainingModeLoss: 0.6 - n / 1e5,
  penalty: 0.01,
  trainLoss: 0.5 - n / 1e5,
  valLoss: 0.55 - n / 1e5,
  valLossStdError: 0.004,
  gap: 0.05,
  accuracy: 0.8,
  valAccuracy: 0.79,
  kernelL2: 3.5,
  zeroShare: 0,
  durationMs: 40,
});

async function main(): Promise<void> {
  const config = await stallBenchConfig();
  const seeder = await buildApp(config);
  await seeder.ready();
  const http = supertest(seeder.server);
  await waitForReady(http);
  const upload = await http.post('/v1/datasets').set('content-type', 'text/csv').send(xorCsv(60));
  const queued = await http.post('/v1/training-jobs').send({
    datasetId: (upload.body as { id: string }).id,
    target: 'label',
    task: 'classification',
    training: { epochs: EPOCHS, seed: 1 },
  });
  if (queued.status !== 202) throw new Error(`job not queued: ${queued.status} ${JSON.stringify(queued.body)}`);
  const jobId = (queued.body as { jobId: string }).jobId;
  const key = metricsKey(config.redisPrefix, jobId);
  for (let from = 1; from <= EPOCHS; from += 1000) {
    const entries = Array.from({ length: 1000 }, (_, i) => JSON.stringify(epoch(from + i)));
    await seeder.redis.rpush(key, ...entries);
  }
  await seeder.close();

  await measureStalls(config, `a GET of ${EPOCHS} epochs`, ROUNDS, (base) =>
    fetch(`${base}/v1/training-jobs/${jobId}`),
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
