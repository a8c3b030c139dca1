import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { configToEnv, type Config } from '../../src/config';
import { ModelStore, type StoredModel } from '../../src/store/model-store';
import { xorCsv } from '../helpers/app';
import { deletePrefix, testConfig } from '../helpers/config';
import { trainStoredModel, withNewId } from './stored-model';

/**
 * The documented bound (README, "Performance"): with 100 small models cached — two hidden layers
 * of 64 units with batch norm, layer norm and dropout, like the README's example, each having
 * served a one-row request (JavaScript path) and a 64-row one (tf path, weights resident) — the
 * API process's resident memory stays under 320 MiB, and grows by at most 32 MiB over the API
 * with one model cached.
 */
const RSS_BOUND = 320 * 2 ** 20;
const GROWTH_BOUND = 32 * 2 ** 20;

interface Api {
  child: ChildProcess;
  url: string;
  rss(): Promise<{ rss: number; cached: number; bytes: number }>;
  stop(): Promise<void>;
}

async function startApi(config: Config, env: Record<string, string> = {}): Promise<Api> {
  const child = fork(join(__dirname, 'api-process.js'), [], {
    env: { ...process.env, ...configToEnv(config), ...env },
    execArgv: ['--expose-gc'],
  });
  const { port } = await new Promise<{ port: number }>((resolve, reject) => {
    child.once('message', (message) => resolve(message as { port: number }));
    child.once('exit', (code) => reject(new Error(`the API process exited with ${code}`)));
  });
  const url = `http://127.0.0.1:${port}`;
  for (
    let i = 0;
    !(await fetch(`${url}/readyz`).then(
      (r) => r.ok,
      () => false,
    ));
    i++
  ) {
    if (i > 100) throw new Error('the API did not become ready');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    child,
    url,
    rss: () =>
      new Promise((resolve) => {
        child.once('message', (message) => resolve(message as { rss: number; cached: number; bytes: number }));
        child.send('rss');
      }),
    stop: async () => {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.disconnect();
      await exited;
    },
  };
}

async function predict(api: Api, id: string, rows: number): Promise<void> {
  const inputs = Array.from({ length: rows }, (_, r) => [Math.sin(r), Math.cos(r), r % 2 ? 'red' : 'blue']);
  const response = await fetch(`${api.url}/v1/models/${id}/predict`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ inputs }),
  });
  assert.equal(response.status, 200, await response.text());
}

const MiB = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

describe('API resident memory with cached models', () => {
  let config: Config;
  let redis: Redis;
  let small: StoredModel;
  const ids: string[] = [];

  before(async () => {
    config = testConfig();
    redis = new Redis(config.redisUrl);
    small = await trainStoredModel(xorCsv(200), {
      target: 'label',
      task: 'classification',
      model: {
        hidden: [
          { units: 64, normalization: 'batch', dropout: 0.3 },
          { units: 64, normalization: 'layer', dropout: 0.3 },
        ],
      },
      training: { epochs: 2, batchSize: 32, seed: 3 },
    });
    const store = new ModelStore(redis, config.redisPrefix);
    for (let i = 0; i < 100; i++) {
      const copy = withNewId(small);
      await store.save(copy.meta, copy.frozen);
      ids.push(copy.meta.id);
    }
  });

  after(async () => {
    redis.disconnect();
    await deletePrefix(config);
  });

  test('100 small models cached stay under the documented bound', async () => {
    const api = await startApi(config, { RATE_LIMIT_MAX: '0' });
    try {
      await predict(api, ids[0], 1);
      await predict(api, ids[0], 64);
      const one = await api.rss();
      for (const id of ids) {
        await predict(api, id, 1);
        await predict(api, id, 64);
      }
      const hundred = await api.rss();
      assert.equal(hundred.cached, 100);
      const grown = hundred.rss - one.rss;
      console.log(
        `# API RSS: ${MiB(one.rss)} with 1 model, ${MiB(hundred.rss)} with 100 (+${MiB(grown)}); ` +
          `cache estimate ${MiB(hundred.bytes)}`,
      );
      assert.ok(hundred.rss <= RSS_BOUND, `RSS ${MiB(hundred.rss)} > ${MiB(RSS_BOUND)}`);
      assert.ok(grown <= GROWTH_BOUND, `RSS grew ${MiB(grown)} > ${MiB(GROWTH_BOUND)}`);
    } finally {
      await api.stop();
    }
  });

  test('beyond MODEL_CACHE_BYTES the cache evicts: it holds only what fits', async () => {
    const api = await startApi(config, { RATE_LIMIT_MAX: '0', MODEL_CACHE_BYTES: String(2 ** 20) });
    try {
      for (const id of ids) await predict(api, id, 1);
      const state = await api.rss();
      assert.ok(state.cached < 100 && state.cached > 0, `${state.cached} models cached`);
      assert.ok(state.bytes <= 2 ** 20, `estimate ${state.bytes} B over MODEL_CACHE_BYTES`);
    } finally {
      await api.stop();
    }
  });
});
