import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { profileColumn, type ColumnProfile } from '../data/column-profile';
import { columnValues, type ColumnInfo, type Table } from '../data/table';
import { AppError } from '../errors';

export interface DatasetMeta {
  id: string;
  createdAt: string;
  rows: number;
  columns: ColumnInfo[];
}

/**
 * Datasets live in Redis so API replicas and workers on different machines share nothing else.
 * One hash per dataset: `meta` (small, for listings), `data` (the column-major table) and one
 * `profile:<column>` per column (distinct values and class sizes, for the submission checks).
 */
export class DatasetStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  private key(id: string): string {
    return `${this.prefix}:dataset:${id}`;
  }

  async save(table: Table): Promise<DatasetMeta> {
    const meta: DatasetMeta = {
      id: `ds_${randomBytes(9).toString('base64url')}`,
      createdAt: new Date().toISOString(),
      rows: table.rowCount,
      columns: table.columns,
    };
    const fields: Record<string, string> = { meta: JSON.stringify(meta), data: JSON.stringify(table) };
    for (const column of table.columns) {
      fields[profileField(column.name)] = JSON.stringify(profileColumn(column.type, columnValues(table, column.name)));
    }
    await this.redis.hset(this.key(meta.id), fields);
    return meta;
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
    return (await this.redis.exists(this.key(id))) === 1;
  }

  async table(id: string): Promise<Table> {
    const raw = await this.redis.hget(this.key(id), 'data');
    if (!raw) throw new AppError('DATASET_NOT_FOUND', { id });
    return JSON.parse(raw) as Table;
  }
}

function profileField(column: string): string {
  return `profile:${column}`;
}
