import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import supertest from 'supertest';
import { buildApp } from '../../src/app';
import { xorCsv } from '../helpers/app';
import { testConfig } from '../helpers/config';
import { PrivateRedis } from '../helpers/private-redis';
import { waitForReady } from '../helpers/ready';

/**
 * The datasets a reader can see under the test's prefix (one hash per dataset; its chunks are
 * `…:chunk:<n>` keys beside it), after checking that every other chunk — an unpublished upload's —
 * carries a TTL, so nothing unacknowledged stays.
 */
async function datasetKeys(redis: Redis, prefix: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:dataset:*`, 'COUNT', 500);
    cursor = next;
    found.push(...keys);
  } while (cursor !== '0');
  const hashes = found.filter((key) => !key.includes(':chunk:'));
  for (const chunk of found.filter((key) => key.includes(':chunk:'))) {
    if (hashes.includes(chunk.slice(0, chunk.indexOf(':chunk:')))) continue;
    assert.ok((await redis.ttl(chunk)) > 0, `${chunk} belongs to no published dataset and has no TTL`);
  }
  return hashes;
}

/**
 * A 503 means nothing was stored: an upload sent to a frozen Redis (SIGSTOP) times out with 503,
 * and when Redis thaws the write that sat in its socket buffer must not run.
 */
describe('an upload answered 503 during a Redis freeze stores nothing', () => {
  let redis: PrivateRedis;
  let app: FastifyInstance;
  let probe: Redis;
  const config = testConfig();

  before(async () => {
    redis = await PrivateRedis.start();
    config.redisUrl = redis.url;
    app = await buildApp(config);
    await app.ready();
    await waitForReady(supertest(app.server));
    probe = new Redis(redis.url);
  });
  after(async () => {
    if (redis.running) redis.thaw();
    probe.disconnect();
    await app.close();
    await redis.close();
  });

  test('503 while frozen; after SIGCONT no dataset exists', async () => {
    const http = supertest(app.server);
    const before = await http.post('/v1/datasets').set('content-type', 'text/csv').send(xorCsv(50));
    assert.equal(before.status, 201, 'uploads work before the freeze');
    redis.freeze();
    let upload: supertest.Response;
    try {
      upload = await http.post('/v1/datasets').set('content-type', 'text/csv').send(xorCsv(200, 7));
    } finally {
      redis.thaw();
    }
    assert.equal(upload.status, 503, JSON.stringify(upload.body));
    assert.equal(upload.body.error.code, 'REDIS_UNAVAILABLE');
    // Redis answers one connection's commands in order: once this PING on the API's own connection
    // is answered, the upload's write (sent before it) has run or been refused.
    assert.equal(await app.redis.ping(), 'PONG');
    const keys = await datasetKeys(probe, config.redisPrefix);
    assert.deepEqual(
      keys,
      [`${config.redisPrefix}:dataset:${before.body.id}`],
      'only the acknowledged dataset is stored',
    );
  });
});

/**
 * A full Redis (maxmemory reached, noeviction) refuses writes: the API says so with 507
 * STORAGE_FULL (not 503 "retry shortly"), counts it in /metrics, and stores nothing of the
 * refused upload or job.
 */
describe('a full Redis answers 507 STORAGE_FULL and stores nothing partial', () => {
  let redis: PrivateRedis;
  let app: FastifyInstance;
  let probe: Redis;
  const config = testConfig();

  before(async () => {
    redis = await PrivateRedis.start(['--maxmemory-policy', 'noeviction']);
    config.redisUrl = redis.url;
    app = await buildApp(config);
    await app.ready();
    await waitForReady(supertest(app.server));
    probe = new Redis(redis.url);
  });
  after(async () => {
    probe.disconnect();
    await app.close();
    await redis.close();
  });

  test('Redis over maxmemory: uploads and submissions are 507s, nothing is stored, and it recovers', async () => {
    const http = supertest(app.server);
    const accepted: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await http
        .post('/v1/datasets')
        .set('content-type', 'text/csv')
        .send(xorCsv(500, i + 1));
      assert.equal(res.status, 201);
      accepted.push(res.body.id);
    }
    // Full, and staying full: maxmemory far below what Redis holds, so every write is refused
    // whatever the moment's client buffers (filling it up to the limit leaves it hovering there).
    const used = Number(/used_memory:(\d+)/.exec(await probe.info('memory'))![1]);
    await probe.config('SET', 'maxmemory', String(Math.floor(used / 2)));
    const upload = await http.post('/v1/datasets').set('content-type', 'text/csv').send(xorCsv(500, 9));
    assert.equal(upload.status, 507, JSON.stringify(upload.body));
    assert.equal(upload.body.error.code, 'STORAGE_FULL');
    assert.match(upload.body.error.message, /full/);
    assert.equal(upload.headers['retry-after'], undefined, 'no Retry-After: retrying shortly cannot help');

    const job = await http.post('/v1/training-jobs').send({
      datasetId: accepted[0],
      target: 'label',
      task: 'classification',
      training: { epochs: 1 },
    });
    assert.equal(job.status, 507, JSON.stringify(job.body));
    assert.equal(job.body.error.code, 'STORAGE_FULL');

    // Nothing of the refused upload or job is stored.
    const keys = (await datasetKeys(probe, config.redisPrefix)).sort();
    assert.deepEqual(keys, accepted.map((id) => `${config.redisPrefix}:dataset:${id}`).sort());
    const counts = await app.trainingQueue.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
    assert.deepEqual(Object.values(counts), [0, 0, 0, 0], JSON.stringify(counts));

    const metrics = await http.get('/metrics');
    assert.match(metrics.text, /^fitwell_redis_storage_full_total 2$/m);
    // Still ready: Redis answers; it is full, not down.
    assert.equal((await http.get('/readyz')).status, 200);

    // Memory freed (here: the limit lifted): writes work again at once.
    await probe.config('SET', 'maxmemory', '0');
    const again = await http.post('/v1/datasets').set('content-type', 'text/csv').send(xorCsv(500, 9));
    assert.equal(again.status, 201, JSON.stringify(again.body));
  });
});
