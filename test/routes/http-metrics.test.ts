import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/app';
import { deletePrefix, testConfig } from '../helpers/config';

const KEY = 'k-http-metrics-0123456789abcdef01234567';
const STREAM_MS = 60;

/** `<name>{labels} value` lines of the Prometheus text, as { labels → value } for one name. */
function samples(text: string, name: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const match = new RegExp(`^${name}\\{(.*)\\} (\\S+)$`).exec(line);
    if (match) out.set(match[1], Number(match[2]));
  }
  return out;
}

/**
 * The HTTP latency histogram counts every answered request, also those refused by the first
 * hooks (no API key) and those nothing matched, and a streamed body's latency runs until it has
 * been sent. Run without a logger (LOG_LEVEL=silent), the configuration where the metrics do
 * not lean on fastify's own response timing.
 */
describe('HTTP latency metrics', () => {
  let app: FastifyInstance;
  let base: string;
  const config = testConfig({ API_KEYS: KEY, RATE_LIMIT_MAX: '0' });

  before(async () => {
    app = await buildApp(config);
    app.get('/test-text', async () => 'text');
    app.get('/test-stream', (_request, reply) => {
      const body = new Readable({ read() {} });
      body.push('first part, ');
      setTimeout(() => {
        body.push('last part');
        body.push(null);
      }, STREAM_MS);
      return reply.type('text/plain').send(body);
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const address = app.server.address();
    assert.ok(address && typeof address === 'object');
    base = `http://127.0.0.1:${address.port}`;
  });
  after(async () => {
    await app.close();
    await deletePrefix(config);
  });

  test('refused, unmatched, text and streamed responses are all counted, streams until sent', async () => {
    const headers = { authorization: `Bearer ${KEY}` };
    assert.equal((await fetch(`${base}/v1/models`)).status, 401);
    assert.equal((await fetch(`${base}/v1/models`, { headers })).status, 200);
    assert.equal((await fetch(`${base}/no-such-path`)).status, 404);
    assert.equal(await (await fetch(`${base}/test-text`, { headers })).text(), 'text');
    assert.equal(await (await fetch(`${base}/test-stream`, { headers })).text(), 'first part, last part');

    const text = await (await fetch(`${base}/metrics`)).text();
    const counts = samples(text, 'fitwell_http_request_duration_seconds_count');
    const sums = samples(text, 'fitwell_http_request_duration_seconds_sum');
    const series = (method: string, route: string, status: number) =>
      `method="${method}",route="${route}",status_code="${status}"`;
    assert.equal(counts.get(series('GET', '/v1/models', 401)), 1, text);
    assert.equal(counts.get(series('GET', '/v1/models', 200)), 1);
    assert.equal(counts.get(series('GET', '(unmatched)', 404)), 1);
    assert.equal(counts.get(series('GET', '/test-text', 200)), 1);
    assert.equal(counts.get(series('GET', '/test-stream', 200)), 1);
    for (const [labels, sum] of sums) assert.ok(sum > 0 && sum < 5, `${labels}: ${sum}`);
    assert.ok(
      sums.get(series('GET', '/test-stream', 200))! >= (STREAM_MS - 5) / 1000,
      'the stream counts until it is sent',
    );
    assert.ok(sums.get(series('GET', '/test-text', 200))! < STREAM_MS / 1000);
  });
});
