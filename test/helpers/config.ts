import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { loadConfig, type Config } from '../../src/config';

/**
 * A config for one test file: the Redis given by REDIS_URL (scripts/run-tests.js makes sure one
 * answers), a key prefix of its own so tests never see or delete anyone else's data.
 */
export function testConfig(env: Record<string, string> = {}): Config {
  return loadConfig({
    REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    REDIS_PREFIX: `fwtest-${randomBytes(5).toString('hex')}`,
    LOG_LEVEL: 'silent',
    TF_BACKEND: 'wasm',
    NODE_ENV: 'test',
    ...env,
  });
}

/** Deletes every key under this test's prefix, and nothing else. */
export async function deletePrefix(config: Config): Promise<void> {
  const redis = new Redis(config.redisUrl);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${config.redisPrefix}:*`, 'COUNT', 500);
      cursor = next;
      if (keys.length) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}
