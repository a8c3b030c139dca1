import { createHash, randomUUID } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import { AppError, invalid } from '../errors';

/** Header of the client's key; the same key means "the same request, do it once". */
export const IDEMPOTENCY_HEADER = 'idempotency-key';
/** Set on a response that repeats the answer to an earlier request with the same key. */
export const REPLAYED_HEADER = 'idempotent-replayed';

const MAX_KEY_LENGTH = 255;

/** What Redis remembers per key: the request's fingerprint and the job it created. */
interface IdempotencyRecord {
  fingerprint: string;
  jobId: string;
  /** False between claiming the key and the job being in the queue. */
  enqueued: boolean;
}

export interface SubmitResult {
  jobId: string;
  /** True when the job was created by an earlier request with the same key. */
  replayed: boolean;
}

/** Deletes the record only if it still names this job (a newer claim is left alone). */
const RELEASE_SCRIPT = `
local raw = redis.call('GET', KEYS[1])
if raw and cjson.decode(raw).jobId == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

/**
 * `Idempotency-Key` for job submission. The first request with a key claims it atomically
 * (SET NX with the TTL) together with a job id chosen up front, then creates the job under that
 * id. A later request with the key and the same body gets that job back. A request that arrives
 * while the first is still being checked does the same checks and enqueues under the same id,
 * which BullMQ ignores as a duplicate, so concurrent requests with one key make one job, even if
 * the first dies half-way. A key reused with a different body is a 422.
 *
 * Keys are scoped per API key, so two clients cannot see each other's jobs through a shared
 * idempotency key, and stored hashed under the app's prefix.
 */
export class IdempotencyStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly ttlSeconds: number,
  ) {}

  /**
   * Runs `create(jobId)` at most once per key and body; without a key it just runs it.
   * `create` validates and enqueues, and must treat its job id as final.
   */
  async submit(
    request: FastifyRequest,
    body: unknown,
    create: (jobId: string) => Promise<string>,
  ): Promise<SubmitResult> {
    const clientKey = idempotencyKeyOf(request);
    if (clientKey === undefined) return { jobId: await create(randomUUID()), replayed: false };

    const key = this.key(request.apiKeyId ?? 'open', clientKey);
    const mine: IdempotencyRecord = { fingerprint: fingerprint(body), jobId: randomUUID(), enqueued: false };
    const { record, owner } = await this.claim(key, mine);

    if (record.fingerprint !== mine.fingerprint) {
      throw new AppError('IDEMPOTENCY_KEY_REUSED', { key: truncate(clientKey) });
    }
    if (record.enqueued) return { jobId: record.jobId, replayed: true };

    try {
      await create(record.jobId);
    } catch (error) {
      // A request that could not be queued leaves the key free for a corrected retry.
      if (owner) await this.release(key, record.jobId).catch(() => undefined);
      throw error;
    }
    const done: IdempotencyRecord = { ...record, enqueued: true };
    await this.redis.set(key, JSON.stringify(done), 'EX', this.ttlSeconds);
    return { jobId: record.jobId, replayed: !owner };
  }

  /** SET NX: ours when it was free, else the record of whoever claimed it first. */
  private async claim(key: string, mine: IdempotencyRecord): Promise<{ record: IdempotencyRecord; owner: boolean }> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const claimed = await this.redis.set(key, JSON.stringify(mine), 'EX', this.ttlSeconds, 'NX');
      if (claimed === 'OK') return { record: mine, owner: true };
      const raw = await this.redis.get(key);
      // Null: released by a failed first request (or expired) between SET NX and GET; try again.
      if (raw !== null) return { record: parseRecord(raw), owner: false };
    }
    throw new Error(`Idempotency-Key record ${key} keeps changing`);
  }

  private async release(key: string, jobId: string): Promise<void> {
    await this.redis.eval(RELEASE_SCRIPT, 1, key, jobId);
  }

  private key(scope: string, clientKey: string): string {
    return `${this.prefix}:idempotency:${scope}:${sha256(clientKey)}`;
  }
}

/** A record that is not ours (or not JSON) matches no request: the key counts as used. */
function parseRecord(raw: string): IdempotencyRecord {
  try {
    const record = JSON.parse(raw) as Partial<IdempotencyRecord>;
    if (typeof record.fingerprint === 'string' && typeof record.jobId === 'string') {
      return { fingerprint: record.fingerprint, jobId: record.jobId, enqueued: record.enqueued === true };
    }
  } catch {
    // fall through
  }
  return { fingerprint: '', jobId: '', enqueued: true };
}

/** The header's value, checked; undefined when the request has none. */
export function idempotencyKeyOf(request: FastifyRequest): string | undefined {
  const value = request.headers[IDEMPOTENCY_HEADER];
  if (value === undefined) return undefined;
  const key = Array.isArray(value) ? value.join(',') : value;
  if (key.length === 0 || key.length > MAX_KEY_LENGTH || !/^[\x20-\x7e]+$/.test(key)) {
    throw invalid(
      'VALIDATION',
      `Idempotency-Key header: must be 1 to ${MAX_KEY_LENGTH} printable ASCII characters (a UUID is a good key)`,
    );
  }
  return key;
}

/** The same JSON value gives the same fingerprint whatever the order of its object keys. */
export function fingerprint(value: unknown): string {
  return sha256(canonicalJson(value));
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.keys(value)
      .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

function truncate(text: string): string {
  return text.length > 64 ? `${text.slice(0, 64)}…` : text;
}
