import type { Redis } from 'ioredis';
import type { DatasetBackend, PublishOutcome } from './dataset-backend';

/**
 * Publishes an upload atomically: every chunk must still be there (an upload idle longer than its
 * TTL lost some), then the chunks lose their TTL, and the fields and the index entry appear, in
 * one script. Until then no reader can see the dataset; after a crash the chunks expire. Run past
 * the deadline (Redis' own clock: it was frozen or stalled while the client gave up) it does nothing.
 * KEYS: hash, index, chunk 0..n-1. ARGV: id, score, deadline (epoch ms), then field/value pairs.
 * Returns 1 published, 0 a chunk is missing, -1 too late.
 */
const PUBLISH_SCRIPT = `
local now = redis.call('TIME')
if tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) > tonumber(ARGV[3]) then return -1 end
for i = 3, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 0 then return 0 end
end
for i = 3, #KEYS do redis.call('PERSIST', KEYS[i]) end
for i = 4, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
-- Newest last in the index even within one millisecond: never below the newest entry's score.
local score = tonumber(ARGV[2])
local newest = redis.call('ZREVRANGE', KEYS[2], 0, 0, 'WITHSCORES')
if newest[2] and tonumber(newest[2]) >= score then score = tonumber(newest[2]) + 0.001 end
redis.call('ZADD', KEYS[2], score, ARGV[1])
return 1
`;

/**
 * Datasets in Redis: per dataset one hash (its fields) and one string per chunk
 * (`<prefix>:dataset:<id>:chunk:<n>`), unpublished chunks with a TTL; a sorted set indexes
 * datasets by creation time. Datasets stored before chunks (the table as JSON in the hash's
 * `data` field) are read by DatasetStore through `getField`.
 */
export class RedisDatasetBackend implements DatasetBackend {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    readonly uploadTtlSeconds: number,
  ) {}

  hashKey(id: string): string {
    return `${this.prefix}:dataset:${id}`;
  }

  chunkKey(id: string, index: number): string {
    return `${this.prefix}:dataset:${id}:chunk:${index}`;
  }

  private get indexKey(): string {
    return `${this.prefix}:datasets`;
  }

  async putChunk(id: string, index: number, bytes: Buffer, renew: boolean): Promise<void> {
    const pipeline = this.redis.pipeline().set(this.chunkKey(id, index), bytes, 'EX', this.uploadTtlSeconds);
    if (renew) for (let i = 0; i < index; i++) pipeline.expire(this.chunkKey(id, i), this.uploadTtlSeconds);
    const results = (await pipeline.exec()) ?? [];
    const failed = results.find(([error]) => error)?.[0];
    if (failed) throw failed;
  }

  getChunk(id: string, index: number): Promise<Buffer | null> {
    return this.redis.getBuffer(this.chunkKey(id, index));
  }

  getField(id: string, field: string): Promise<string | null> {
    return this.redis.hget(this.hashKey(id), field);
  }

  async setField(id: string, field: string, value: string): Promise<void> {
    await this.redis.hset(this.hashKey(id), field, value);
  }

  async publish(
    id: string,
    chunks: number,
    fields: Record<string, string>,
    createdAtMs: number,
    deadlineMs: number,
  ): Promise<PublishOutcome> {
    const keys = [this.hashKey(id), this.indexKey];
    for (let i = 0; i < chunks; i++) keys.push(this.chunkKey(id, i));
    const args = [id, String(createdAtMs), String(deadlineMs), ...Object.entries(fields).flat()];
    const result = (await this.redis.eval(PUBLISH_SCRIPT, keys.length, ...keys, ...args)) as number;
    return result === 1 ? 'published' : result === -1 ? 'too-late' : 'missing-chunks';
  }

  async deleteChunks(id: string, from: number, to: number): Promise<void> {
    if (to <= from) return;
    const keys = Array.from({ length: to - from }, (_, i) => this.chunkKey(id, from + i));
    await this.redis.del(...keys);
  }

  async list(offset: number, limit: number): Promise<{ ids: string[]; total: number }> {
    await this.indexOlderDatasets();
    const [ids, total] = await Promise.all([
      this.redis.zrevrange(this.indexKey, offset, offset + limit - 1),
      this.redis.zcard(this.indexKey),
    ]);
    return { ids, total };
  }

  async delete(id: string, chunks: number): Promise<void> {
    const keys = [this.hashKey(id)];
    for (let i = 0; i < chunks; i++) keys.push(this.chunkKey(id, i));
    await this.redis
      .multi()
      .del(...keys)
      .zrem(this.indexKey, id)
      .exec();
  }

  /**
   * Datasets stored before the index existed are added to it once (a SCAN of the prefix's
   * dataset hashes), the first time datasets are listed; a flag key records that it was done.
   */
  private async indexOlderDatasets(): Promise<void> {
    const flag = `${this.indexKey}:indexed`;
    if ((await this.redis.exists(flag)) === 1) return;
    let cursor = '0';
    do {
      const [next, keys] = await this.redis.scan(
        cursor,
        'MATCH',
        `${this.prefix}:dataset:*`,
        'COUNT',
        500,
        'TYPE',
        'hash',
      );
      cursor = next;
      for (const key of keys) {
        const raw = await this.redis.hget(key, 'meta');
        if (!raw) continue;
        const meta = JSON.parse(raw) as { id: string; createdAt: string };
        await this.redis.zadd(this.indexKey, 'NX', Date.parse(meta.createdAt), meta.id);
      }
    } while (cursor !== '0');
    await this.redis.set(flag, '1');
  }
}
