import { Redis, type RedisOptions } from 'ioredis';

/**
 * Every Redis connection fitwell opens is made here: its own clients (createRedis) and the
 * connection options it hands BullMQ (bullmqConnection), so the retry policy is written once.
 *
 * Reconnect within 2 s of Redis coming back: ioredis' and BullMQ's own defaults back off to
 * 20 s, so enqueues, event streams and workers would stay down that long after an outage.
 */
export function reconnectDelay(times: number): number {
  return Math.min(times * 200, 2_000);
}

/**
 * How a connection behaves while Redis is away:
 * - `fail-fast` (the API's clients and queues): no offline queue and one retry, so a command
 *   fails at once and the request answers 503 instead of hanging;
 * - `blocking` (BullMQ workers and QueueEvents): commands wait through the outage, as BullMQ
 *   requires of connections that run blocking commands (`maxRetriesPerRequest: null`).
 */
export type RedisProfile = 'fail-fast' | 'blocking';

/** The options both ioredis and BullMQ's connection type accept. */
interface ProfileOptions {
  maxRetriesPerRequest: number | null;
  enableOfflineQueue?: boolean;
  connectTimeout?: number;
  retryStrategy: (times: number) => number;
}

const PROFILES: Record<RedisProfile, ProfileOptions> = {
  'fail-fast': {
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    connectTimeout: 5_000,
    retryStrategy: reconnectDelay,
  },
  blocking: { maxRetriesPerRequest: null, retryStrategy: reconnectDelay },
};

/** The `connection` option for a BullMQ Queue, FlowProducer, Worker or QueueEvents. */
export function bullmqConnection(url: string, profile: RedisProfile): ProfileOptions & { url: string } {
  return { url, ...PROFILES[profile] };
}

/**
 * How long a command may go unanswered before it fails (503). A frozen Redis (connections open,
 * no answers) must not hang requests forever; generous enough for a 50 MB dataset write.
 */
export const COMMAND_TIMEOUT_MS = 15_000;

/**
 * A write the client may give up on (a dataset upload) carries a deadline this long after it was
 * sent, and Redis refuses it past the deadline (Redis' own clock, see DatasetStore.save): a write
 * that sat in a frozen Redis' socket buffer while the client was told 503 does not run when Redis
 * thaws. 5 s less than the command timeout, so the API's and Redis' clocks may differ by up to
 * 5 s (one host or NTP) and a 503 still means nothing was stored.
 */
export const WRITE_DEADLINE_MS = COMMAND_TIMEOUT_MS - 5_000;

/**
 * A client for fitwell's own keys (datasets, models, job state), `fail-fast` unless `options`
 * say otherwise, with commands timing out after COMMAND_TIMEOUT_MS.
 */
export function createRedis(url: string, options: RedisOptions = {}): Redis {
  return new Redis(url, { ...PROFILES['fail-fast'], commandTimeout: COMMAND_TIMEOUT_MS, ...options });
}

/**
 * Deletes every key under `prefix:` and nothing else (tests and benchmarks clean up their own
 * data this way; never a FLUSHDB).
 */
export async function deleteKeysUnder(url: string, prefix: string): Promise<void> {
  const redis = createRedis(url, { enableOfflineQueue: true });
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 500);
      cursor = next;
      if (keys.length) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

/** Resolves when the connection is ready, or rejects after `timeoutMs`. */
export async function waitForRedis(redis: Redis, timeoutMs = 5_000): Promise<void> {
  if (redis.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`Redis did not become ready within ${timeoutMs} ms`));
    }, timeoutMs);
    const onReady = () => {
      cleanup();
      resolve();
    };
    const cleanup = () => {
      clearTimeout(timer);
      redis.off('ready', onReady);
    };
    redis.on('ready', onReady);
  });
}
