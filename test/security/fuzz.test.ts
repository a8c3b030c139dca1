import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import net from 'node:net';
import type { InjectOptions } from 'fastify';
import { startService, xorCsv, type TestService } from '../helpers/app';

/**
 * Thousands of generated malformed requests against every endpoint of the real app (through
 * `inject`, so only the local app is ever reached): bad content types, broken and hostile JSON,
 * deep nesting, huge and non-finite numbers, unicode junk, prototype keys, broken CSV, bad ids
 * and query strings, wrong methods, bad keys. None may be answered with a 5xx, every answer must
 * be JSON, and the process must be alive afterwards. Seeded: FUZZ_SEED=<n> replays a run.
 */
const SEED = Number(process.env.FUZZ_SEED ?? 20_261_126);
const REQUESTS = Number(process.env.FUZZ_REQUESTS ?? 10_000);
const KEY = 'fuzz-test-key-0123456789abcdef0123';

/** mulberry32: small, fast, and the same sequence for the same seed on every machine. */
function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)];
  const chance = (p: number) => next() < p;
  return { next, int, pick, chance };
}
type Rng = ReturnType<typeof rng>;

const WEIRD_NUMBERS = [
  0,
  -0,
  1,
  -1,
  0.5,
  1e308,
  -1e308,
  5e-324,
  2 ** 53 + 1,
  -(2 ** 31),
  4096,
  4097,
  1e21,
  123456789012,
];
/** Number spellings that are not JSON numbers, or are only in text. */
const WEIRD_NUMBER_TEXT = [
  'NaN',
  'Infinity',
  '-Infinity',
  '1e999',
  '-1e999',
  '0x1F',
  '1_000',
  '01',
  '.5',
  '+1',
  '1e',
  '--1',
  '١٢٣',
];
const WEIRD_STRINGS = [
  '',
  ' ',
  'a',
  'NaN',
  'null',
  'undefined',
  'true',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  '\u0000',
  '\ud800',
  '\udfff\ud800',
  '💥🔥',
  '\u202eevil',
  'é'.normalize('NFD'),
  '𝕏'.repeat(50),
  'x'.repeat(5_000),
  '<script>alert(1)</script>',
  "'; DROP TABLE x; --",
  '${jndi:ldap://x}',
  '../../etc/passwd',
  '%00',
  '\r\n\r\nHTTP/1.1 200 OK',
  'batch',
  'layer',
  'relu',
  'classification',
  'regression',
  'adam',
];
const PROTO_KEYS = ['__proto__', 'constructor', 'prototype', '__defineGetter__', 'hasOwnProperty', 'valueOf'];

