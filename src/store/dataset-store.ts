import { createHash, randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { chunkChecksum, ColumnKind, decodeChunk, isPresent } from '../data/column-chunk';
import { profileColumn, type ColumnProfile } from '../data/column-profile';
import { DatasetBuilder, type BuiltDataset } from '../data/dataset-builder';
import { columnValues, createColumnData, type CellValue, type ColumnInfo, type Table } from '../data/table';
import { AppError } from '../errors';

/** How a dataset is stored: chunks (see src/data/column-chunk.ts) or, before them, one JSON field. */
export interface ChunkStorage {
  format: 'chunks-v1';
  chunkRows: number;
  /** CRC-32 of each chunk, in order; checked on every read. */
  checksums: number[];
  /** Bytes of all chunks together. */
  bytes: number;
}

export interface DatasetMeta {
  id: string;
  createdAt: string;
  rows: number;
  columns: ColumnInfo[];
  /** sha256 of the stored columns, chunks and categories: the same data uploaded twice has the same hash. Absent on datasets stored before it existed. */
  contentHash?: string;
  /** Absent: stored as JSON in the hash's `data` field (older datasets). */
  storage?: ChunkStorage;
  /** What was uploaded: its format and decompressed size (absent on older datasets). */
  source?: { format: string; bytes: number };
}

/** A dataset's schema in one place: columns with their types and, for categorical ones, categories. */
export interface DatasetSchema {
  id: string;
  rows: number;
  columns: (ColumnInfo & { missing: number; categories?: string[] })[];
}

export interface DatasetStoreOptions {
  /** Rows per stored chunk (DATASET_CHUNK_ROWS). */
  chunkRows: number;
  /** Seconds an upload's chunks live unpublished before Redis deletes them (DATASET_UPLOAD_TTL_SECONDS). */
  uploadTtlSeconds: number;
}

export const DEFAULT_DATASET_STORE_OPTIONS: DatasetStoreOptions = { chunkRows: 65_536, uploadTtlSeconds: 3_600 };

/**
 * Publishes an upload atomically: every chunk must still be there (an upload slower than its TTL
 * lost some), then the chunks lose their TTL, and the metadata and the index entry appear, in
 * one script. Until then no reader can see the dataset; after a crash the chunks expire.
 * KEYS: hash, index, chunk 0..n-1. ARGV: id, score, then field/value pairs for the hash.
 */
const PUBLISH_SCRIPT = `
for i = 3, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 0 then return 0 end
end
for i = 3, #KEYS do redis.call('PERSIST', KEYS[i]) end
for i = 3, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
-- Newest last in the index even within one millisecond: never below the newest entry's score.
local score = tonumber(ARGV[2])
local newest = redis.call('ZREVRANGE', KEYS[2], 0, 0, 'WITHSCORES')
if newest[2] and tonumber(newest[2]) >= score then score = tonumber(newest[2]) + 0.001 end
redis.call('ZADD', KEYS[2], score, ARGV[1])
return 1
`;

/**
 * Datasets live in Redis so API replicas and workers on different machines share nothing else.
 * Per dataset: one hash (`meta`, one `profile:<column>` per column for the submission checks, one
 * `categories:<column>` per categorical column) and the rows as chunks, each under a key of its
 * own (`…:chunk:<n>`). Datasets stored before chunks keep the table as JSON in the hash's `data`
 * field and still load. A sorted set indexes datasets by creation time, for listing.
 */
export class DatasetStore {
  readonly options: DatasetStoreOptions;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    options: Partial<DatasetStoreOptions> = {},
  ) {
    this.options = { ...DEFAULT_DATASET_STORE_OPTIONS, ...options };
  }

  private key(id: string): string {
    return `${this.prefix}:dataset:${id}`;
  }

  chunkKey(id: string, index: number): string {
    return `${this.prefix}:dataset:${id}:chunk:${index}`;
  }

  private get indexKey(): string {
    return `${this.prefix}:datasets`;
  }

  /** Starts an upload: chunks go in under a new id, invisible until `publish`. */
  beginUpload(): DatasetUpload {
    return new DatasetUpload(this.redis, this, newDatasetId(), this.options.uploadTtlSeconds);
  }

  /** Stores an in-memory table (a JSON upload) the same way a streamed one is stored. */
  async save(table: Table, source = { format: 'json', bytes: 0 }): Promise<DatasetMeta> {
    const upload = this.beginUpload();
    try {
      const builder = new DatasetBuilder({
        limits: { maxRows: Number.MAX_SAFE_INTEGER, maxColumns: Number.MAX_SAFE_INTEGER },
        chunkRows: this.options.chunkRows,
        categorical: new Set(table.columns.filter((c) => c.type === 'categorical').map((c) => c.name)),
        onChunk: (index, bytes) => upload.writeChunk(index, bytes),
      });
      const names = table.columns.map((column) => column.name);
      const data = names.map((name) => columnValues(table, name));
      const cells: CellValue[] = new Array<CellValue>(names.length);
      for (let r = 0; r < table.rowCount; r++) {
        for (let c = 0; c < names.length; c++) cells[c] = data[c][r];
        if (builder.addCells(names, cells)) await builder.flush();
      }
      const built = await builder.finish();
      if (!('dataset' in built)) throw new Error('a typed table changed type while being stored');
      return await upload.publish(built.dataset, source);
    } catch (error) {
      await upload.abort();
      throw error;
    }
  }

  /**
   * One column's profile. Datasets stored before profiles existed get theirs computed from the
   * table on first use, and kept.
   */
  async columnProfile(id: string, name: string): Promise<ColumnProfile> {
    const raw = await this.redis.hget(this.key(id), profileField(name));
    if (raw) return JSON.parse(raw) as ColumnProfile;
    const table = await this.table(id);
    const column = table.columns.find((c) => c.name === name);
    if (!column) throw new Error(`dataset ${id} has no column "${name}"`);
    const profile = profileColumn(column.type, columnValues(table, name));
    await this.redis.hset(this.key(id), profileField(name), JSON.stringify(profile));
    return profile;
  }

  async meta(id: string): Promise<DatasetMeta> {
    const raw = await this.redis.hget(this.key(id), 'meta');
    if (!raw) throw new AppError('DATASET_NOT_FOUND', { id });
    return JSON.parse(raw) as DatasetMeta;
  }

  async exists(id: string): Promise<boolean> {
    return (await this.redis.hexists(this.key(id), 'meta')) === 1;
  }

  async categories(id: string, name: string): Promise<string[]> {
    const raw = await this.redis.hget(this.key(id), categoriesField(name));
    if (!raw) throw new Error(`dataset ${id} has no categories for column "${name}"`);
    return JSON.parse(raw) as string[];
  }

  /** Names, types, categories and missing cells of every column, and the row count. */
  async schema(id: string): Promise<DatasetSchema> {
    const meta = await this.meta(id);
    const columns: DatasetSchema['columns'] = [];
    for (const column of meta.columns) {
      const profile = await this.columnProfile(id, column.name);
      const entry: DatasetSchema['columns'][number] = { ...column, missing: meta.rows - profile.rows };
      if (column.type === 'categorical') {
        entry.categories = meta.storage
          ? await this.categories(id, column.name)
          : legacyCategories(await this.table(id), column.name);
      }
      columns.push(entry);
    }
    return { id, rows: meta.rows, columns };
  }

  /**
   * The chunks of a dataset in order, decoded and checked against their checksums: for readers
   * that go a chunk at a time. Throws for a dataset stored as JSON (see `table`).
   */
  async *chunks(meta: DatasetMeta) {
    if (!meta.storage) throw new Error(`dataset ${meta.id} is not stored in chunks`);
    for (let index = 0; index < meta.storage.checksums.length; index++) {
      const bytes = await this.redis.getBuffer(this.chunkKey(meta.id, index));
      if (!bytes) throw new Error(`dataset ${meta.id}: chunk ${index} is missing`);
      if (chunkChecksum(bytes) !== meta.storage.checksums[index]) {
        throw new Error(`dataset ${meta.id}: chunk ${index} does not match its checksum; the stored data is damaged`);
      }
      yield decodeChunk(bytes);
    }
  }

  /** The whole table in memory (what training takes today), read a chunk at a time. */
  async table(id: string): Promise<Table> {
    const meta = await this.meta(id);
    if (!meta.storage) {
      const raw = await this.redis.hget(this.key(id), 'data');
      if (!raw) throw new AppError('DATASET_NOT_FOUND', { id });
      return JSON.parse(raw) as Table;
    }
    const dictionaries = await Promise.all(
      meta.columns.map((column) => (column.type === 'categorical' ? this.categories(id, column.name) : undefined)),
    );
    const values: CellValue[][] = meta.columns.map(() => new Array<CellValue>(meta.rows));
    let offset = 0;
    for await (const chunk of this.chunks(meta)) {
      meta.columns.forEach((column, c) => {
        const out = values[c];
        const stored = chunk.columns[c];
        // A column absent from a chunk (an NDJSON key first seen later), or one whose cells
        // there were all missing before its type was known, is missing on those rows.
        const usable = stored && (column.type === 'numeric') === (stored.kind === ColumnKind.Float32);
        const dictionary = dictionaries[c];
        for (let r = 0; r < chunk.rows; r++) {
          if (!usable || !isPresent(stored.validity, r)) out[offset + r] = null;
          else out[offset + r] = dictionary ? dictionary[stored.data[r]] : stored.data[r];
        }
      });
      offset += chunk.rows;
    }
    if (offset !== meta.rows) throw new Error(`dataset ${id}: chunks hold ${offset} rows, the metadata ${meta.rows}`);
    const data = createColumnData();
    meta.columns.forEach((column, c) => (data[column.name] = values[c]));
    return { columns: meta.columns, rowCount: meta.rows, data };
  }

  /** Newest first, `limit` from `offset`; and how many there are. */
  async list(offset: number, limit: number): Promise<{ datasets: DatasetMeta[]; total: number }> {
    await this.indexOlderDatasets();
    const [ids, total] = await Promise.all([
      this.redis.zrevrange(this.indexKey, offset, offset + limit - 1),
      this.redis.zcard(this.indexKey),
    ]);
    if (ids.length === 0) return { datasets: [], total };
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.hget(this.key(id), 'meta');
    const rows = (await pipeline.exec()) ?? [];
    const datasets = rows.flatMap(([error, raw]) => (error || !raw ? [] : [JSON.parse(raw as string) as DatasetMeta]));
    return { datasets, total };
  }

  /** Deletes a dataset: its hash, its chunks and its index entry. False when there was none. */
  async delete(id: string): Promise<boolean> {
    const raw = await this.redis.hget(this.key(id), 'meta');
    if (!raw) return false;
    const meta = JSON.parse(raw) as DatasetMeta;
    const keys = [this.key(id)];
    for (let i = 0; i < (meta.storage?.checksums.length ?? 0); i++) keys.push(this.chunkKey(id, i));
    await this.redis.multi().del(...keys).zrem(this.indexKey, id).exec();
    return true;
  }

  /**
   * Datasets stored before the index existed are added to it once (a SCAN of the prefix's
   * dataset hashes), the first time datasets are listed; a flag key records that it was done.
   */
  private async indexOlderDatasets(): Promise<void> {
    const flag = `${this.indexKey}:indexed`;
    if ((await this.redis.exists(flag)) === 1) return;
    const pattern = `${this.prefix}:dataset:*`;
    let cursor = '0';
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', pattern, 'COUNT', 500, 'TYPE', 'hash');
      cursor = next;
      for (const key of keys) {
        const raw = await this.redis.hget(key, 'meta');
        if (!raw) continue;
        const meta = JSON.parse(raw) as DatasetMeta;
        await this.redis.zadd(this.indexKey, 'NX', Date.parse(meta.createdAt), meta.id);
      }
    } while (cursor !== '0');
    await this.redis.set(flag, '1');
  }

  /** @internal for DatasetUpload */
  async publishScript(id: string, chunks: number, fields: Record<string, string>, score: number): Promise<boolean> {
    const keys = [this.key(id), this.indexKey];
    for (let i = 0; i < chunks; i++) keys.push(this.chunkKey(id, i));
    const args = [id, String(score), ...Object.entries(fields).flat()];
    return ((await this.redis.eval(PUBLISH_SCRIPT, keys.length, ...keys, ...args)) as number) === 1;
  }
}

