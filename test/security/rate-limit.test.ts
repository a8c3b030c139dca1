import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import supertest from 'supertest';
import { buildApp } from '../../src/app';
import type { Config } from '../../src/config';
import { deletePrefix, testConfig } from '../helpers/config';
import { PrivateRedis } from '../helpers/private-redis';

const KEY_A = 'rate-limit-key-a-0123456789abcdef';
const KEY_B = 'rate-limit-key-b-0123456789abcdef';
const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

/** Per API key, shared by every replica through Redis, 429 + Retry-After beyond the limit. */
describe('rate limiting', () => {
  const apps: FastifyInstance[] = [];
  const configs: Config[] = [];
  after(async () => {
    await Promise.all(apps.map((app) => app.close()));
    await Promise.all(configs.map((config) => deletePrefix(config)));
  });

  async function replica(config: Config) {
    const app = await buildApp(config);
    await app.ready();
    apps.push(app);
    const http = supertest(app.server);
    // The app is built before its Redis connection is up (it answers 503 until then).
    const deadline = Date.now() + 5_000;
    while ((await http.get('/readyz')).status !== 200) {
      if (Date.now() > deadline) throw new Error('Redis did not become ready');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return http;
  }

  test('per key: the limit, the headers, then 429 with Retry-After and the JSON error', async () => {
    const config = testConfig({ API_KEYS: `${KEY_A},${KEY_B}`, RATE_LIMIT_MAX: '3', RATE_LIMIT_WINDOW_MS: '60000' });
    configs.push(config);
    const http = await replica(config);
    for (let i = 1; i <= 3; i++) {
      const res = await http.get('/v1/models').set(bearer(KEY_A));
      assert.equal(res.status, 200);
      assert.equal(res.headers['x-ratelimit-limit'], '3');
      assert.equal(res.headers['x-ratelimit-remaining'], String(3 - i));
    }
    const limited = await http.get('/v1/models').set(bearer(KEY_A));
    assert.equal(limited.status, 429);
    assert.equal(limited.body.error.code, 'RATE_LIMITED');
    assert.match(limited.body.error.message, /at most 3 requests per 1 min for this API key; retry in \d+ s/);
    const retryAfter = Number(limited.headers['retry-after']);
    assert.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After ${limited.headers['retry-after']}`);
    // Every route of the key counts, including ones that fail.
    assert.equal((await http.post('/v1/datasets').set(bearer(KEY_A)).send({ rows: 'x' })).status, 429);

    // Another key has its own budget; probes are never limited.
    assert.equal((await http.get('/v1/models').set(bearer(KEY_B))).status, 200);
    for (let i = 0; i < 5; i++) {
      assert.equal((await http.get('/healthz')).status, 200);
      assert.equal((await http.get('/readyz')).status, 200);
    }
    // A rejected key is refused before the limiter (401, not 429) and uses no one's budget.
    assert.equal((await http.get('/v1/models').set(bearer('not-a-key-0123456789abcdef'))).status, 401);
  });

  test('shared by replicas through Redis, and the window resets', async () => {
    const config = testConfig({ API_KEYS: KEY_A, RATE_LIMIT_MAX: '4', RATE_LIMIT_WINDOW_MS: '1500' });
    configs.push(config);
    // Two API processes' worth of apps on one Redis and prefix, as two replicas would be.
    const [one, two] = [await replica(config), await replica(config)];
    const statuses = [];
    for (const http of [one, two, one, two, one, two]) {
      statuses.push((await http.get('/v1/models').set(bearer(KEY_A))).status);
    }
    assert.deepEqual(statuses, [200, 200, 200, 200, 429, 429]);
    await new Promise((resolve) => setTimeout(resolve, 1_600));
    assert.equal((await two.get('/v1/models').set(bearer(KEY_A))).status, 200, 'a new window');
  });

  test('without keys, each client address has its own limit; RATE_LIMIT_MAX=0 turns limiting off', async () => {
    const open = testConfig({ RATE_LIMIT_MAX: '2' });
    configs.push(open);
    const http = await replica(open);
    assert.deepEqual(
      [await http.get('/v1/models'), await http.get('/v1/models'), await http.get('/v1/models')].map((r) => r.status),
      [200, 200, 429],
    );
    const limited = await http.get('/v1/models');
    assert.match(limited.body.error.message, /for this client address/);

    const off = testConfig({ RATE_LIMIT_MAX: '0' });
    configs.push(off);
    const unlimited = await replica(off);
    for (let i = 0; i < 20; i++) assert.equal((await unlimited.get('/v1/models')).status, 200);
    assert.equal((await unlimited.get('/v1/models')).headers['x-ratelimit-limit'], undefined);
  });

  test('with Redis down the limit is kept per replica, without delay', async () => {
    const redis = await PrivateRedis.start();
    try {
      const config = testConfig({ REDIS_URL: redis.url, API_KEYS: KEY_A, RATE_LIMIT_MAX: '3' });
      const http = await replica(config);
      assert.equal((await http.get('/v1/models').set(bearer(KEY_A))).status, 200);
      await redis.kill();
      // The window counted in Redis is gone with it; this replica counts from zero on its own.
      const started = Date.now();
      const statuses = [];
      for (let i = 0; i < 4; i++) statuses.push((await http.get('/v1/models').set(bearer(KEY_A))).status);
      assert.deepEqual(statuses, [503, 503, 503, 429], 'Redis-backed route answers 503 until the local limit is hit');
      assert.ok(Date.now() - started < 1_000, `took ${Date.now() - started} ms`);
    } finally {
      await redis.close();
    }
  });
});
