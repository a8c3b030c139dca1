import { createHash, randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { ChunkedTable } from '../data/chunked-table';
import { chunkChecksum, ColumnKind, decodeChunk, isPresent, type DecodedChunk } from '../data/column-chunk';
import { profileColumn, type ColumnProfile } from '../data/column-profile';
import { DatasetBuilder, type BuiltDataset } from '../data/dataset-builder';
import { inSlices } from '../data/slices';
import {
  columnValues,
  createColumnData,
  type CellValue,
  type ColumnInfo,
  type Table,
  type TableView,
} from '../data/table';
import { AppError } from '../errors';
import type { DatasetBackend } from './dataset-backend';
import { RedisDatasetBackend } from './redis-dataset-backend';
import { WRITE_DEADLINE_MS } from './redis';

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
  /** Seconds an upload's chunks live unpublished before they are removed (DATASET_UPLOAD_TTL_SECONDS). */
  uploadTtlSeconds: number;
}

export const DEFAULT_DATASET_STORE_OPTIONS: DatasetStoreOptions = { chunkRows: 65_536, uploadTtlSeconds: 3_600 };

/**
 * Datasets, whichever backend holds their bytes (Redis by default, S3-compatible object storage
 * with DATASET_STORE=s3; see dataset-backend.ts), so API replicas and workers on different
 * machines share them. Per dataset: `meta`, one `profile:<column>` per column (for the submission
 * checks), one `categories:<column>` per categorical column, and the rows as chunks. Datasets
 * stored before chunks keep the table as JSON in a `data` field and still load.
 */
export class DatasetStore {
  readonly options: DatasetStoreOptions;
  readonly backend: DatasetBackend;

  /** A backend, or a Redis connection and key prefix for the Redis backend. */
  constructor(backend: DatasetBackend | Redis, prefix?: string, options: Partial<DatasetStoreOptions> = {}) {
    this.options = { ...DEFAULT_DATASET_STORE_OPTIONS, ...options };
    this.backend = isBackend(backend)
      ? backend
      : new RedisDatasetBackend(backend, prefix!, this.options.uploadTtlSeconds);
  }

  /** Starts an upload: chunks go in under a new id, invisible until `publish`. */
  beginUpload(): DatasetUpload {
    return new DatasetUpload(this.backend, newDatasetId(), this.options.chunkRows);
  }

  /**
   * Stores an in-memory table (a JSON upload) the same way a streamed one is stored.
   * `beforePublish` runs just before the publication is sent; it may throw to abort the save
   * (the request was answered 503 meanwhile, so nothing must be published).
   */
  async save(table: Table, source = { format: 'json', bytes: 0 }, beforePublish?: () => void): Promise<DatasetMeta> {
    const names = table.columns.map((column) => column.name);
    const categorical = new Set(table.columns.filter((c) => c.type === 'categorical').map((c) => c.name));
    const data = names.map((name) => columnValues(table, name));
    async function* rows() {
      for (let r = 0; r < table.rowCount; r++) yield [data.map((column) => column[r])];
    }
    return this.saveRows(newDatasetId(), names, categorical, rows(), source, beforePublish);
  }

  /**
   * One column's profile. Datasets stored before profiles existed get theirs computed from the
   * table on first use, and kept.
   */
  async columnProfile(id: string, name: string): Promise<ColumnProfile> {
    const raw = await this.backend.getField(id, profileField(name));
    if (raw) return JSON.parse(raw) as ColumnProfile;
    const table = await this.table(id);
    const column = table.columns.find((c) => c.name === name);
    if (!column) throw new Error(`dataset ${id} has no column "${name}"`);
    const profile = profileColumn(column.type, columnValues(table, name));
    await this.backend.setField(id, profileField(name), JSON.stringify(profile));
    return profile;
  }

  async meta(id: string): Promise<DatasetMeta> {
    const raw = await this.backend.getField(id, 'meta');
    if (!raw) throw new AppError('DATASET_NOT_FOUND', { id });
    return JSON.parse(raw) as DatasetMeta;
  }

