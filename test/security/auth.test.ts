import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import supertest from 'supertest';
import { buildApp } from '../../src/app';
import { ConfigError, loadConfig } from '../../src/config';
import { ApiKeys, presentedKey } from '../../src/http/auth';
import { deletePrefix, testConfig } from '../helpers/config';
import { waitForReady } from '../helpers/ready';

const KEY_1 = 'k1-4f1d0c6e9b2a47d8a3c5e7f901234567';
const KEY_2 = 'k2-a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4';
const WRONG = 'k1-4f1d0c6e9b2a47d8a3c5e7f90123456X';
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

describe('API keys', () => {
  let app: FastifyInstance;
  let http: ReturnType<typeof supertest>;
  let prefix: Parameters<typeof deletePrefix>[0];

  before(async () => {
    const config = testConfig({ API_KEYS: ` ${KEY_1}, ${KEY_2} ,` });
    prefix = config;
    app = await buildApp(config);
    // The dashboard is mounted by its own plugin; a stand-in keeps this test independent of it.
    if (!app.hasRoute({ method: 'GET', url: '/admin/queues' })) {
      app.get('/admin/queues', async () => ({ dashboard: true }));
    }
    await app.ready();
    http = supertest(app.server);
    await waitForReady(http);
  });
  after(async () => {
    await app.close();
    await deletePrefix(prefix);
  });

  const v1Requests = () => ({
    'GET /v1/models': http.get('/v1/models'),
    'GET /v1/models/:id': http.get('/v1/models/mdl_x'),
    'POST predict': http.post('/v1/models/mdl_x/predict').send({ inputs: [[1]] }),
    'POST /v1/datasets': http.post('/v1/datasets').set('content-type', 'text/csv').send('a,b\n1,2\n3,4\n'),
    'GET /v1/datasets/:id': http.get('/v1/datasets/ds_x'),
    'POST /v1/training-jobs': http
      .post('/v1/training-jobs')
      .send({ datasetId: 'ds_x', target: 'b', task: 'regression' }),
    'GET /v1/training-jobs/:id': http.get('/v1/training-jobs/j'),
    'DELETE /v1/training-jobs/:id': http.delete('/v1/training-jobs/j'),
    'GET /v1/no-such-route': http.get('/v1/no-such-route'),
  });

  test('every /v1 route (and unknown /v1 paths) answers 401 + WWW-Authenticate: Bearer without a key', async () => {
    for (const [name, request] of Object.entries(v1Requests())) {
      const res = await request;
      assert.equal(res.status, 401, `${name}: ${res.status}`);
      assert.match(res.headers['www-authenticate'], /^Bearer realm="fitwell"$/);
      assert.equal(res.body.error.code, 'UNAUTHORIZED');
      assert.match(res.body.error.message, /Authorization: Bearer <key>/);
    }
  });

  test('a wrong key, a key with a character more or less, and other schemes are refused', async () => {
    for (const header of [
      `Bearer ${WRONG}`,
      `Bearer ${KEY_1}x`,
      `Bearer ${KEY_1.slice(0, -1)}`,
      `Bearer ${KEY_1} ${KEY_2}`,
      KEY_1,
      `Token ${KEY_1}`,
      basic('user', KEY_1), // Basic is for the dashboard only
      'Bearer',
      '',
    ]) {
      const res = await http.get('/v1/models').set('authorization', header);
      assert.equal(res.status, 401, `${JSON.stringify(header)} → ${res.status}`);
      assert.match(res.headers['www-authenticate'], /^Bearer /);
    }
    const wrong = await http.get('/v1/models').set('authorization', `Bearer ${WRONG}`);
    assert.match(wrong.headers['www-authenticate'], /error="invalid_token"/);
    assert.equal(wrong.body.error.message, 'the API key is not valid');
  });

  test('each configured key works (the scheme is case-insensitive)', async () => {
    for (const header of [`Bearer ${KEY_1}`, `Bearer ${KEY_2}`, `bearer ${KEY_1}`, `BEARER   ${KEY_2}  `]) {
      const res = await http.get('/v1/models').set('authorization', header);
      assert.equal(res.status, 200, `${header}: ${JSON.stringify(res.body)}`);
    }
    const missing = await http.get('/v1/no-such-route').set('authorization', `Bearer ${KEY_1}`);
    assert.equal(missing.status, 404);
  });

  test('no spelling of a protected path gets past the check', async () => {
    for (const path of [
      '/%76%31/models',
      '/v1/./models',
      '/v1//models',
      '//v1/models',
      '/V1/models',
      '/v1/models/',
      '/v1/models?x=/healthz',
      '/healthz/../v1/models',
      '/v1/models%2f',
      '/v1/models;/healthz',
    ]) {
      const res = await http.get(path);
      assert.ok([400, 401, 404].includes(res.status), `${path} → ${res.status} ${JSON.stringify(res.body)}`);
      assert.ok(!('models' in (res.body ?? {})), `${path} returned data without a key`);
    }
  });

  test('/healthz and /readyz stay open; unknown paths outside /v1 are plain 404s', async () => {
    assert.equal((await http.get('/healthz')).status, 200);
    assert.equal((await http.get('/readyz')).status, 200);
    assert.equal((await http.get('/nothing-here')).status, 404);
    for (const path of ['/docs', '/openapi.json', '/metrics']) {
      if (!app.hasRoute({ method: 'GET', url: path })) continue;
      const res = await http.get(path);
      assert.notEqual(res.status, 401, `${path} must stay open`);
    }
  });

  test('the report and curves pages, opened in a browser, take Basic auth like the dashboard', async () => {
    for (const url of ['/v1/training-jobs/j/report', '/v1/training-jobs/j/curves.svg', '/v1/sweeps/s/curves.svg']) {
      const challenged = await http.get(url);
      assert.equal(challenged.status, 401, url);
      // Both schemes: a browser shows its login prompt for the Basic one; scripts send Bearer.
      assert.match(
        challenged.headers['www-authenticate'],
        /^Basic realm="fitwell", charset="UTF-8", Bearer realm="fitwell"$/,
        url,
      );
      const signedIn = await http.get(url).set('authorization', basic('anyone', KEY_2));
      assert.equal(signedIn.status, 404, `${url} with Basic: ${signedIn.status} ${signedIn.text}`);
      assert.equal((await http.get(url).set('authorization', `Bearer ${KEY_1}`)).status, 404, url);
      assert.equal((await http.get(url).set('authorization', basic('anyone', WRONG))).status, 401, url);
    }
  });

  test('the dashboard asks browsers for Basic auth and accepts a key as the password, or a bearer key', async () => {
    const challenge = await http.get('/admin/queues');
    assert.equal(challenge.status, 401);
    assert.match(challenge.headers['www-authenticate'], /^Basic realm="fitwell"/);
    assert.match(challenge.body.error.message, /key as the password/);

    const wrong = await http.get('/admin/queues').set('authorization', basic('admin', WRONG));
    assert.equal(wrong.status, 401);
    assert.match(wrong.headers['www-authenticate'], /^Basic realm="fitwell"/);

    for (const header of [basic('admin', KEY_1), basic('', KEY_2), basic(KEY_1, ''), `Bearer ${KEY_2}`]) {
      const res = await http.get('/admin/queues').set('authorization', header);
      assert.equal(res.status, 200, `${header} → ${res.status}`);
    }
    // An unknown page under the dashboard is protected as well.
    assert.equal((await http.get('/admin/queues/no-such-page')).status, 401);
  });
});

