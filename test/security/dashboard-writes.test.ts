import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { FastifyInstance, RouteOptions } from 'fastify';
import supertest from 'supertest';
import { buildApp } from '../../src/app';
import type { Config } from '../../src/config';
import { deletePrefix, testConfig } from '../helpers/config';

/**
 * The job dashboard's write routes (bull-board's API: obliterate, empty, add, clean, retry,
 * pause, update-data, …) change the training queue; they are refused unless an admin key
 * (ADMIN_API_KEYS) is configured and presented. Reading stays as it was.
 */
const API_KEY = 'dash-api-key-0123456789abcdef';
const ADMIN_KEY = 'dash-admin-key-0123456789abcdef';
const basic = (password: string) => `Basic ${Buffer.from(`me:${password}`).toString('base64')}`;

describe('dashboard write routes', () => {
  const apps: FastifyInstance[] = [];
  const configs: Config[] = [];
  after(async () => {
    await Promise.all(apps.map((app) => app.close()));
    await Promise.all(configs.map((config) => deletePrefix(config)));
  });

  async function start(env: Record<string, string>) {
    const config = testConfig({ RATE_LIMIT_MAX: '0', ...env });
    configs.push(config);
    const writes: { method: string; url: string }[] = [];
    const app = await buildApp(config, {
      onRoute: (route: RouteOptions) => {
        for (const method of [route.method].flat()) {
          if (route.url.startsWith('/admin/queues/api/') && !['GET', 'HEAD'].includes(method))
            writes.push({ method, url: route.url });
        }
      },
    });
    apps.push(app);
    await app.ready();
    const deadline = Date.now() + 5_000;
    while ((await app.inject('/readyz')).statusCode !== 200) {
      if (Date.now() > deadline) throw new Error('Redis did not become ready');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await app.trainingQueue.add('train', { marker: true } as never, { jobId: 'keep-me' });
    return { app, http: supertest(app.server), writes };
  }

  const concrete = (url: string) =>
    url
      .replace(':queueName', 'training')
      .replace(':queueStatus', 'waiting')
      .replace(':jobId', 'keep-me')
      .replace(/:\w+/g, 'x');

  test('without ADMIN_API_KEYS every write route is a 403 and the queue is untouched', async () => {
    const { app, http, writes } = await start({});
    for (const name of ['obliterate', 'empty', 'add', 'update-data', 'clean', 'retry', 'pause']) {
      assert.ok(
        writes.some((w) => w.url.includes(`/${name}`)),
        `no ${name} route seen: ${JSON.stringify(writes)}`,
      );
    }
    for (const { method, url } of writes) {
      const res = await http[method.toLowerCase() as 'put'](concrete(url)).send({});
      assert.equal(res.status, 403, `${method} ${url}: ${res.status} ${res.text.slice(0, 200)}`);
      assert.equal(res.body.error.code, 'DASHBOARD_READ_ONLY');
      assert.match(res.body.error.message, /ADMIN_API_KEYS/);
    }
    assert.ok(await app.trainingQueue.getJob('keep-me'), 'the job survived every write');
    assert.equal((await http.get('/admin/queues/api/queues')).status, 200, 'reading stays open');
    const queues = (await http.get('/admin/queues/api/queues')).body as { queues: { readOnlyMode: boolean }[] };
    assert.equal(queues.queues[0].readOnlyMode, true, 'the UI shows the queue read-only');
  });

  test('with API_KEYS but no ADMIN_API_KEYS, an API key reads but cannot write', async () => {
    const { http } = await start({ API_KEYS: API_KEY });
    assert.equal((await http.get('/admin/queues/api/queues').set('authorization', basic(API_KEY))).status, 200);
    const res = await http
      .put('/admin/queues/api/queues/training/obliterate')
      .set('authorization', basic(API_KEY))
      .send({});
    assert.equal(res.status, 403);
  });

  test('with ADMIN_API_KEYS, writes need an admin key; API keys still only read', async () => {
    const { app, http } = await start({ API_KEYS: API_KEY, ADMIN_API_KEYS: ADMIN_KEY });
    const pause = '/admin/queues/api/queues/training/pause';
    const refused = await http.put(pause).set('authorization', basic(API_KEY)).send({});
    assert.equal(refused.status, 401);
    assert.match(refused.headers['www-authenticate'], /^Basic /);
    assert.match(refused.body.error.message, /admin key/);
    assert.equal((await http.put(pause).send({})).status, 401);
    // The admin key reads and writes, by Basic (a browser) or Bearer (a script).
    assert.equal((await http.get('/admin/queues/api/queues').set('authorization', basic(ADMIN_KEY))).status, 200);
    const paused = await http.put(pause).set('authorization', basic(ADMIN_KEY)).send({});
    assert.ok(paused.status < 300, `${paused.status} ${paused.text}`);
    assert.equal(await app.trainingQueue.isPaused(), true);
    const resumed = await http
      .put('/admin/queues/api/queues/training/resume')
      .set('authorization', `Bearer ${ADMIN_KEY}`)
      .send({});
    assert.ok(resumed.status < 300);
    assert.equal(await app.trainingQueue.isPaused(), false);
    // An admin key is no API key for /v1.
    assert.equal((await http.get('/v1/models').set('authorization', `Bearer ${ADMIN_KEY}`)).status, 401);
  });
});
