import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { profileColumn, type ColumnProfile } from '../data/column-profile';
import { columnValues, type ColumnInfo, type Table } from '../data/table';
import { AppError } from '../errors';
import { WRITE_DEADLINE_MS } from './redis';

/**
 * HSET of a dataset's fields, refused (0) when Redis runs it after ARGV[1] (epoch ms, Redis'
 * clock). A refused write writes nothing; a full Redis refuses the first HSET (OOM), so again
 * nothing; once one field is written Redis lets the script finish, so a dataset is whole or absent.
 */
const SAVE_BEFORE_DEADLINE = `local now = redis.call('TIME')
if tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) > tonumber(ARGV[1]) then return 0 end
for i = 2, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
return 1`;

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
    // The deadline starts now, before the write is sent: a 503 (command timeout) comes later still.
    const deadline = Date.now() + WRITE_DEADLINE_MS;
    const written = await this.redis.eval(SAVE_BEFORE_DEADLINE, 1, this.key(meta.id), deadline,
      ...Object.entries(fields).flat());
    // Redis ran the write too late (it was frozen or stalled): the client is told 503 and no
    // dataset exists under an id it never learned.
    if (written !== 1) throw new AppError('REDIS_UNAVAILABLE');
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