/** Own property even for "__proto__", so JSON.stringify sends the key instead of a prototype change. */
function setOwn(target: object, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

function junkValue(r: Rng, depth = 0): unknown {
  const kind = r.int(depth > 4 ? 4 : 8);
  switch (kind) {
    case 0:
      return r.pick(WEIRD_NUMBERS);
    case 1:
      return r.pick(WEIRD_STRINGS);
    case 2:
      return r.pick([null, true, false]);
    case 3:
      return r.next() * 10 ** r.int(12) * (r.chance(0.3) ? -1 : 1);
    case 4:
    case 5:
      return Array.from({ length: r.int(5) }, () => junkValue(r, depth + 1));
    default: {
      const object: Record<string, unknown> = {};
      for (let i = r.int(5); i > 0; i--) {
        setOwn(
          object,
          r.chance(0.2) ? r.pick(PROTO_KEYS) : r.pick(WEIRD_STRINGS).slice(0, 20),
          junkValue(r, depth + 1),
        );
      }
      return object;
    }
  }
}

/** Serializes, sometimes smuggling in prototype keys or non-JSON numbers as raw text. */
function toText(r: Rng, value: unknown): string {
  let text = JSON.stringify(value) ?? 'null';
  if (r.chance(0.15) && text.startsWith('{') && text.length > 2) {
    const key = r.pick(['__proto__', 'constructor', '\\u005f\\u005fproto\\u005f\\u005f']);
    const inner = r.chance(0.5) ? '{"prototype":{"polluted":true}}' : '{"polluted":true}';
    text = `{"${key}":${inner},${text.slice(1)}`;
  }
  if (r.chance(0.1)) text = text.replace(/-?\d+(\.\d+)?/, r.pick(WEIRD_NUMBER_TEXT));
  return text;
}

function deepNesting(r: Rng): string {
  const depth = r.pick([100, 1_000, 20_000]);
  const [open, close] = r.chance(0.5) ? ['[', ']'] : ['{"a":', '}'];
  const inner = open.repeat(depth) + '1' + close.repeat(depth);
  return r.pick([inner, `{"rows":${inner}}`, `{"inputs":[${inner}]}`, `{"model":{"hidden":${inner}}}`]);
}

function brokenJson(r: Rng, valid: string): string {
  switch (r.int(8)) {
    case 0:
      return valid.slice(0, r.int(valid.length));
    case 1:
      return valid + r.pick([',', '}', ']', 'x', '\u0000']);
    case 2:
      return valid.replace(/"/g, "'");
    case 3:
      return valid.replace(/:/, '::');
    case 4:
      return `${valid},`;
    case 5:
      return '\ufeff' + valid;
    case 6:
      return valid.replace(/\d/, r.pick(WEIRD_NUMBER_TEXT));
    default:
      return r.pick(['', ' ', 'null', 'true', '0', '"x"', '[]', '{}', '{"rows":[]}', '{"inputs":[[]]}']);
  }
}

function randomCsv(r: Rng): string {
  const columns = r.pick([0, 1, 2, 3, 8, 200]);
  const names = Array.from({ length: columns }, (_, i) =>
    r.chance(0.1) ? r.pick(['', '__proto__', 'constructor', 'a', '"q"', 'x'.repeat(300), '\ud800']) : `c${i}`,
  );
  const lines = [names.join(',')];
  for (let row = r.pick([0, 1, 2, 5, 40]); row > 0; row--) {
    const width = r.chance(0.2) ? r.int(columns + 3) : columns;
    lines.push(
      Array.from({ length: width }, () =>
        r.pick([
          '1',
          '-2.5',
          'NaN',
          'Infinity',
          '1e999',
          '',
          'red',
          '"quoted, comma"',
          '"unterminated',
          '\u0000',
          '💥',
          String(r.next()),
        ]),
      ).join(r.chance(0.05) ? ';' : ','),
    );
  }
  return lines.join(r.pick(['\n', '\r\n', '\r'])) + (r.chance(0.5) ? '\n' : '');
}

const CONTENT_TYPES = [
  'application/json',
  'application/json; charset=utf-8',
  'application/json; charset=utf-16',
  'APPLICATION/JSON',
  'text/csv',
  'text/plain',
  'application/csv',
  'application/xml',
  'multipart/form-data; boundary=x',
  'application/x-www-form-urlencoded',
  'application/octet-stream',
  '',
  'application/json;;;',
  'text/csv; charset=latin1',
  'application/vnd.api+json',
  'x'.repeat(300),
];

/** A valid training request to mutate: most fields set, so a mutation lands somewhere deep. */
function trainingRequest(datasetId: string) {
  return {
    datasetId,
    target: 'label',
    task: 'classification',
    model: { hidden: [{ units: 4, activation: 'relu', normalization: 'batch', dropout: 0.1 }] },
    regularization: { l1: 0, l2: 0.001 },
    training: { epochs: 1, batchSize: 8, optimizer: 'adam', learningRate: 0.01, validationSplit: 0.2, seed: 1 },
  };
}

/** Replaces, deletes or adds one field somewhere inside `value`. */
function mutate(r: Rng, value: unknown): unknown {
  if (value === null || typeof value !== 'object') return junkValue(r);
  const copy: Record<string, unknown> | unknown[] = Array.isArray(value) ? [...value] : { ...value };
  const keys = Object.keys(copy);
  const action = r.int(4);
  if (action === 0 || keys.length === 0) {
    setOwn(copy, r.chance(0.3) ? r.pick(PROTO_KEYS) : r.pick(WEIRD_STRINGS).slice(0, 12), junkValue(r));
  } else {
    const key = r.pick(keys);
    const target = copy as Record<string, unknown>;
    // eslint-disable-next-line @typescript-eslint/no-dynamic-delete -- the fuzzer drops a random field
    if (action === 1) delete target[key];
    else if (action === 2) setOwn(target, key, junkValue(r));
    else setOwn(target, key, mutate(r, target[key]));
  }
  return copy;
}

function junkId(r: Rng): string {
  const raw = r.pick([
    ...WEIRD_STRINGS.filter((s) => s.length > 0 && s.length < 90),
    'ds_x',
    'mdl_x',
    '1',
    '-1',
    '%',
    '..',
    'a/b',
  ]);
  try {
    return encodeURIComponent(raw);
  } catch {
    return '%ED%A0%80'; // a lone surrogate has no UTF-8: send the bytes a careless client would
  }
}

function junkQuery(r: Rng): string {
  const values = [
    '-1',
    '0',
    '1',
    '1000',
    '1001',
    '1e999',
    'NaN',
    'abc',
    '',
    '[]',
    '%00',
    '1.5',
    '99999999999999999999',
  ];
  const parts = Array.from(
    { length: r.int(4) },
    () => `${r.pick(['offset', 'limit', 'x', '__proto__', 'constructor'])}=${encodeURIComponent(r.pick(values))}`,
  );
  return parts.length ? `?${parts.join('&')}` : '';
}

function generate(r: Rng, ids: { datasetId: string; modelId: string; jobId: string }): InjectOptions {
  const auth = r.chance(0.93)
    ? { authorization: `Bearer ${KEY}` }
    : {
        authorization: r.pick([
          '',
          'Bearer',
          `Bearer ${KEY}x`,
          `Basic ${Buffer.from(`u:${KEY}`).toString('base64')}`,
          'Bearer \u00ff',
          `bearer  ${KEY}`,
        ]),
      };
  const valid = trainingRequest(ids.datasetId);
  const bodies = (route: 'datasets' | 'training' | 'predict'): { contentType: string; payload: string } => {
    const contentType = r.chance(0.8)
      ? route === 'datasets' && r.chance(0.4)
        ? 'text/csv'
        : 'application/json'
      : r.pick(CONTENT_TYPES);
    if (contentType.startsWith('text/csv') && r.chance(0.9)) return { contentType, payload: randomCsv(r) };
    const base =
      route === 'datasets'
        ? {
            rows: Array.from({ length: r.int(6) }, () =>
              r.chance(0.8) ? { a: r.pick(WEIRD_NUMBERS), b: r.pick(WEIRD_STRINGS) } : junkValue(r),
            ),
          }
        : route === 'training'
          ? valid
          : r.chance(0.5)
            ? { rows: [{ a: 0.1, b: 0.2, color: 'red' }] }
            : { inputs: [[0.1, 0.2, 'red']] };
    const shape = r.int(10);
    let payload: string;
    if (shape < 5) payload = toText(r, mutate(r, mutate(r, base)));
    else if (shape < 7) payload = brokenJson(r, JSON.stringify(base));
    else if (shape < 8) payload = deepNesting(r);
    else if (shape < 9) payload = toText(r, junkValue(r));
    else payload = toText(r, base); // sometimes valid: the fuzz also walks the success paths
    if (r.chance(0.01)) payload = `{"rows":${JSON.stringify(Array(600_000).fill(1))}}`; // over BODY_LIMIT
    return { contentType, payload };
  };

  const choice = r.int(12);
  const withBody = (
    method: 'POST' | 'PUT' | 'PATCH',
    url: string,
    route: 'datasets' | 'training' | 'predict',
  ): InjectOptions => {
    const { contentType, payload } = bodies(route);
    const headers: Record<string, string> = { ...auth };
    if (contentType) headers['content-type'] = contentType;
    if (route === 'training' && r.chance(0.2))
      headers['idempotency-key'] = r.pick(['k1', 'k2', '', 'x'.repeat(300), '\u00e9', `k${r.int(5)}`]);
    return { method, url, headers, payload };
  };
  switch (choice) {
    case 0:
    case 1:
      return withBody('POST', '/v1/datasets', 'datasets');
    case 2:
    case 3:
      return withBody('POST', '/v1/training-jobs', 'training');
    case 4:
    case 5:
      return withBody('POST', `/v1/models/${r.chance(0.8) ? ids.modelId : junkId(r)}/predict`, 'predict');
    case 6:
      return {
        method: 'GET',
        url: `/v1/datasets/${r.chance(0.3) ? ids.datasetId : junkId(r)}${junkQuery(r)}`,
        headers: auth,
      };
    case 7:
      return {
        method: r.pick(['GET', 'DELETE'] as const),
        url: `/v1/training-jobs/${r.chance(0.2) ? ids.jobId : junkId(r)}`,
        headers: auth,
      };
    case 8:
      return { method: 'GET', url: `/v1/models${junkQuery(r)}`, headers: auth };
    case 9:
      return { method: 'GET', url: `/v1/models/${r.chance(0.3) ? ids.modelId : junkId(r)}`, headers: auth };
    case 10:
      return withBody(
        r.pick(['PUT', 'PATCH'] as const),
        r.pick(['/v1/datasets', '/v1/models', `/v1/models/${ids.modelId}`, '/v1/training-jobs', '/healthz']),
        'training',
      );
    default:
      return {
        method: r.pick(['GET', 'POST', 'HEAD', 'OPTIONS', 'DELETE'] as const),
        url: r.pick([
          '/',
          '/v1',
          '/v1/',
          '//v1/models',
          '/v1/models/',
          '/v2/models',
          `/v1/${junkId(r)}`,
          '/%E0%A4%A',
          `/v1/datasets/${'d'.repeat(150)}`,
          '/readyz',
          '/healthz?x=1',
        ]),
        headers: auth,
      };
  }
}

describe('fuzz: malformed requests', () => {
  let svc: TestService;
  const ids = { datasetId: '', modelId: '', jobId: '' };

  before(async () => {
    svc = await startService({
      env: {
        API_KEYS: KEY,
        // The fuzz is about input handling: no rate limit or overload refusal in the way.
        RATE_LIMIT_MAX: '0',
        OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: '0',
        MAX_DATASET_ROWS: '1000',
      },
    });
    const auth = { authorization: `Bearer ${KEY}` };
    const upload = await svc.http.post('/v1/datasets').set(auth).set('content-type', 'text/csv').send(xorCsv(40));
    ids.datasetId = upload.body.id;
    const queued = await svc.http
      .post('/v1/training-jobs')
      .set(auth)
      .send({ datasetId: ids.datasetId, target: 'label', task: 'classification', training: { epochs: 1, seed: 1 } });
    ids.jobId = queued.body.jobId;
    await svc.waitForJob(ids.jobId, 60_000);
    ids.modelId = (await svc.http.get(`/v1/training-jobs/${ids.jobId}`).set(auth)).body.modelId;
    assert.ok(ids.modelId, 'a model to predict with');
    // Valid training requests the fuzz generates stay queued: no worker trains them.
    await svc.worker?.close();
  });
  after(async () => {
    await svc.close();
  });

  test(`${REQUESTS} generated requests (seed ${SEED}): no 5xx, always a JSON error body`, async () => {
    const r = rng(SEED);
    const started = Date.now();
    const byStatus = new Map<number, number>();
    let sent = 0;
    for (; sent < REQUESTS; sent++) {
      const request = generate(r, ids);
      const res = await svc.app.inject(request);
      byStatus.set(res.statusCode, (byStatus.get(res.statusCode) ?? 0) + 1);
      // generate() builds string urls and payloads (InjectOptions allows objects too).
      const where =
        `request ${sent} (seed ${SEED}): ${request.method} ${request.url as string} ` +
        `${JSON.stringify((request.headers as Record<string, string>)['content-type'] ?? '')} ` +
        `${((request.payload ?? '') as string).slice(0, 200)} → ${res.statusCode} ${res.body.slice(0, 300)}`;
      assert.ok(res.statusCode < 500, where);
      if (res.statusCode >= 400 && request.method !== 'HEAD') {
        const body = JSON.parse(res.body) as { error?: { code?: unknown; message?: unknown } };
        if (/^\/v2(?:[/?]|$)/.test(request.url as string)) {
          // The Open Inference Protocol's error body: {"error": "<message>"}.
          assert.equal(typeof body.error, 'string', where);
        } else {
          assert.equal(typeof body.error?.code, 'string', where);
          assert.equal(typeof body.error?.message, 'string', where);
        }
      }
    }
    const summary = [...byStatus.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([s, n]) => `${s}×${n}`)
      .join(' ');
    console.log(`fuzz: ${sent} requests in ${Date.now() - started} ms: ${summary}`);
    assert.ok(sent >= 5_000);
    assert.ok(
      [...byStatus.keys()].some((s) => s >= 200 && s < 300),
      'some requests were valid and succeeded',
    );
  });

  test('malformed HTTP on a real socket: a 4xx or a closed connection, never a 5xx', async () => {
    await svc.app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = svc.app.server.address() as net.AddressInfo;
    const r = rng(SEED + 1);
    const raw = [
      'GARBAGE\r\n\r\n',
      'GET / HTTP/9.9\r\n\r\n',
      'GET /v1/models HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\n12345',
      'POST /v1/datasets HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
      'POST /v1/datasets HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\nzz\r\n{}\r\n0\r\n\r\n',
      `GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
      'GET /v1/models HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n',
      'GET /v1/models\u0000 HTTP/1.1\r\nHost: x\r\n\r\n',
      `GET /${'%'.repeat(5_000)} HTTP/1.1\r\nHost: x\r\n\r\n`,
      'POST /v1/training-jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: -1\r\n\r\n',
    ];
    for (let i = 0; i < 300; i++) {
      const request =
        i < raw.length
          ? raw[i]
          : Buffer.from(Array.from({ length: 1 + r.int(300) }, () => r.int(256))).toString('latin1');
      const answer = await new Promise<string>((resolve) => {
        const socket = net.connect({ port, host: '127.0.0.1' }, () => socket.end(request, 'latin1'));
        let received = '';
        socket.setTimeout(2_000, () => socket.destroy());
        socket.on('data', (chunk) => (received += chunk.toString('latin1')));
        socket.on('close', () => resolve(received));
        socket.on('error', () => undefined);
      });
      const status = /^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1];
      assert.ok(
        status === undefined || Number(status) < 500,
        `raw request ${i} ${JSON.stringify(request.slice(0, 80))} → ${answer.slice(0, 200)}`,
      );
    }
  });

  test('the process is alive and unpolluted afterwards', async () => {
    assert.equal((await svc.http.get('/healthz')).status, 200);
    assert.equal((await svc.http.get('/readyz')).status, 200);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });
});
