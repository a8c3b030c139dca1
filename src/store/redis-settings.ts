import type { Redis } from 'ioredis';

export interface SettingsLog {
  warn(message: string): void;
  info(message: string): void;
}

/**
 * Warns about Redis settings that lose work: an eviction policy other than `noeviction` lets
 * Redis delete queue keys when memory is full (BullMQ then loses or corrupts jobs), and without
 * the append-only file a Redis crash loses jobs whose 202 was already sent. Managed Redis
 * services often disable CONFIG; then nothing can be checked and the operator is told so.
 * Resolves to the warnings given (for tests); never throws.
 */
export async function checkRedisSettings(redis: Redis, log: SettingsLog): Promise<string[]> {
  const warnings: string[] = [];
  let policy: string | undefined;
  let appendOnly: string | undefined;
  try {
    const [policyReply, aofReply] = await Promise.all([
      redis.config('GET', 'maxmemory-policy'),
      redis.config('GET', 'appendonly'),
    ]);
    policy = policyReply[1];
    appendOnly = aofReply[1];
  } catch (error) {
    log.info(
      `could not read the Redis configuration (${(error as Error).message}); make sure it runs with ` +
        'maxmemory-policy noeviction and appendonly yes',
    );
    return warnings;
  }
  if (policy !== undefined && policy !== 'noeviction') {
    warnings.push(
      `Redis maxmemory-policy is "${policy}", not "noeviction": when memory is full Redis may evict ` +
        'queue keys and jobs are lost or corrupted. Set maxmemory-policy noeviction.',
    );
  }
  if (appendOnly !== undefined && appendOnly !== 'yes') {
    warnings.push(
      'Redis runs without the append-only file (appendonly no): a Redis crash loses jobs that were ' +
        'already acknowledged with 202. Set appendonly yes.',
    );
  }
  for (const warning of warnings) log.warn(warning);
  return warnings;
}