describe('API key configuration', () => {
  test('keys are compared by digest and identified by a fingerprint that is not the key', () => {
    const keys = new ApiKeys([KEY_1, KEY_2]);
    const id1 = keys.identify(KEY_1);
    const id2 = keys.identify(KEY_2);
    assert.ok(id1 && id2 && id1 !== id2);
    assert.equal(keys.identify(KEY_1), id1, 'stable');
    for (const other of [WRONG, '', KEY_1.slice(0, 8), `${KEY_1}${KEY_1}`, KEY_1.toUpperCase()]) {
      assert.equal(keys.identify(other), undefined, other);
    }
    assert.ok(!KEY_1.includes(id1) && !id1.includes(KEY_1.slice(0, 8)));
    assert.equal(new ApiKeys([]).enabled, false);
  });

  test('presentedKey reads Bearer and, for the dashboard, Basic credentials', () => {
    assert.equal(presentedKey(`Bearer ${KEY_1}`, false), KEY_1);
    assert.equal(presentedKey(basic('u', KEY_1), false), undefined);
    assert.equal(presentedKey(basic('u', KEY_1), true), KEY_1);
    assert.equal(presentedKey(basic(KEY_1, ''), true), KEY_1);
    assert.equal(presentedKey('Basic !!!not-base64', true), undefined);
    assert.equal(presentedKey(undefined, true), undefined);
  });

  test('NODE_ENV=production without keys refuses to build the API (ConfigError)', async () => {
    const config = testConfig({ NODE_ENV: 'production' });
    await assert.rejects(buildApp(config), (error: Error) => {
      assert.ok(error instanceof ConfigError, String(error));
      assert.match(error.message, /API_KEYS is not set.*NODE_ENV=production/);
      return true;
    });
    const withKeys = await buildApp(testConfig({ NODE_ENV: 'production', API_KEYS: KEY_1 }));
    await withKeys.close();
  });

  test('a key that is too short or has spaces is refused, and the message does not repeat it', () => {
    for (const keys of ['short-key', `${KEY_1},tiny`, `${KEY_1},has a space in it ok`]) {
      assert.throws(
        () => loadConfig({ API_KEYS: keys }),
        (error: Error) => {
          assert.ok(error instanceof ConfigError);
          assert.match(error.message, /API_KEYS: key \d/);
          for (const key of keys.split(',')) assert.ok(!error.message.includes(key), 'the message names no key');
          return true;
        },
      );
    }
    assert.deepEqual(loadConfig({ API_KEYS: ` ${KEY_1} ,, ${KEY_2}` }).apiKeys, [KEY_1, KEY_2]);
    assert.deepEqual(loadConfig({}).apiKeys, []);
  });
});

