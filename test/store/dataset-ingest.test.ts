import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import type { Redis } from 'ioredis';
import { profileColumn } from '../../src/data/column-profile';
import { detectDelimiter, ingestUpload, type UploadOptions } from '../../src/data/dataset-stream';
import { parseCsv } from '../../src/data/parse-dataset';
import { AppError } from '../../src/errors';
import { DatasetStore, type DatasetMeta, type DatasetStoreOptions } from '../../src/store/dataset-store';
import { RedisDatasetBackend } from '../../src/store/redis-dataset-backend';
import { S3DatasetBackend } from '../../src/store/s3-dataset-backend';
import { CreateBucketCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
// s3rver ships no types.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const S3rver = require('s3rver') as new (options: object) => { run(): Promise<unknown>; close(): Promise<void> };
import { createRedis, waitForRedis } from '../../src/store/redis';
import type { CellValue, Table } from '../../src/data/table';
import { deletePrefix, testConfig } from '../helpers/config';

/**
 * Streamed ingestion into chunks on a real Redis: what is read back equals what the in-memory
 * parser (parseCsv, the reference) makes of the same text, with numbers rounded to float32 as
 * stored; types change on a second pass; chunks are checksummed; older JSON datasets still load.
 */
const limits = { maxRows: 1_000_000, maxColumns: 100 };
const config = testConfig();
let redis: Redis;

/** The body as a stream of small pieces, so records and lines straddle chunk boundaries. */
function pieces(body: Buffer | string, size = 7): Readable {
  const bytes = Buffer.isBuffer(body) ? body : Buffer.from(body);
  const parts: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) parts.push(bytes.subarray(i, i + size));
  return Readable.from(parts);
}

async function ingest(
  store: DatasetStore,
  body: Buffer | string,
  options: Partial<UploadOptions> = {},
  rowLimits = limits,
  pieceSize = 7,
): Promise<DatasetMeta & { passes: number }> {
  const upload = store.beginUpload();
  try {
    const result = await ingestUpload(
      pieces(body, pieceSize),
      { format: 'csv', gzip: false, maxBytes: 1 << 30, ...options },
      { limits: rowLimits, chunkRows: store.options.chunkRows, onChunk: (i, bytes) => upload.writeChunk(i, bytes) },
      async (pass) => {
        if (pass === 2) upload.restart();
      },
    );
    const meta = await upload.publish(result, { format: options.format ?? 'csv', bytes: result.bytes });
    return { ...meta, passes: result.passes };
  } catch (error) {
    await upload.abort();
    throw error;
  }
}

/** parseCsv's table with every number as float32 holds it. */
function asFloat32(table: Table): Record<string, CellValue[]> {
  const out: Record<string, CellValue[]> = {};
  for (const { name } of table.columns) {
    out[name] = table.data[name].map((value) => (typeof value === 'number' ? Math.fround(value) : value));
  }
  return out;
}

/**
 * The stores under test: the same suite runs on Redis and on a real S3-protocol server (s3rver,
 * from npm, started here on a free port with a temporary directory).
 */
interface StoreUnderTest {
  make(options?: Partial<DatasetStoreOptions>): DatasetStore;
  /** Chunks (by key) whose dataset was never published. */
  orphanChunks(): Promise<string[]>;
}

let s3server: { close(): Promise<void> } | undefined;
let s3client: S3Client | undefined;
let s3dir = '';
const BUCKET = 'fitwell-test';

async function startS3(): Promise<S3Client> {
  s3dir = await mkdtemp(join(tmpdir(), 's3rver-'));
  const server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: s3dir });
  const { port } = (await server.run()) as { port: number };
  s3server = server;
  const client = new S3Client({
    endpoint: `http://127.0.0.1:${port}`,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  });
  await client.send(new CreateBucketCommand({ Bucket: BUCKET }));
  return client;
}

