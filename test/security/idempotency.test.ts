import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startService, xorCsv, type TestService } from '../helpers/app';

const KEY_A = 'idempotency-key-a-0123456789abcdef';
const KEY_B = 'idempotency-key-b-0123456789abcdef';

/** POST /v1/training-jobs with Idempotency-Key: one job per key and body, even under races. */
describe('Idempotency-Key', () => {
  let svc: TestService;
  let datasetId: string;
  const as = (key: string) => ({ authorization: `Bearer ${key}` });
  const request = () => ({ datasetId, target: 'label', task: 'classification', training: { epochs: 1, seed: 7 } });
  const submit = (idempotencyKey: string | undefined, body: object = request(), apiKey = KEY_A) => {
    const req = svc.http.post('/v1/training-jobs').set(as(apiKey));
    if (idempotencyKey !== undefined) req.set('idempotency-key', idempotencyKey);
    return req.send(body);
  };
  const jobCount = async () => {
    const counts = await svc.app.trainingQueue.getJobCounts(
      'waiting',
      'active',
      'completed',
      'failed',
      'delayed',
      'prioritized',
    );
    return Object.values(counts).reduce((a, b) => a + b, 0);
  };

  before(async () => {
    // No worker: the jobs stay waiting, which is all these tests look at.
    // The race below sends 12 submissions at once: more than the expensive-request pool admits by
    // default (8), which would shed some with 503 on a loaded machine. This file is about keys, not shedding.
    svc = await startService({
      worker: false,
      env: { API_KEYS: `${KEY_A},${KEY_B}`, IDEMPOTENCY_TTL_SECONDS: '600', OVERLOAD_MAX_EXPENSIVE_REQUESTS: '32' },
    });
    const upload = await svc.http.post('/v1/datasets').set(as(KEY_A)).set('content-type', 'text/csv').send(xorCsv(30));
    assert.equal(upload.status, 201);
    datasetId = upload.body.id;
  });
  after(async () => {
    await svc.close();
  });

  test('the same key and body return the same job; without a key every request is a new job', async () => {
    const before = await jobCount();
    const first = await submit('order-1');
    assert.equal(first.status, 202, JSON.stringify(first.body));
    assert.equal(first.headers['idempotent-replayed'], undefined);
    const again = await submit('order-1');
    assert.equal(again.status, 202);
    assert.deepEqual(again.body, first.body);
    assert.equal(again.headers['idempotent-replayed'], 'true');
    // The same request with its fields in another order, or spelled with its defaults, is the same request.
    const { training, ...rest } = request();
    const reordered = await submit('order-1', { training, ...rest, model: { hidden: [{ units: 64 }] } });
    assert.equal(reordered.status, 202);
    assert.equal(reordered.body.jobId, first.body.jobId);
    assert.equal(await jobCount(), before + 1);

    const a = await submit(undefined);
    const b = await submit(undefined);
    assert.notEqual(a.body.jobId, b.body.jobId);
    assert.equal(await jobCount(), before + 3);
  });

  test('a key reused with a different body is a 422 that says so', async () => {
    const first = await submit('order-2');
    assert.equal(first.status, 202);
    const other = await submit('order-2', { ...request(), training: { epochs: 2, seed: 7 } });
    assert.equal(other.status, 422);
    assert.equal(other.body.error.code, 'IDEMPOTENCY_KEY_REUSED');
    assert.match(other.body.error.message, /Idempotency-Key "order-2" was already used with a different request body/);
  });

  test('concurrent requests with one key create one job', async () => {
    const before = await jobCount();
    const answers = await Promise.all(Array.from({ length: 12 }, () => submit('order-race')));
    for (const res of answers) assert.equal(res.status, 202, JSON.stringify(res.body));
    const ids = new Set(answers.map((res) => res.body.jobId));
    assert.equal(ids.size, 1, `job ids: ${[...ids].join(', ')}`);
    assert.equal(await jobCount(), before + 1);
    const job = await svc.app.trainingQueue.getJob([...ids][0]);
    assert.ok(job, 'the job exists');
  });

  test('keys are per API key: another client with the same idempotency key gets its own job', async () => {
    const a = await submit('shared-name', request(), KEY_A);
    const b = await submit('shared-name', request(), KEY_B);
    assert.equal(a.status, 202);
    assert.equal(b.status, 202);
    assert.notEqual(a.body.jobId, b.body.jobId);
  });

  test('a request that fails its checks leaves the key free for a corrected retry', async () => {
    const bad = await submit('order-3', { ...request(), datasetId: 'ds_missing' });
    assert.equal(bad.status, 404);
    const invalid = await submit('order-3', { ...request(), target: 'nope' });
    assert.equal(invalid.status, 400);
    const good = await submit('order-3');
    assert.equal(good.status, 202, JSON.stringify(good.body));
  });

  test('stored under the app prefix, hashed, with the configured TTL', async () => {
    await submit('order-ttl');
    const redis = svc.app.redis;
    const keys = await redis.keys(`${svc.config.redisPrefix}:idempotency:*`);
    assert.ok(keys.length >= 1);
    assert.ok(
      keys.every((key) => !key.includes('order-ttl')),
      'the client key is stored hashed',
    );
    for (const key of keys) {
      const ttl = await redis.ttl(key);
      assert.ok(ttl > 590 && ttl <= 600, `${key}: TTL ${ttl}`);
    }
  });

  test('a malformed Idempotency-Key is a 400', async () => {
    for (const key of ['', 'x'.repeat(256)]) {
      const res = await submit(key);
      assert.equal(res.status, 400, `${JSON.stringify(key)} → ${res.status}`);
      assert.match(res.body.error.message, /idempotency-key/i);
    }
  });
});