/**
 * The real entry point, as deployed: `node dist/src/main.js api` with full logging. Keys must not
 * appear in anything it prints, whatever the requests; in production without keys it must exit.
 */
describe('the API process', () => {
  const main = join(__dirname, '..', '..', 'src', 'main.js');
  const baseEnv = () => ({
    ...process.env,
    REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    REDIS_PREFIX: prefix,
    TF_BACKEND: 'wasm',
    HOST: '127.0.0.1',
  });
  const prefix = `fwtest-auth-${process.pid}`;
  // The process writes queue metadata under its prefix: delete it, and only it.
  after(() => deletePrefix(loadConfig({ REDIS_URL: process.env.REDIS_URL, REDIS_PREFIX: prefix })));

  test('never logs a key, even at trace level and for rejected keys', async () => {
    const port = await freePort();
    const child = spawn(process.execPath, [main, 'api'], {
      env: {
        ...baseEnv(),
        NODE_ENV: 'development',
        API_KEYS: `${KEY_1},${KEY_2}`,
        LOG_LEVEL: 'trace',
        PORT: String(port),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    try {
      const http = supertest(`http://127.0.0.1:${port}`);
      // /readyz, not /healthz: the process may answer before its Redis connections are up, and
      // then a route that needs Redis answers 503.
      await waitFor(async () => (await http.get('/readyz').catch(() => ({ status: 0 }))).status === 200, 60_000);
      assert.equal((await http.get('/v1/models').set('authorization', `Bearer ${KEY_1}`)).status, 200);
      assert.equal((await http.get('/v1/models').set('authorization', `Bearer ${WRONG}`)).status, 401);
      assert.equal((await http.get('/v1/models/mdl_missing').set('authorization', `Bearer ${KEY_2}`)).status, 404);
      assert.equal((await http.get('/admin/queues').set('authorization', basic('admin', KEY_2))).status !== 401, true);
      assert.equal(
        (await http.post('/v1/training-jobs').set('authorization', `Bearer ${KEY_1}`).send({ bad: KEY_1 })).status,
        400,
      );
    } finally {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
    }
    assert.match(output, /"msg":"incoming request"/, 'request logging was on');
    assert.match(output, /API keys required/);
    for (const secret of [KEY_2.slice(3), WRONG, Buffer.from(`admin:${KEY_2}`).toString('base64')]) {
      assert.ok(!output.includes(secret), `the log contains a key: ${secret}`);
    }
    // KEY_1 was sent in a body, which is echoed in no log either.
    assert.ok(!output.includes(KEY_1), 'the log contains a key from a request body');
  });

  test('runs open with a loud warning when no keys are set', async () => {
    const port = await freePort();
    const child = spawn(process.execPath, [main, 'api'], {
      env: { ...baseEnv(), NODE_ENV: 'development', API_KEYS: '', LOG_LEVEL: 'info', PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    try {
      const http = supertest(`http://127.0.0.1:${port}`);
      // /readyz, not /healthz: the process may answer before its Redis connections are up, and
      // then a route that needs Redis answers 503.
      await waitFor(async () => (await http.get('/readyz').catch(() => ({ status: 0 }))).status === 200, 60_000);
      assert.equal((await http.get('/v1/models')).status, 200);
    } finally {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
    }
    assert.match(output, /"level":40.*API_KEYS is not set: the API is OPEN/);
  });

  test('refuses to start in production without keys', async () => {
    const child = spawn(process.execPath, [main, 'api'], {
      env: { ...baseEnv(), NODE_ENV: 'production', API_KEYS: '', PORT: String(await freePort()) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const code = await new Promise((resolve) => child.once('exit', resolve));
    assert.equal(code, 1);
    assert.match(stderr, /API_KEYS is not set/);
  });
});

async function waitFor(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`not ready within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