const STORES: Record<'redis' | 's3', () => StoreUnderTest> = {
  redis: () => ({
    make: (options = {}) => new DatasetStore(redis, config.redisPrefix, options),
    async orphanChunks() {
      const orphans: string[] = [];
      for (const key of await redis.keys(`${config.redisPrefix}:dataset:*:chunk:*`)) {
        if ((await redis.hexists(key.replace(/:chunk:\d+$/, ''), 'meta')) === 0) orphans.push(key);
      }
      return orphans;
    },
  }),
  s3: () => {
    const backend = (options: Partial<DatasetStoreOptions>) =>
      new S3DatasetBackend({
        client: s3client!,
        bucket: BUCKET,
        prefix: config.redisPrefix,
        uploadTtlSeconds: options.uploadTtlSeconds ?? 3600,
      });
    return {
      make: (options = {}) => new DatasetStore(backend(options), undefined, options),
      async orphanChunks() {
        const listed = await s3client!.send(
          new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `${config.redisPrefix}/datasets/` }),
        );
        const keys = (listed.Contents ?? []).map((o) => o.Key!);
        return keys.filter(
          (key) => key.includes('/chunk-') && !keys.includes(key.replace(/chunk-\d+$/, 'dataset.json')),
        );
      },
    };
  },
};

before(async () => {
  redis = createRedis(config.redisUrl);
  await waitForRedis(redis);
  s3client = await startS3();
});
after(async () => {
  redis.disconnect();
  await deletePrefix(config);
  s3client?.destroy();
  await s3server?.close();
  await rm(s3dir, { recursive: true, force: true });
});

