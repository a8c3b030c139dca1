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
 * buffer) from a live one, on one connection: a PING is kept in flight every TICK_MS; when one
 * stays unanswered past UNRESPONSIVE_AFTER_MS, Redis counts as unresponsive until a PING is
 * answered again. A connection that is not ready (down, never came up) is unresponsive too.
 */
export class RedisWatchdog {
  private sentAt: number | null = null;
  private ticksPastLimit = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly redis: Redis) {
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.timer.unref();
    redis.once('end', () => clearInterval(this.timer));
  }

  get responsive(): boolean {
    return this.redis.status === 'ready' && this.ticksPastLimit < TICKS_PAST_LIMIT;
  }

  private tick(): void {
    if (this.sentAt !== null) {
      if (performance.now() - this.sentAt > UNRESPONSIVE_AFTER_MS) this.ticksPastLimit++;
      return;
    }
    if (this.redis.status !== 'ready') return;
    const sentAt = (this.sentAt = performance.now());
    const answered = () => {
      if (this.sentAt !== sentAt) return;
      this.sentAt = null;
      this.ticksPastLimit = 0;
    };
    // A failed PING (connection dropped) is an answer too: `status` then says not ready.
    this.redis.ping().then(answered, answered);
  }

  /**
   * Answers `reply` with `answer()` if it is still unanswered once Redis turns unresponsive; for
   * a request already in flight when Redis froze. Stops when the reply is sent.
   */
  guard(reply: FastifyReply, answer: () => void): void {
    const timer = setInterval(() => {
      if (reply.sent || reply.raw.headersSent) return clearInterval(timer);
      if (!this.responsive) {
        clearInterval(timer);
        answer();
      }
    }, TICK_MS);
    timer.unref();
    reply.raw.once('close', () => clearInterval(timer));
    reply.raw.once('finish', () => clearInterval(timer));
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
