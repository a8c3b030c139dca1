import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import supertest from 'supertest';
import { buildApp } from '../../src/app';
import { EXPENSIVE_PREDICT_BYTES } from '../../src/http/overload';
import { deletePrefix, testConfig } from '../helpers/config';
import { waitForReady } from '../helpers/ready';

/** An upload whose body is sent in part and held open: expensive work in flight until `finish`. */
function openUpload(port: number): { finish(): Promise<{ status: number; body: string }> } {
  const request = http.request({
    host: '127.0.0.1',
    port,
    method: 'POST',
    path: '/v1/datasets',
    headers: { 'content-type': 'text/csv', 'transfer-encoding': 'chunked' },
  });
  const answered = new Promise<{ status: number; body: string }>((resolve, reject) => {
    request.on('response', (res) => {
      let body = '';
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    request.on('error', reject);
  });
  request.write('a,b,label\n');
  for (let i = 0; i < 20; i++) request.write(`${i},${i % 3},${i % 2 ? 'x' : 'y'}\n`);
  return {
    finish() {
      request.end();
      return answered;
    },
  };
}

/** A predict body larger than EXPENSIVE_PREDICT_BYTES: expensive by its Content-Length. */
function largePredictBody(): { rows: { a: number; b: number }[] } {
  const rows: { a: number; b: number }[] = [];
  while (JSON.stringify({ rows }).length <= EXPENSIVE_PREDICT_BYTES) rows.push({ a: rows.length, b: 1 });
  return { rows };
}

/**
 * Fair shedding: expensive requests (uploads, large predicts, submissions, reports) have a pool of
 * their own (OVERLOAD_MAX_EXPENSIVE_REQUESTS). With it full, the next expensive request is a 503
 * at once, while cheap ones (a job read, a dataset list, a 1-row predict, the probes) are served as
 * usual; once the pool drains, expensive requests are taken again. Without the pool, the third
 * upload below is taken and the refusal never comes.
 */
describe('expensive requests have a concurrency pool of their own', () => {
  const config = testConfig({ OVERLOAD_MAX_EXPENSIVE_REQUESTS: '2', RATE_LIMIT_MAX: '0' });
  let app: FastifyInstance;
  let port = 0;
  let agent: ReturnType<typeof supertest>;

  before(async () => {
    app = await buildApp(config);
    await app.listen({ port: 0, host: '127.0.0.1' });
    port = (app.server.address() as AddressInfo).port;
    agent = supertest(app.server);
    await waitForReady(agent);
  });
  after(async () => {
    await app.close();
    await deletePrefix(config);
  });

  test('the pool full: expensive requests 503 at once, cheap ones served; drained: expensive served again', async () => {
    const held = [openUpload(port), openUpload(port)];
    const big = largePredictBody();

    // The two uploads take the pool as soon as their headers are read; wait for that.
    const deadline = Date.now() + 30_000;
    let refused: supertest.Response | undefined;
    while (!refused) {
      const res = await agent.post('/v1/models/mdl_missing/predict').send(big);
      if (res.status === 503) refused = res;
      else if (Date.now() > deadline) throw new Error(`a large predict still answers ${res.status}`);
      else await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.equal(refused.body.error.code, 'OVERLOADED');
    assert.match(refused.body.error.message, /2 expensive requests in flight \(OVERLOAD_MAX_EXPENSIVE_REQUESTS\)/);
    assert.equal(refused.headers['retry-after'], '5');
    const upload = await agent.post('/v1/datasets').set('content-type', 'text/csv').send('a,label\n1,x\n2,y\n');
    assert.equal(upload.status, 503, 'a third upload is refused');
    const submit = await agent.post('/v1/training-jobs').send({ datasetId: 'ds_missing', target: 'label' });
    assert.equal(submit.status, 503, 'so is a training submission');

    // Cheap requests are not counted against the pool: each is answered as it would be anyway.
    assert.equal((await agent.get('/healthz')).status, 200);
    assert.equal((await agent.get('/v1/training-jobs/job_missing')).status, 404);
    assert.equal((await agent.get('/v1/datasets')).status, 200);
    assert.equal((await agent.post('/v1/models/mdl_missing/predict').send({ rows: [{ a: 1, b: 1 }] })).status, 404);

    // The held uploads complete, and free their places.
    for (const answer of await Promise.all(held.map((upload) => upload.finish()))) {
      assert.equal(answer.status, 201, answer.body);
    }
    assert.equal((await agent.post('/v1/models/mdl_missing/predict').send(big)).status, 404, 'served again');
    const again = await agent.post('/v1/datasets').set('content-type', 'text/csv').send('a,label\n1,x\n2,y\n');
    assert.equal(again.status, 201);
  });
});