for (const kind of ['redis', 's3'] as const)
  describe(`streamed dataset ingestion into chunks (${kind} store)`, () => {
    let under: StoreUnderTest;
    before(() => {
      under = STORES[kind]();
    });

    test('reads back what parseCsv makes of the same CSV, across chunk boundaries', async () => {
      const store = under.make({ chunkRows: 1024 });
      const lines = ['id,x,color,maybe,"quoted, name"'];
      for (let i = 0; i < 3000; i++) {
        lines.push(
          `${i},${(i * 0.37 - 500).toFixed(3)},${['red', 'blue', 'green'][i % 3]},${i % 7 === 0 ? 'NA' : i % 5},"v ${i % 11}, x"`,
        );
      }
      const text = lines.join('\r\n') + '\r\n';
      const meta = await ingest(store, text);
      const reference = parseCsv(text, limits);
      assert.equal(meta.passes, 1);
      assert.equal(meta.rows, 3000);
      assert.deepEqual(meta.columns, reference.columns);
      assert.equal(meta.storage?.checksums.length, 3, '3000 rows in chunks of 1024');
      const table = await store.table(meta.id);
      assert.deepEqual({ ...table.data }, asFloat32(reference));
      // The profiles the submission checks read are those of the stored values.
      for (const { name, type } of reference.columns) {
        assert.deepEqual(await store.columnProfile(meta.id, name), profileColumn(type, table.data[name]), name);
      }
      const schema = await store.schema(meta.id);
      assert.deepEqual(schema.columns.find((c) => c.name === 'color')?.categories, ['red', 'blue', 'green']);
      assert.equal(schema.columns.find((c) => c.name === 'maybe')?.missing, Math.ceil(3000 / 7));
    });

    test('a column that turns out categorical after numbers is read again, keeping "007" exact', async () => {
      const store = under.make({ chunkRows: 1024 });
      const lines = ['code,y'];
      for (let i = 0; i < 2500; i++) lines.push(`${i === 0 ? '007' : i === 2400 ? 'abc' : String(i)},${i}`);
      const text = lines.join('\n');
      const meta = await ingest(store, text);
      assert.equal(meta.passes, 2);
      assert.deepEqual(meta.columns, [
        { name: 'code', type: 'categorical' },
        { name: 'y', type: 'numeric' },
      ]);
      const table = await store.table(meta.id);
      assert.deepEqual(table.data.code, parseCsv(text, limits).data.code);
      assert.equal(table.data.code[0], '007');
      assert.equal(table.data.code[2400], 'abc');
    });

    test('the same data twice has the same content hash, whether gzip-compressed or not; other data another', async () => {
      const store = under.make({ chunkRows: 1024 });
      const text = 'a;b;label\n1;2;x\n3;4;y\n5;6;x\n';
      const plain = await ingest(store, text);
      const zipped = await ingest(store, gzipSync(text), { gzip: true });
      const other = await ingest(store, text.replace('5;6', '5;7'));
      assert.deepEqual(
        plain.columns.map((c) => c.name),
        ['a', 'b', 'label'],
        'semicolons detected',
      );
      assert.match(plain.contentHash!, /^sha256:[0-9a-f]{64}$/);
      assert.equal(zipped.contentHash, plain.contentHash);
      assert.notEqual(other.contentHash, plain.contentHash);
    });

    test('delimiters: detected from the header line (outside quotes), or as given', async () => {
      assert.equal(detectDelimiter(Buffer.from('a,b,c\n1;2;3')), ',');
      assert.equal(detectDelimiter(Buffer.from('a;b;c\n')), ';');
      assert.equal(detectDelimiter(Buffer.from('a\tb\tc')), '\t');
      assert.equal(detectDelimiter(Buffer.from('a|b|c\r\n')), '|');
      assert.equal(detectDelimiter(Buffer.from('"x;y;z",b\n')), ',', 'semicolons inside quotes do not count');
      assert.equal(detectDelimiter(Buffer.from('single\n')), ',');
      const store = under.make();
      const given = await ingest(store, 'a,b|c\n1,2|3\n4,5|6\n', { delimiter: 'pipe' });
      assert.deepEqual(
        given.columns.map((c) => c.name),
        ['a,b', 'c'],
      );
    });

    test('NDJSON: keys in first-seen order, a key seen later is missing before, JSON rules for values', async () => {
      const store = under.make({ chunkRows: 1024 });
      const lines = [];
      for (let i = 0; i < 2000; i++)
        lines.push(JSON.stringify(i < 1500 ? { a: i / 4, b: i % 2 === 0 } : { a: null, b: true, late: `k${i % 3}` }));
      const meta = await ingest(store, '\uFEFF' + lines.join('\n') + '\n\n', { format: 'ndjson' });
      assert.deepEqual(meta.columns, [
        { name: 'a', type: 'numeric' },
        { name: 'b', type: 'categorical' },
        { name: 'late', type: 'categorical' },
      ]);
      const table = await store.table(meta.id);
      assert.equal(table.data.a[3], 0.75);
      assert.equal(table.data.a[1600], null);
      assert.equal(table.data.b[0], 'true');
      assert.equal(table.data.b[1], 'false');
      assert.equal(table.data.late[0], null);
      assert.equal(table.data.late[1500], 'k0');
    });

    test('errors: the same messages as parseCsv, line numbers for NDJSON, bad gzip, the byte limit', async () => {
      const store = under.make({ chunkRows: 1024 });
      const rejects = async (promise: Promise<unknown>, pattern: RegExp, status = 400) => {
        await assert.rejects(promise, (error: unknown) => {
          assert.equal(
            (error as { statusCode?: number; status?: number }).statusCode ?? (error as AppError).status,
            status,
          );
          assert.match((error as Error).message, pattern);
          return true;
        });
      };
      await rejects(ingest(store, 'a,b\n1,2\n3\n'), /^line 3 has 1 fields but the header has 2$/);
      await rejects(
        ingest(store, 'a\n' + '1\n'.repeat(51), {}, { maxRows: 50, maxColumns: 5 }),
        /51 rows; the limit is 50/,
      );
      await rejects(ingest(store, 'a,b\n1,Infinity\n2,3\n'), /column "b" line 2: "Infinity" is not a finite number/);
      await rejects(ingest(store, 'a\n1\n1e39\n'), /column "a" line 3: 1e39 is outside the range/);
      await rejects(ingest(store, ''), /the CSV is empty/);
      await rejects(ingest(store, 'a,b\n'), /0 data rows; at least 2/);
      await rejects(ingest(store, 'a,b\n,\nNA,2\n'), /column "a" has no values/);
      await rejects(ingest(store, '{"a":1}\n{"a":\n', { format: 'ndjson' }), /^line 2 is not valid JSON/);
      await rejects(
        ingest(store, '{"a":1}\n[1]\n', { format: 'ndjson' }),
        /^line 2 must be an object of column values, got an array/,
      );
      await rejects(
        ingest(store, '{"a":1}\n{"a":{"b":1}}\n', { format: 'ndjson' }),
        /line 2 column "a": an object is not allowed/,
      );
      await rejects(ingest(store, 'not gzip at all', { gzip: true }), /not valid gzip/);
      await rejects(ingest(store, 'a\n' + '1\n'.repeat(100), { maxBytes: 100 }), /larger than 100 bytes/, 413);
      // A gzip bomb is stopped by the decompressed size, not the few bytes sent.
      await rejects(
        ingest(store, gzipSync('a\n' + '1\n'.repeat(100_000)), { gzip: true, maxBytes: 10_000 }),
        /larger than 10000 bytes/,
        413,
      );
      // Every failed upload took its chunks with it: no chunk without its dataset's metadata.
      assert.deepEqual(await under.orphanChunks(), []);
    });

    test('a damaged chunk is refused on read, naming the chunk', async () => {
      const store = under.make({ chunkRows: 1024 });
      const meta = await ingest(store, 'a,b\n1,2\n3,4\n');
      const bytes = (await store.backend.getChunk(meta.id, 0))!;
      bytes[bytes.length - 1] ^= 0xff;
      await store.backend.putChunk(meta.id, 0, bytes, false);
      await assert.rejects(store.table(meta.id), /chunk 0 does not match its checksum/);
    });

    test('listing pages newest first, and delete removes every chunk', async () => {
      const store = under.make({ chunkRows: 1024 });
      const before = (await store.list(0, 1000)).total;
      const first = await ingest(store, 'a\n' + '1\n'.repeat(2500));
      const second = await ingest(store, 'a\n1\n2\n');
      const page = await store.list(0, 2);
      assert.deepEqual(
        page.datasets.map((d) => d.id),
        [second.id, first.id],
      );
      assert.equal(page.total, before + 2);
      assert.deepEqual(
        (await store.list(1, 1)).datasets.map((d) => d.id),
        [first.id],
      );
      assert.equal(await store.delete(first.id), true);
      assert.equal(await store.exists(first.id), false);
      assert.equal(await store.backend.getChunk(first.id, 2), null);
      assert.equal((await store.list(0, 1000)).total, before + 1);
      assert.equal(await store.delete(first.id), false);
    });

    test('an upload never published leaves no visible dataset, and the cleanup removes its chunks', async () => {
      const store = under.make({ chunkRows: 1024, uploadTtlSeconds: 10 });
      const upload = store.beginUpload();
      await upload.writeChunk(0, Buffer.from('FWC1 not really'));
      assert.equal(await store.exists(upload.id), false);
      assert.ok((await store.list(0, 1000)).datasets.every((d) => d.id !== upload.id));
      if (store.backend instanceof S3DatasetBackend) {
        assert.deepEqual(await store.backend.cleanupAbandonedUploads(10), [], 'not before the TTL');
        assert.deepEqual(await store.backend.cleanupAbandonedUploads(10, Date.now() + 11_000), [upload.id]);
      } else {
        const ttl = await redis.ttl(`${config.redisPrefix}:dataset:${upload.id}:chunk:0`);
        assert.ok(ttl > 0 && ttl <= 10, `the chunk expires by itself (TTL ${ttl} s)`);
        await upload.abort();
      }
      assert.deepEqual(await under.orphanChunks(), []);
    });
  });

