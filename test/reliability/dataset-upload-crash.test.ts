import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { startService, type TestService } from '../helpers/app';
import { startServiceProcess, stopWorkerProcess, type WorkerProcess } from '../helpers/worker-process';

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function until(what: string, check: () => Promise<boolean>, capMs = 90_000): Promise<void> {
  const deadline = Date.now() + capMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/**
 * A real API process killed (SIGKILL) in the middle of an upload: the chunks it wrote are never
 * visible as a dataset, and the documented cleanup (their TTL, DATASET_UPLOAD_TTL_SECONDS)
 * removes every one of them.
 */
describe('an upload cut short by SIGKILL of the API', () => {
  let svc: TestService;
  let api: WorkerProcess | undefined;
  before(async () => {
    svc = await startService({ worker: false });
  });
  after(async () => {
    if (api) await stopWorkerProcess(api);
    await svc.close();
  });

  test('leaves no visible dataset and, after the upload TTL, no chunks', async () => {
    const port = await freePort();
    api = startServiceProcess('api', svc.config, {
      PORT: String(port),
      DATASET_CHUNK_ROWS: '1024',
      DATASET_UPLOAD_TTL_SECONDS: '10',
      LOG_LEVEL: 'info',
    });
    await api.ready;
    const redis = svc.app.redis;
    const chunkKeys = () => redis.keys(`${svc.config.redisPrefix}:dataset:*:chunk:*`);

    // A chunked upload that is never finished: the header and 5,000 rows, then silence.
    const request = http.request({
      host: '127.0.0.1',
      port,
      method: 'POST',
      path: '/v1/datasets',
      headers: { 'content-type': 'text/csv' },
    });
    request.on('error', () => undefined);
    request.write('a,b,c\n');
    for (let i = 0; i < 5000; i++) request.write(`${i},${i * 0.5},${i % 3 === 0 ? 'x' : 'y'}\n`);
    await until('the API has written chunks', async () => (await chunkKeys()).length >= 3);

    api.child.kill('SIGKILL');
    await api.exited;
    request.destroy();

    const keys = await chunkKeys();
    assert.ok(keys.length >= 3, `chunks written before the kill: ${keys.length}`);
    for (const key of keys) {
      const ttl = await redis.ttl(key);
      assert.ok(ttl > 0 && ttl <= 10, `${key} expires (TTL ${ttl} s)`);
    }
    const listed = await svc.http.get('/v1/datasets');
    assert.equal(listed.status, 200);
    assert.equal(listed.body.total, 0, 'nothing was published');
    const datasetId = keys[0].split(':dataset:')[1].split(':chunk:')[0];
    assert.equal((await svc.http.get(`/v1/datasets/${datasetId}`)).status, 404);

    await until('the unpublished chunks have expired', async () => (await chunkKeys()).length === 0);
  });
});
