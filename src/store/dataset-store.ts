import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { ColumnInfo, Table } from '../data/table';
import { AppError } from '../errors';

export interface DatasetMeta {
  id: string;
  createdAt: string;
  rows: number;
  columns: ColumnInfo[];
}

/**
 * Datasets live in Redis so API replicas and workers on different machines share nothing else.
 * One hash per dataset: `meta` (small, for listings) and `data` (the column-major table).
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
    await this.redis.hset(this.key(meta.id), { meta: JSON.stringify(meta), data: JSON.stringify(table) });
    return meta;
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
