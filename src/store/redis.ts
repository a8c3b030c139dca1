import { Redis, type RedisOptions } from 'ioredis';

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
 * Connections for fitwell's own keys (datasets, models). BullMQ gets its own connections.
 * Commands fail fast while Redis is away (no offline queue) so a request answers 503 instead of
 * hanging; the client keeps reconnecting in the background.
 */
export function createRedis(url: string, options: RedisOptions = {}): Redis {
  return new Redis(url, {
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    connectTimeout: 5_000,
    commandTimeout: COMMAND_TIMEOUT_MS,
    retryStrategy: (times) => Math.min(times * 200, 2_000),
    ...options,
  });
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


/**
 * Deletes every key under `prefix:` and nothing else (tests and benchmarks clean up their own
 * data this way; never a FLUSHDB).
 */
export async function deleteKeysUnder(url: string, prefix: string): Promise<void> {
  const redis = new Redis(url);
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
