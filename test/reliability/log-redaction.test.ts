import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startService, type TestService } from '../helpers/app';
import { LogCapture } from '../helpers/logs';
import { waitForReady } from '../helpers/ready';

/**
 * Credentials sent as query parameters never reach the API's log: every name the README covers,
 * in any case, percent-encoded names included, on routes that exist and on a 404 alike.
 */
const SECRET_PARAMS = [
  'apiKey',
  'api_key',
  'API-KEY',
  'key',
  'x-api-key',
  'X_Api_Key',
  'token',
  'access_token',
  'id_token',
  'refresh_token',
  'secret',
  'client_secret',
  'password',
  'authorization',
  'Authorization',
  'auth',
  'X-Amz-Signature',
  'api%5Fkey',
  'client%5Fsecret',
];

describe('log redaction of query parameters', () => {
  let svc: TestService;
  const logs = new LogCapture();

  before(async () => {
    svc = await startService({ worker: false, env: { LOG_LEVEL: 'info' }, build: { logStream: logs } });
    await waitForReady(svc.http);
  });
  after(async () => {
    await svc.close();
  });

  test('no credential-named parameter is logged in clear; other parameters are', async () => {
    const secrets: string[] = [];
    for (const [i, name] of SECRET_PARAMS.entries()) {
      const secret = `s3cr3t-${i}-0123456789abcdef`;
      secrets.push(secret);
      const value = name.toLowerCase().startsWith('auth') ? `Bearer%20${secret}` : secret;
      await svc.http.get(`/v1/models?limit=5&${name}=${value}&offset=0`).set('x-request-id', `redact-${i}`);
      await svc.http.get(`/v1/no-such-route?${name}=${value}`);
    }
    await logs.waitFor((l) => l.reqId === `redact-${SECRET_PARAMS.length - 1}` && l.msg === 'request completed');
    for (const raw of logs.raw) {
      for (const secret of secrets) assert.ok(!raw.includes(secret), `a log line holds a secret: ${raw}`);
    }
    const first = logs.lines.find((l) => l.reqId === 'redact-0' && l.msg === 'incoming request');
    assert.equal((first?.req as { url: string }).url, '/v1/models?limit=5&apiKey=[redacted]&offset=0');
  });
});
