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
import supertest from 'supertest';
import { buildApp } from '../src/app';
import { xorCsv } from '../test/helpers/app';
import { waitForReady } from '../test/helpers/ready';
import { trainStoredModel } from '../test/serving/stored-model';
import { measureStalls, stallBenchConfig } from './event-loop-stall';

const ROUNDS = Number(process.argv[2] ?? 10);
const ROWS = 10_000;

async function main(): Promise<void> {
  const config = await stallBenchConfig();
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

  const body = JSON.stringify({
    rows: Array.from({ length: ROWS }, (_, i) => ({
      a: (i % 200) / 100 - 1,
      b: (i % 37) / 18 - 1,
      color: i % 2 ? 'red' : 'blue',
    })),
  });
  await measureStalls(config, `a ${ROWS}-row predict`, ROUNDS, (base) =>
    fetch(`${base}/v1/models/${model.meta.id}/predict`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    }),
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
