/**
 * The API process's event-loop delay during 10,000-row predicts, measured as bench/chaos.ts
 * measures it (the API's own monitorEventLoopDelay, prom-client's nodejs_eventloop_lag_max_seconds,
 * reset at every /metrics scrape), without the rest of the chaos run; and, from outside, the
 * slowest /healthz answer while the predict runs (polled back to back).
 *
 *   node dist/bench/predict-stall.js [rounds=10]
 *
 * Needs a Redis at REDIS_URL (default redis://127.0.0.1:6379); uses a key prefix of its own and
 * deletes it at the end. The model is the classifier chaos.ts trains (a, b, color → label).
 */
import { loadavg } from 'node:os';
import { createServer } from 'node:net';
import { buildApp } from '../src/app';
import { startServiceProcess, stopWorkerProcess } from '../test/helpers/worker-process';
import supertest from 'supertest';
import { xorCsv } from '../test/helpers/app';
import { waitForReady } from '../test/helpers/ready';
import { deletePrefix, testConfig } from '../test/helpers/config';
import { trainStoredModel } from '../test/serving/stored-model';

const ROUNDS = Number(process.argv[2] ?? 10);
const ROWS = 10_000;

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

async function main(): Promise<void> {
  // At info, the API says when it listens (its `ready`); API_KEYS unset: open, on loopback.
  const config = testConfig({ PORT: String(await freePort()), LOG_LEVEL: 'info', RATE_LIMIT_MAX: '0' });
  const base = `http://127.0.0.1:${config.port}`;
  const model = await trainStoredModel(xorCsv(600), {
    target: 'label',
    task: 'classification',
    model: { hidden: [{ units: 32, normalization: 'batch', dropout: 0.1 }, { units: 32 }] },
    training: { epochs: 2, batchSize: 16, seed: 1 },
  });
  const saver = await buildApp(config);
  await saver.ready();
  await waitForReady(supertest(saver.server));
  await saver.models.save(model.meta, model.frozen);
  await saver.close();

  const api = startServiceProcess('api', config);
  try {
    await Promise.race([api.ready, api.exited.then((code) => Promise.reject(new Error(`API exited: ${code}`)))]);
    // Ready, and past its start-up work (Redis scripts, queue connections), which is no request's.
    for (let ready = 0; ready !== 200;) ready = (await fetch(`${base}/readyz`)).status;
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const lagMaxMs = async () => {
      const text = await (await fetch(`${base}/metrics`)).text();
      const match = /^nodejs_eventloop_lag_max_seconds (\S+)/m.exec(text);
      return match ? Number(match[1]) * 1000 : NaN;
    };
    const body = JSON.stringify({
      rows: Array.from({ length: ROWS }, (_, i) => ({
        a: (i % 200) / 100 - 1,
        b: (i % 37) / 18 - 1,
        color: i % 2 ? 'red' : 'blue',
      })),
    });
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
      const response = await fetch(`${base}/v1/models/${model.meta.id}/predict`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      });
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
      `${ROUNDS} rounds of a ${ROWS}-row predict: max event-loop delay median ${median(lags).toFixed(1)} ms, max ` +
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