/**
 * One upload's chunks on their way in. Each is written with a TTL (DATASET_UPLOAD_TTL_SECONDS),
 * renewed on all of them as more arrive, so an upload whose process dies leaves nothing behind
 * once the TTL passes, and nothing is ever visible: only `publish` writes the metadata.
 */
export class DatasetUpload {
  private readonly checksums: number[] = [];
  private hash = createHash('sha256');
  private bytes = 0;
  /** Chunk keys written, by either pass (for abort). */
  private written = 0;
  private renewedAt = Date.now();

  constructor(
    private readonly redis: Redis,
    private readonly store: DatasetStore,
    readonly id: string,
    private readonly ttlSeconds: number,
  ) {}

  async writeChunk(index: number, bytes: Buffer): Promise<void> {
    this.checksums[index] = chunkChecksum(bytes);
    this.hash.update(bytes);
    this.bytes += bytes.length;
    const pipeline = this.redis.pipeline().set(this.store.chunkKey(this.id, index), bytes, 'EX', this.ttlSeconds);
    // The lease is renewed on every chunk written so far once a third of it has passed.
    if (Date.now() - this.renewedAt > (this.ttlSeconds * 1000) / 3) {
      for (let i = 0; i < index; i++) pipeline.expire(this.store.chunkKey(this.id, i), this.ttlSeconds);
      this.renewedAt = Date.now();
    }
    const results = (await pipeline.exec()) ?? [];
    const failed = results.find(([error]) => error);
    if (failed) throw failed[0];
    this.written = Math.max(this.written, index + 1);
  }