  async exists(id: string): Promise<boolean> {
    return (await this.backend.getField(id, 'meta')) !== null;
  }

  async categories(id: string, name: string): Promise<string[]> {
    const raw = await this.backend.getField(id, categoriesField(name));
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
    for (let index = 0; index < meta.storage.checksums.length; index++) yield await this.chunk(meta, index);
  }

  /** One chunk, decoded and checked against its checksum. */
  async chunk(meta: DatasetMeta, index: number) {
    if (!meta.storage) throw new Error(`dataset ${meta.id} is not stored in chunks`);
    const bytes = await this.backend.getChunk(meta.id, index);
    if (!bytes) throw new Error(`dataset ${meta.id}: chunk ${index} is missing`);
    if (chunkChecksum(bytes) !== meta.storage.checksums[index]) {
      throw new Error(`dataset ${meta.id}: chunk ${index} does not match its checksum; the stored data is damaged`);
    }
    return decodeChunk(bytes);
  }

  /** How many chunks `chunkTable` reads the dataset in (a dataset stored as JSON is one). */
  chunkCount(meta: DatasetMeta): number {
    return meta.storage ? meta.storage.checksums.length : 1;
  }

  /**
   * Rows of one chunk as a Table (all columns, or those named), for readers that go a chunk at a
   * time (batch prediction). `dictionaries` from `dictionaries(meta)`, read once per dataset.
   * A dataset stored as JSON is a single chunk.
   */
  async chunkTable(meta: DatasetMeta, index: number, dictionaries: (string[] | undefined)[]): Promise<Table> {
    if (!meta.storage) {
      if (index !== 0) throw new Error(`dataset ${meta.id} is stored as one chunk; there is no chunk ${index}`);
      return this.table(meta.id);
    }
    const chunk = await this.chunk(meta, index);
    const values: CellValue[][] = meta.columns.map(() => new Array<CellValue>(chunk.rows));
    readChunkInto(meta, chunk, dictionaries, values, 0);
    const data = createColumnData();
    meta.columns.forEach((column, c) => (data[column.name] = values[c]));
    return { columns: meta.columns, rowCount: chunk.rows, data };
  }

  /**
   * One chunk for readers that only index its cells (training from chunks): as `chunkTable`, but a
   * numeric column with no missing cell in the chunk is the float32 view of the chunk's bytes
   * itself, not a JS array of its values (8 bytes a cell, or ≈ 24 when a gap makes V8 box every
   * number, and garbage once the chunk is done with). The other columns are JS arrays as in
   * `chunkTable`: categorical cells are the dictionary's strings (a pointer each), numeric ones
   * with gaps hold null. The cells read the same either way.
   */
  async chunkView(meta: DatasetMeta, index: number, dictionaries: (string[] | undefined)[]): Promise<TableView> {
    if (!meta.storage) return this.chunkTable(meta, index, dictionaries);
    const chunk = await this.chunk(meta, index);
    const data: Record<string, ArrayLike<CellValue>> = Object.create(null) as Record<string, ArrayLike<CellValue>>;
    meta.columns.forEach((column, c) => {
      const stored = chunk.columns[c];
      if (column.type === 'numeric' && stored?.kind === ColumnKind.Float32 && !stored.validity) {
        data[column.name] = stored.data;
        return;
      }
      const values = new Array<CellValue>(chunk.rows);
      readColumnInto(column, stored, dictionaries[c], chunk.rows, values, 0);
      data[column.name] = values;
    });
    return { columns: meta.columns, rowCount: chunk.rows, data };
  }

  /** The categories of every categorical column (undefined for numeric ones), in column order. */
  async dictionaries(meta: DatasetMeta): Promise<(string[] | undefined)[]> {
    return Promise.all(
      meta.columns.map(async (column) =>
        column.type === 'categorical' && meta.storage ? this.categories(meta.id, column.name) : undefined,
      ),
    );
  }

