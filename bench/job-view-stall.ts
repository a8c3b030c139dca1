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
import { loadavg } from 'node:os';
import { createServer } from 'node:net';
import { buildApp } from '../src/app';
import { metricsKey } from '../src/training-jobs/keys';
import { startServiceProcess, stopWorkerProcess } from '../test/helpers/worker-process';
import supertest from 'supertest';
import { xorCsv } from '../test/helpers/app';
import { waitForReady } from '../test/helpers/ready';
import { deletePrefix, testConfig } from '../test/helpers/config';

const ROUNDS = Number(process.argv[2] ?? 10);
const EPOCHS = 10_000;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

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
  // At info, the API says when it listens (its `ready`); API_KEYS unset: open, on loopback.
  const config = testConfig({ PORT: String(await freePort()), LOG_LEVEL: 'info', RATE_LIMIT_MAX: '0' });
  const base = `http://127.0.0.1:${config.port}`;
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

  const api = startServiceProcess('api', config);
  try {
    await Promise.race([api.ready, api.exited.then((code) => Promise.reject(new Error(`API exited: ${code}`)))]);
    for (let ready = 0; ready !== 200;) ready = (await fetch(`${base}/readyz`)).status;
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const lagMaxMs = async () => {
      const text = await (await fetch(`${base}/metrics`)).text();
      const match = /^nodejs_eventloop_lag_max_seconds (\S+)/m.exec(text);
      return match ? Number(match[1]) * 1000 : NaN;
    };
    const lags: number[] = [];
    const health: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      await lagMaxMs();
      let done = false;
      let slowestHealth = 0;
      const poll = (async () => {
        while (!done) {
          const started = performance.now();
          await (await fetch(`${base}/healthz`)).text();
          slowestHealth = Math.max(slowestHealth, performance.now() - started);
        }
      })();
      const started = performance.now();
      const response = await fetch(`${base}/v1/training-jobs/${jobId}`);
      const text = await response.text();
      const ms = performance.now() - started;
      done = true;
      await poll;
      const lag = await lagMaxMs();
      lags.push(lag);
      health.push(slowestHealth);
      console.log(
        `round ${round}: ${response.status} (${text.length} bytes) in ${ms.toFixed(0)} ms; API max event-loop delay ` +
          `${lag.toFixed(1)} ms; slowest /healthz during it ${slowestHealth.toFixed(1)} ms`,
      );
    }
    const sorted = (values: number[]) => [...values].sort((a, b) => a - b);
    const median = (values: number[]) => sorted(values)[Math.floor(values.length / 2)];
    console.log(
      `${ROUNDS} rounds of a GET of ${EPOCHS} epochs: max event-loop delay median ${median(lags).toFixed(1)} ms, max ` +
        `${Math.max(...lags).toFixed(1)} ms (first, cold: ${lags[0].toFixed(1)} ms); slowest /healthz median ` +
        `${median(health).toFixed(1)} ms, max ${Math.max(...health).toFixed(1)} ms; load average ${loadavg()
          .map((l) => l.toFixed(2))
          .join(' ')}`,
    );
  } finally {
    await stopWorkerProcess(api);
    await deletePrefix(config);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