  /** Before a second pass: what the first wrote is overwritten chunk by chunk, and not hashed. */
  restart(): void {
    this.checksums.length = 0;
    this.hash = createHash('sha256');
    this.bytes = 0;
  }

  async publish(built: BuiltDataset, source: { format: string; bytes: number }): Promise<DatasetMeta> {
    const fields: Record<string, string> = {};
    this.hash.update(JSON.stringify(built.columns));
    for (const column of built.columns) {
      fields[profileField(column.name)] = JSON.stringify(built.profiles.get(column.name));
      const categories = built.categories.get(column.name);
      if (categories) {
        const text = JSON.stringify(categories);
        fields[categoriesField(column.name)] = text;
        this.hash.update(text);
      }
    }
    const meta: DatasetMeta = {
      id: this.id,
      createdAt: new Date().toISOString(),
      rows: built.rows,
      columns: built.columns,
      contentHash: `sha256:${this.hash.digest('hex')}`,
      storage: { format: 'chunks-v1', chunkRows: this.store.options.chunkRows, checksums: this.checksums, bytes: this.bytes },
      source,
    };
    fields.meta = JSON.stringify(meta);
    if (this.written > built.chunks) {
      await this.redis.del(...range(built.chunks, this.written).map((i) => this.store.chunkKey(this.id, i)));
    }
    const published = await this.store.publishScript(this.id, built.chunks, fields, Date.parse(meta.createdAt));
    if (!published) {
      throw new Error(
        `upload ${this.id}: some chunks expired before the upload finished; raise DATASET_UPLOAD_TTL_SECONDS`,
      );
    }
    return meta;
  }

  /** Deletes what was written (best effort: the TTL removes whatever this misses). */
  async abort(): Promise<void> {
    if (this.written === 0) return;
    await this.redis.del(...range(0, this.written).map((i) => this.store.chunkKey(this.id, i))).catch(() => undefined);
  }
}

function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from) }, (_, i) => from + i);
}

export function newDatasetId(): string {
  return `ds_${randomBytes(9).toString('base64url')}`;
}

function legacyCategories(table: Table, name: string): string[] {
  const seen = new Set<string>();
  for (const value of columnValues(table, name)) if (value !== null) seen.add(String(value));
  return [...seen];
}

function profileField(column: string): string {
  return `profile:${column}`;
}

function categoriesField(column: string): string {
  return `categories:${column}`;
}
