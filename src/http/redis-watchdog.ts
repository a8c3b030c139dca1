import type { FastifyReply } from 'fastify';
import type { Redis } from 'ioredis';

/** How often the watchdog looks at its connection (ms). */
const TICK_MS = 250;
/** A PING unanswered this long means Redis is frozen or stalled (ms). */
export const UNRESPONSIVE_AFTER_MS = 1_000;
/**
 * Ticks that must have run since the PING passed UNRESPONSIVE_AFTER_MS: an event loop blocked
 * for a while runs one late tick before it reads the (long since arrived) answer, and that alone
 * must not count as a frozen Redis.
 */
const TICKS_PAST_LIMIT = 2;

/**
 * Tells a frozen Redis (connections open, no answers: SIGSTOP, a stalled VM, a full network
 * buffer) from a live one: a PING is kept in flight every TICK_MS on a connection of its own (on
 * the watched one it would wait behind a large dataset write and count a busy connection as a
 * frozen Redis); when one stays unanswered past UNRESPONSIVE_AFTER_MS, Redis counts as
 * unresponsive until a PING is answered again. A watched connection that is not ready (down,
 * never came up) is unresponsive too.
 */
export class RedisWatchdog {
  private sentAt: number | null = null;
  private ticksPastLimit = 0;
  private readonly timer: NodeJS.Timeout;
  private readonly pinger: Redis;

  constructor(private readonly redis: Redis) {
    this.pinger = redis.duplicate();
    this.pinger.on('error', () => undefined); // the watched connection reports errors already
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.timer.unref();
    redis.once('end', () => {
      clearInterval(this.timer);
      this.pinger.disconnect();
    });
  }

  get responsive(): boolean {
    return this.redis.status === 'ready' && this.ticksPastLimit < TICKS_PAST_LIMIT;
  }

  private tick(): void {
    if (this.sentAt !== null) {
      if (performance.now() - this.sentAt > UNRESPONSIVE_AFTER_MS) this.ticksPastLimit++;
      return;
    }
    if (this.pinger.status !== 'ready') return;
    const sentAt = (this.sentAt = performance.now());
    const answered = () => {
      if (this.sentAt !== sentAt) return;
      this.sentAt = null;
      this.ticksPastLimit = 0;
    };
    // A failed PING (connection dropped) is an answer too: `status` then says not ready.
    this.pinger.ping().then(answered, answered);
  }

  /**
   * Answers `reply` with `answer()` if it is still unanswered once Redis turns unresponsive; for
   * a request already in flight when Redis froze. Stops when the reply is sent.
   */
  guard(reply: FastifyReply, answer: () => void): void {
    const timer = setInterval(() => {
      if (reply.sent || reply.raw.headersSent) {
        clearInterval(timer);
        return;
      }
      if (!this.responsive) {
        clearInterval(timer);
        answer();
      }
    }, TICK_MS);
    timer.unref();
    reply.raw.once('close', () => clearInterval(timer));
    reply.raw.once('finish', () => clearInterval(timer));
  }

  /**
   * `work`, or a rejection with `unavailable()` once Redis turns unresponsive while it is still
   * pending: for a step of a request that may or may not need Redis (a predict whose model is
   * cached needs none), so only a wait on a frozen Redis is cut short. Looked at every TICK_MS,
   * never synchronously, so work that settles at once (a cache hit) is never refused.
   */
  bound<T>(work: Promise<T>, unavailable: () => Error): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setInterval(() => {
        if (this.responsive) return;
        clearInterval(timer);
        reject(unavailable());
      }, TICK_MS);
      timer.unref();
      work.then(
        (value) => {
          clearInterval(timer);
          resolve(value);
        },
        (error: unknown) => {
          clearInterval(timer);
          reject(error instanceof Error ? error : new Error(String(error)));
        },
      );
    });
  }
}

const watchdogs = new WeakMap<Redis, RedisWatchdog>();

/** One watchdog per connection, started on first use. */
export function watchdogFor(redis: Redis): RedisWatchdog {
  let watchdog = watchdogs.get(redis);
  if (!watchdog) {
    watchdog = new RedisWatchdog(redis);
    watchdogs.set(redis, watchdog);
  }
  return watchdog;
}
