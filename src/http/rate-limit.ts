import rateLimit, { type FastifyRateLimitStore, type FastifyRateLimitStoreCtor } from '@fastify/rate-limit';
import type { FastifyBaseLogger, FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { Redis } from 'ioredis';
import type { Config } from '../config';
import { AppError } from '../errors';
import { createRedis } from '../store/redis';
import { isOpenRoute } from './auth';

/**
 * One fixed window per client: INCR, and start the window's expiry on the first request. A key
 * that somehow lost its expiry gets one again, so a counter can never block a client forever.
 */
const INCR_SCRIPT = `
local current = redis.call('INCR', KEYS[1])
if current == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {current, ttl}
`;

type Counted = { current: number; ttl: number };
type Callback = (error: Error | null, result?: Counted) => void;

interface RateLimitRedis extends Redis {
  fitwellRateLimit(key: string, windowMs: number): Promise<[number, number]>;
}

/** The same fixed windows in this process's memory, for while Redis is away. */
class LocalWindows {
  private readonly windows = new Map<string, { count: number; resetAt: number }>();

  incr(key: string, windowMs: number): Counted {
    const now = Date.now();
    let window = this.windows.get(key);
    if (!window || window.resetAt <= now) {
      if (this.windows.size >= 10_000) this.prune(now);
      window = { count: 0, resetAt: now + windowMs };
      this.windows.set(key, window);
    }
    window.count += 1;
    return { current: window.count, ttl: window.resetAt - now };
  }

  private prune(now: number): void {
    for (const [key, window] of this.windows) if (window.resetAt <= now) this.windows.delete(key);
  }
}

/**
 * Counts in Redis, so every API replica shares one limit per key. While Redis is unreachable the
 * count moves to this replica's memory (fail over, neither open nor closed): clients stay
 * limited, each replica counting on its own, and requests that do not need Redis (predictions
 * from cached models) keep working. Redis calls are bounded by the client's command timeout and
 * are not attempted at all while it is disconnected, so limiting never makes a request hang.
 */
function storeFor(redis: RateLimitRedis, prefix: string, log: FastifyBaseLogger): FastifyRateLimitStoreCtor {
  const local = new LocalWindows();
  let degraded = false;
  const fallBack = (reason: string) => {
    if (!degraded) log.warn({ reason }, 'rate limits are counted per API replica until Redis answers again');
    degraded = true;
  };

  return class RedisOrLocalStore implements FastifyRateLimitStore {
    incr(key: string, callback: Callback, timeWindow: number): void {
      if (redis.status !== 'ready') {
        fallBack(`Redis connection is ${redis.status}`);
        callback(null, local.incr(key, timeWindow));
        return;
      }
      redis.fitwellRateLimit(`${prefix}${key}`, timeWindow).then(
        ([current, ttl]) => {
          if (degraded) log.info('rate limits are shared through Redis again');
          degraded = false;
          callback(null, { current, ttl });
        },
        (error: unknown) => {
          fallBack(error instanceof Error ? error.message : String(error));
          callback(null, local.incr(key, timeWindow));
        },
      );
    }

    child(): FastifyRateLimitStore {
      return this; // fitwell sets no per-route limits
    }
  };
}

function clientKey(request: FastifyRequest): string {
  return request.apiKeyId ? `key:${request.apiKeyId}` : `ip:${request.ip}`;
}

function describeWindow(ms: number): string {
  return ms % 60_000 === 0 ? `${ms / 60_000} min` : `${ms / 1000} s`;
}

/**
 * Rate limiting per API key (per client address when the API runs open), RATE_LIMIT_MAX
 * requests per RATE_LIMIT_WINDOW_MS, with the x-ratelimit-* headers on every limited route and
 * 429 + Retry-After beyond. Runs after authentication (rejected keys cost one hash and never
 * reach Redis) and skips the open routes (probes, docs, metrics). Its Redis connection is its
 * own, with a short command timeout, so a slow Redis never holds up a request here.
 */
async function rateLimitPlugin(app: FastifyInstance, opts: { config: Config }): Promise<void> {
  const { config } = opts;
  if (config.rateLimitMax === 0) {
    app.log.warn('RATE_LIMIT_MAX=0: rate limiting is off');
    return;
  }
  const redis = createRedis(config.redisUrl, {
    maxRetriesPerRequest: 0,
    commandTimeout: 250,
    connectionName: 'fitwell-rate-limit',
  }) as RateLimitRedis;
  // Connection errors are reported by the main client; this one only needs a listener.
  redis.on('error', (error) => app.log.debug({ err: error.message }, 'rate-limit Redis connection error'));
  redis.defineCommand('fitwellRateLimit', { numberOfKeys: 1, lua: INCR_SCRIPT });
  app.addHook('onClose', async () => {
    redis.disconnect();
  });

  await app.register(rateLimit, {
    global: false,
    max: config.rateLimitMax,
    timeWindow: config.rateLimitWindowMs,
    store: storeFor(redis, `${config.redisPrefix}:ratelimit:`, app.log),
    keyGenerator: clientKey,
    errorResponseBuilder: (request, context) =>
      new AppError('RATE_LIMITED', {
        max: context.max,
        window: describeWindow(config.rateLimitWindowMs),
        client: request.apiKeyId ? 'this API key' : 'this client address',
        retryAfter: Math.max(1, Math.ceil(context.ttl / 1000)),
      }),
  });
  const limit = app.rateLimit();
  app.addHook('onRequest', async (request, reply) => {
    if (isOpenRoute(request)) return;
    await limit.call(app, request, reply);
  });
}

export default fp(rateLimitPlugin, { name: 'fitwell-rate-limit', dependencies: ['fitwell-auth'] });
