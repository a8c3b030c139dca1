import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startService, xorCsv, type TestService } from '../helpers/app';
import { LogCapture } from '../helpers/logs';
import { censorSecrets } from '../../src/observability/logger';

const SECRET = 'sk-live-0123456789abcdef-secret';

/** Structured JSON logs: request ids, job and model ids as fields, secrets never written. */
describe('structured logs', () => {
  let svc: TestService;
  const logs = new LogCapture();
  let datasetId: string;

  before(async () => {
    svc = await startService({ worker: false, env: { LOG_LEVEL: 'info' }, build: { logStream: logs } });
    const upload = await svc.http.post('/v1/datasets').set('content-type', 'text/csv').send(xorCsv(40));
    datasetId = upload.body.id;
  });
  after(async () => {
    await svc.close();
  });

  test('every request line carries the request id, which the client gets back', async () => {
    const traced = await svc.http.get(`/v1/datasets/${datasetId}`).set('x-request-id', 'trace-42.a');
    assert.equal(traced.headers['x-request-id'], 'trace-42.a');
    const lines = logs.lines.filter((l) => l.reqId === 'trace-42.a');
    assert.deepEqual(
      lines.map((l) => l.msg),
      ['incoming request', 'request completed'],
    );
    assert.equal(lines[1].datasetId, datasetId, "the URL's dataset id is a field");

    const generated = await svc.http.get('/healthz').set('x-request-id', 'no spaces or "quotes" allowed');
    assert.match(generated.headers['x-request-id'], /^[0-9a-f-]{36}$/, 'an unsafe id is replaced by a UUID');
  });

  test('a queued job is logged with its job id and the request id', async () => {
    const res = await svc.http
      .post('/v1/training-jobs')
      .set('x-request-id', 'queue-1')
      .send({
        datasetId,
        target: 'label',
        task: 'classification',
        training: { epochs: 1 },
      });
    assert.equal(res.status, 202);
    const line = await logs.waitFor((l) => l.msg === 'training job queued');
    assert.equal(line.jobId, res.body.jobId);
    assert.equal(line.reqId, 'queue-1');
    await svc.http.get(`/v1/training-jobs/${res.body.jobId}`).set('x-request-id', 'poll-1');
    const done = logs.lines.find((l) => l.reqId === 'poll-1' && l.msg === 'request completed');
    assert.equal(done?.jobId, res.body.jobId);
    await svc.app.trainingQueue.remove(res.body.jobId);
  });

  test('secrets are never written: headers, query strings, apiKey-like fields', async () => {
    await svc.http.get(`/v1/models?apiKey=${SECRET}&limit=5`).set('authorization', `Bearer ${SECRET}`);
    await svc.http.get('/v1/models').set('x-api-key', SECRET);
    svc.app.log.info(
      { apiKey: SECRET, config: { apiKeys: [SECRET] }, user: { password: SECRET } },
      'secret-bearing object',
    );
    // Even a line that logs the raw headers object is censored.
    svc.app.log.info({ req: { headers: { authorization: `Bearer ${SECRET}` } } }, 'headers');

    const line = await logs.waitFor((l) => l.msg === 'headers');
    assert.deepEqual(line.req, { headers: { authorization: '[redacted]' } });
    const incoming = logs.lines.find(
      (l) => l.msg === 'incoming request' && (l.req as { url: string }).url.includes('limit=5'),
    );
    assert.equal((incoming?.req as { url: string }).url, '/v1/models?apiKey=[redacted]&limit=5');
    for (const raw of logs.raw) assert.ok(!raw.includes(SECRET), `a log line holds the secret: ${raw}`);
    assert.ok(logs.raw.some((raw) => raw.includes('"apiKey":"[redacted]"')));
  });

  test("a request's ids stay on its own lines: not on the next request's, nor on the app's", async () => {
    await svc.http.get(`/v1/datasets/${datasetId}`).set('x-request-id', 'ids-1');
    await svc.http.get('/healthz').set('x-request-id', 'ids-2');
    svc.app.log.info('after the requests');
    const own = logs.lines.filter((l) => l.reqId === 'ids-1' && l.msg === 'request completed');
    assert.equal(own.length, 1);
    assert.equal(own[0].datasetId, datasetId);
    const next = logs.lines.filter((l) => l.reqId === 'ids-2');
    assert.equal(next.length, 2);
    for (const line of next) assert.equal(line.datasetId, undefined);
    const app = await logs.waitFor((l) => l.msg === 'after the requests');
    assert.equal(app.datasetId, undefined);
  });
});

describe('censorSecrets', () => {
  test('censors secret fields at any of four levels, in arrays and in headers, on a copy', () => {
    const logged = {
      apiKey: 'k',
      nested: { token: 't', list: [{ password: 'p' }, 'plain'] },
      req: { headers: { Authorization: 'Bearer x', 'X-Api-Key': 'y', cookie: 'c', accept: '*/*' } },
      fine: 1,
    };
    const before = JSON.stringify(logged);
    const censored = censorSecrets(logged);
    assert.deepEqual(censored, {
      apiKey: '[redacted]',
      nested: { token: '[redacted]', list: [{ password: '[redacted]' }, 'plain'] },
      req: { headers: { Authorization: '[redacted]', 'X-Api-Key': '[redacted]', cookie: '[redacted]', accept: '*/*' } },
      fine: 1,
    });
    assert.equal(JSON.stringify(logged), before, 'the logged object itself is left as it was');
  });

  test('an object without secrets is returned as it is, uncopied', () => {
    const logged = { req: { method: 'GET', url: '/x' }, res: { statusCode: 200 }, responseTime: 1.5 };
    assert.equal(censorSecrets(logged), logged);
  });
});