describe('Redis store only', () => {
  test('a dataset stored as JSON by an older version still loads, lists and deletes', async () => {
    // A prefix of its own: older datasets are indexed the first time datasets are listed, and the
    // suites above have listed under the test's prefix already.
    const prefix = `${config.redisPrefix}:legacy`;
    const store = new DatasetStore(redis, prefix);
    const table = parseCsv('a,b\n1.1,x\n2,y\n', limits);
    const meta = { id: 'ds_legacy1', createdAt: '2020-01-01T00:00:00.000Z', rows: 2, columns: table.columns };
    await redis.hset(`${prefix}:dataset:ds_legacy1`, { meta: JSON.stringify(meta), data: JSON.stringify(table) });
    assert.deepEqual({ ...(await store.table('ds_legacy1')).data }, { ...table.data }, 'float64 as stored then');
    const schema = await store.schema('ds_legacy1');
    assert.deepEqual(schema.columns[1], { name: 'b', type: 'categorical', missing: 0, categories: ['x', 'y'] });
    const listed = await store.list(0, 1000);
    assert.ok(
      listed.datasets.some((d) => d.id === 'ds_legacy1'),
      'indexed on first listing',
    );
    assert.equal(listed.datasets.at(-1)?.id, 'ds_legacy1', 'oldest last');
    assert.equal(await store.delete('ds_legacy1'), true);
    assert.equal(await store.exists('ds_legacy1'), false);
    assert.equal(await store.delete('ds_legacy1'), false);
  });

  test('categories past 65,536 are stored as uint32 codes and read back', async () => {
    const store = STORES.redis().make({ chunkRows: 8192 });
    const lines = ['id,x'];
    for (let i = 0; i < 70_000; i++) lines.push(`id-${i},${i % 10}`);
    const text = lines.join('\n');
    const meta = await ingest(store, text, {}, limits, 1 << 16);
    const last = (await store.backend.getChunk(meta.id, meta.storage!.checksums.length - 1))!;
    assert.equal(last[12], 2, 'the last chunk codes its ids in 32 bits');
    const first = (await store.backend.getChunk(meta.id, 0))!;
    assert.equal(first[12], 1, 'the first in 16');
    const table = await store.table(meta.id);
    assert.equal(table.data.id[0], 'id-0');
    assert.equal(table.data.id[69_999], 'id-69999');
    assert.equal((await store.columnProfile(meta.id, 'id')).distinct, 4097, 'more than MAX_PROFILED_VALUES');
  });

  test('numeric profiles: counts in first-seen order up to 4,096 values, 0 and -0 one value, then only "more"', async () => {
    const store = STORES.redis().make({ chunkRows: 1024 });
    const lines = ['few,many,zeros'];
    for (let i = 0; i < 6000; i++)
      lines.push(`${(i * 7) % 13},${i / 8 - 100},${i % 3 === 0 ? '-0' : i % 3 === 1 ? '0' : '0.5'}`);
    const text = lines.join('\n');
    const meta = await ingest(store, text);
    const table = await store.table(meta.id);
    for (const name of ['few', 'many', 'zeros']) {
      assert.deepEqual(await store.columnProfile(meta.id, name), profileColumn('numeric', table.data[name]), name);
    }
    assert.equal((await store.columnProfile(meta.id, 'many')).distinct, 4097);
    assert.deepEqual((await store.columnProfile(meta.id, 'zeros')).counts, [
      ['0', 4000],
      ['0.5', 2000],
    ]);
  });

  test('Redis memory of the chunks is at most 1.2 × the float32 size of the data', async () => {
    const store = STORES.redis().make();
    const backend = store.backend;
    assert.ok(backend instanceof RedisDatasetBackend, 'the Redis store has the Redis backend');
    const columns = 30;
    const rows = 150_000;
    const lines = [Array.from({ length: columns }, (_, c) => `c${c}`).join(',')];
    let s = 7;
    for (let r = 0; r < rows; r++) {
      const cells: string[] = [];
      for (let c = 0; c < columns; c++) {
        s = (s * 1103515245 + 12345) % 2147483648;
        cells.push(c === columns - 1 ? ['a', 'b', 'c'][s % 3] : r % 97 === c ? '' : (s / 2147483648).toFixed(5));
      }
      lines.push(cells.join(','));
    }
    const meta = await ingest(store, lines.join('\n'), {}, limits, 1 << 16);
    let used = 0;
    for (let i = 0; i < meta.storage!.checksums.length; i++)
      used += Number(await redis.call('MEMORY', 'USAGE', backend.chunkKey(meta.id, i)));
    used += Number(await redis.call('MEMORY', 'USAGE', `${config.redisPrefix}:dataset:${meta.id}`));
    const float32 = rows * columns * 4;
    assert.ok(used <= 1.2 * float32, `${used} bytes in Redis for ${float32} bytes of float32`);
    assert.ok(used >= rows * (columns - 1) * 4, 'the numbers are all there');
  });
});