  /** The whole table in memory (what cross-validation takes), read a chunk at a time. */
  async table(id: string): Promise<Table> {
    const meta = await this.meta(id);
    if (!meta.storage) {
      const raw = await this.backend.getField(id, 'data');
      if (!raw) throw new AppError('DATASET_NOT_FOUND', { id });
      return JSON.parse(raw) as Table;
    }
    const dictionaries = await this.dictionaries(meta);
    const values: CellValue[][] = meta.columns.map(() => new Array<CellValue>(meta.rows));
    let offset = 0;
    for await (const chunk of this.chunks(meta)) {
      readChunkInto(meta, chunk, dictionaries, values, offset);
      offset += chunk.rows;
    }
    if (offset !== meta.rows) throw new Error(`dataset ${id}: chunks hold ${offset} rows, the metadata ${meta.rows}`);
    const data = createColumnData();
    meta.columns.forEach((column, c) => (data[column.name] = values[c]));
    return { columns: meta.columns, rowCount: meta.rows, data };
  }

  /**
   * The dataset a chunk at a time, each chunk read and checked when asked for (what training
   * streams). A dataset stored as JSON is one chunk: its whole table.
   */
  async chunkedTable(id: string): Promise<ChunkedTable> {
    const meta = await this.meta(id);
    const dictionaries = await this.dictionaries(meta);
    return {
      id,
      columns: meta.columns,
      rows: meta.rows,
      chunkCount: this.chunkCount(meta),
      chunk: (index) => this.chunkView(meta, index, dictionaries),
    };
  }

  /**
   * Stores rows that arrive in batches (each a list of rows of cells in `names` order) as a new
   * dataset under `id` (from `newDatasetId`). Storing under an id chosen beforehand lets a job
   * that dies midway store again under the same id: the second upload overwrites the first's
   * unpublished chunks, and a published dataset is not stored twice (the caller checks `exists`).
   * `beforePublish` as in `save`.
   */
  async saveRows(
    id: string,
    names: string[],
    categorical: ReadonlySet<string>,
    batches: AsyncIterable<CellValue[][]>,
    source = { format: 'batch-prediction', bytes: 0 },
    beforePublish?: () => void,
  ): Promise<DatasetMeta> {
    const upload = new DatasetUpload(this.backend, id, this.options.chunkRows);
    let builder: DatasetBuilder | undefined;
    try {
      builder = new DatasetBuilder({
        limits: { maxRows: Number.MAX_SAFE_INTEGER, maxColumns: Number.MAX_SAFE_INTEGER },
        chunkRows: this.options.chunkRows,
        categorical,
        onChunk: (index, bytes) => upload.writeChunk(index, bytes),
      });
      for await (const rows of batches) {
        for (const cells of rows) if (builder.addCells(names, cells)) await builder.flush();
      }
      const built = await builder.finish();
      if (!('dataset' in built)) throw new Error('a typed column changed type while being stored');
      beforePublish?.();
      return await upload.publish(built.dataset, source);
    } catch (error) {
      // No chunk write may land after the abort has deleted what was written.
      await builder?.settle().catch(() => undefined);
      await upload.abort();
      throw error;
    }
  }

  /** Newest first, `limit` from `offset`; and how many there are. */
  async list(offset: number, limit: number): Promise<{ datasets: DatasetMeta[]; total: number }> {
    const { ids, total } = await this.backend.list(offset, limit);
    const raws = await Promise.all(ids.map((id) => this.backend.getField(id, 'meta')));
    const datasets = raws.flatMap((raw) => (raw ? [JSON.parse(raw) as DatasetMeta] : []));
    return { datasets, total };
  }

  /** Deletes a dataset: its fields, its chunks and its listing. False when there was none. */
  async delete(id: string): Promise<boolean> {
    const raw = await this.backend.getField(id, 'meta');
    if (!raw) return false;
    const meta = JSON.parse(raw) as DatasetMeta;
    await this.backend.delete(id, meta.storage?.checksums.length ?? 0, Date.parse(meta.createdAt));
    return true;
  }
}

