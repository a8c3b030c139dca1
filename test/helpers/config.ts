import { randomBytes } from 'node:crypto';
import { loadConfig, type Config } from '../../src/config';
import { deleteKeysUnder } from '../../src/store/redis';

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
export function deletePrefix(config: Config): Promise<void> {
  return deleteKeysUnder(config.redisUrl, config.redisPrefix);
}