/** Decodes a chunk's cells into `values` (one array per column) from row `offset` on. */
function readChunkInto(
  meta: DatasetMeta,
  chunk: DecodedChunk,
  dictionaries: (string[] | undefined)[],
  values: CellValue[][],
  offset: number,
): void {
  meta.columns.forEach((column, c) =>
    readColumnInto(column, chunk.columns[c], dictionaries[c], chunk.rows, values[c], offset),
  );
}

/** One column of a chunk into `out` from row `offset` on. */
function readColumnInto(
  column: ColumnInfo,
  stored: DecodedChunk['columns'][number] | undefined,
  dictionary: string[] | undefined,
  rows: number,
  out: CellValue[],
  offset: number,
): void {
  // A column absent from a chunk (an NDJSON key first seen later), or one whose cells
  // there were all missing before its type was known, is missing on those rows.
  const usable = stored && (column.type === 'numeric') === (stored.kind === ColumnKind.Float32);
  for (let r = 0; r < rows; r++) {
    if (!usable || !isPresent(stored.validity, r)) out[offset + r] = null;
    else out[offset + r] = dictionary ? dictionary[stored.data[r]] : stored.data[r];
  }
}

function isBackend(value: DatasetBackend | Redis): value is DatasetBackend {
  return typeof (value as DatasetBackend).putChunk === 'function';
}

/**
 * One upload's chunks on their way in, unpublished, so an upload whose process dies leaves
 * nothing visible; its chunks are removed by the backend's cleanup (Redis: their TTL of
 * DATASET_UPLOAD_TTL_SECONDS, renewed on all of them at the next chunk once a third of it has
 * passed; S3: cleanupAbandonedUploads).
 */
export class DatasetUpload {
  private readonly checksums: number[] = [];
  private hash = createHash('sha256');
  private bytes = 0;
  /** Chunks written, by either pass (for abort). */
  private written = 0;
  private renewedAt = Date.now();

  constructor(
    private readonly backend: DatasetBackend,
    readonly id: string,
    private readonly chunkRows: number,
  ) {}

  async writeChunk(index: number, bytes: Buffer): Promise<void> {
    // In pieces, with the event loop let in between: a chunk of 30 columns is 8 MB to checksum and hash.
    let checksum = 0;
    await inSlices(bytes, (piece) => {
      checksum = chunkChecksum(piece, checksum);
      this.hash.update(piece);
    });
    this.checksums[index] = checksum;
    this.bytes += bytes.length;
    const renew = Date.now() - this.renewedAt > (this.backend.uploadTtlSeconds * 1000) / 3;
    if (renew) this.renewedAt = Date.now();
    await this.backend.putChunk(this.id, index, bytes, renew);
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
      storage: { format: 'chunks-v1', chunkRows: this.chunkRows, checksums: this.checksums, bytes: this.bytes },
      source,
    };
    fields.meta = JSON.stringify(meta);
    if (this.written > built.chunks) await this.backend.deleteChunks(this.id, built.chunks, this.written);
    // The deadline starts before the publication is sent: a 503 (command timeout) comes later still.
    const deadline = Date.now() + WRITE_DEADLINE_MS;
    const published = await this.backend.publish(this.id, built.chunks, fields, Date.parse(meta.createdAt), deadline);
    // Redis ran the publication too late (it was frozen or stalled): the client is told 503 and no
    // dataset exists under an id it never learned.
    if (published === 'too-late') throw new AppError('REDIS_UNAVAILABLE');
    if (published === 'missing-chunks') {
      throw new Error(
        `upload ${this.id}: some chunks expired before the upload finished; raise DATASET_UPLOAD_TTL_SECONDS`,
      );
    }
    return meta;
  }

  /** Deletes what was written (best effort: the backend's cleanup removes whatever this misses). */
  async abort(): Promise<void> {
    await this.backend.deleteChunks(this.id, 0, this.written).catch(() => undefined);
  }
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
