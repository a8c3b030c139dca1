import type { FastifyReply } from 'fastify';
import type { Redis } from 'ioredis';

/**
 * A PING is sent this often (ms) while Redis answers, whether or not the previous one has been
 * answered yet, so the first PING a frozen Redis leaves unanswered went out at most this long
 * after it froze.
 */
const PING_EVERY_MS = 100;

/**
 * A PING unanswered this long means Redis is frozen or stalled (ms). The watchdog's own
 * connection waits behind no command of the service's, but Redis runs one command at a time, so
 * a PING waits for whatever Redis is busy with; the longest the service sends is a dataset
 * chunk, DATASET_CHUNK_ROWS (65,536) rows × 30 columns, ~8 MB in one SET. Measured with
 * `node dist/bench/redis-ping-latency.js --writers 4 --readers 2` (four such writes and two
 * reads of a chunk back to back, the pinger in the same process, as in the API): on the shared
 * 2-core machine at load 7, PING p99 135 ms, max 135 ms; with 6 and 12 more CPU-bound processes
 * (load average 7–11), max 601 and 658 ms as this process read the answers, but judged as the watchdog
 * does (the timer, then one more turn of the event loop) none of 116 PINGs was unanswered after
 * 500 ms (1–3 after 400 ms, 5–6 after 300 ms). 500 ms is about 4× the worst seen under ordinary
 * load and at the edge of that overload; it keeps the whole wait of a request in flight when
 * Redis freezes near half a second (PING_EVERY_MS + UNRESPONSIVE_AFTER_MS at most, plus how late
 * the timer fires on a loaded machine). A false alarm costs a 503 with Retry-After to the
 * requests in flight at that moment and lasts until the PING is answered.
 *
 * That is the threshold while Redis answers promptly. A Redis that is busy rather than frozen
 * (several clients reading 8 MB chunks at once on a loaded machine: training from chunks beside
 * uploads) answers PINGs late but answers them; a full test suite sharing one Redis with such
 * work saw 503s from false alarms at 500 ms. So the threshold follows the PINGs' own latency:
 * BUSY_FACTOR × the slowest of the last RECENT_PINGS answered ones (the last 5 s), at least
 * UNRESPONSIVE_AFTER_MS and at most MAX_UNRESPONSIVE_AFTER_MS. A freeze of a Redis that was
 * answering in milliseconds is still noticed after UNRESPONSIVE_AFTER_MS.
 */
export const UNRESPONSIVE_AFTER_MS = 500;
/** The most the threshold grows to while Redis answers slowly (ms). */
export const MAX_UNRESPONSIVE_AFTER_MS = 2_000;
/** A PING counts as lost after this many times the slowest recent answer (and UNRESPONSIVE_AFTER_MS). */
const BUSY_FACTOR = 3;
/** Answered PINGs the threshold looks back on (5 s at PING_EVERY_MS). */
const RECENT_PINGS = 50;

/** The threshold for a PING sent now, given the latencies of the last answered ones (ms). */
export function unresponsiveAfterMs(recentLatencies: readonly number[]): number {
  let slowest = 0;
  for (const latency of recentLatencies) if (latency > slowest) slowest = latency;
  return Math.min(MAX_UNRESPONSIVE_AFTER_MS, Math.max(UNRESPONSIVE_AFTER_MS, BUSY_FACTOR * slowest));
}

type Listener = () => void;

/**
 * Tells a frozen Redis (connections open, no answers: SIGSTOP, a stalled VM, a full network
 * buffer) from a live one: a PING is sent every PING_EVERY_MS on a connection of its own (on the
 * watched one it would wait behind a large dataset write and count a busy connection as a frozen
 * Redis); when one stays unanswered past UNRESPONSIVE_AFTER_MS, Redis counts as unresponsive
 * until a PING is answered again, and the requests waiting on it (`guard`, `bound`) are told at
 * that moment, not at a later poll. A watched connection that is not ready (down, never came up)
 * is unresponsive too, and its closing tells the waiting requests the same way.
 *
 * An event loop blocked for a while (a long synchronous step of a request) must not by itself
 * count as a frozen Redis: the PING's timer then fires late, before the loop has read the answer
 * that arrived meanwhile. So an expired PING counts only if it is still unanswered one turn of the
 * loop later (setImmediate: after the poll phase, which reads what the socket holds).
 */
export class RedisWatchdog {
  /** The PINGs sent and not answered yet, by number. */
  private readonly unanswered = new Set<number>();
  private sent = 0;
  private frozen = false;
  /** Latencies of the last RECENT_PINGS PINGs answered before they expired (ms). */
  private readonly latencies: number[] = [];
  private readonly listeners = new Set<Listener>();
  private readonly timer: NodeJS.Timeout;
  private readonly pinger: Redis;

  constructor(private readonly redis: Redis) {
    // No command timeout on the pinger: a PING that timed out would look like an answer.
    this.pinger = redis.duplicate({ commandTimeout: undefined });
    this.pinger.on('error', () => undefined); // the watched connection reports errors already
    // Reconnected (its ready check answered): Redis answers, whatever became of the PINGs before.
    this.pinger.on('ready', () => {
      this.unanswered.clear();
      this.frozen = false;
    });
    this.timer = setInterval(() => this.ping(), PING_EVERY_MS);
    this.timer.unref();
    const onClose = () => this.notify();
    redis.on('close', onClose);
    redis.once('end', () => {
      clearInterval(this.timer);
      redis.off('close', onClose);
      this.pinger.disconnect();
    });
  }

  get responsive(): boolean {
    return this.redis.status === 'ready' && !this.frozen;
  }

  /**
   * Calls `listener` each time Redis turns unresponsive (a PING expired, or the watched
   * connection closed) until the returned function is called.
   */
  onUnresponsive(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private ping(): void {
    // Frozen: the PINGs in flight tell when it thaws; more would only pile up.
    if (this.frozen || this.pinger.status !== 'ready') return;
    const id = ++this.sent;
    this.unanswered.add(id);
    const sentAt = performance.now();
    const limit = unresponsiveAfterMs(this.latencies);
    const expiry = setTimeout(() => setImmediate(() => this.expired(id)), limit);
    expiry.unref();
    const answered = () => {
      clearTimeout(expiry);
      const latency = performance.now() - sentAt;
      // Only PINGs answered within their threshold count: the late answers a thaw brings (sent
      // before the freeze was noticed) would hold the threshold at its cap after every freeze.
      if (this.unanswered.delete(id) && latency < limit) {
        this.latencies.push(latency);
        if (this.latencies.length > RECENT_PINGS) this.latencies.shift();
      }
      this.frozen = false;
    };
    // A failed PING (connection dropped) is an answer too: `status` then says not ready.
    this.pinger.ping().then(answered, answered);
  }

  private expired(id: number): void {
    if (this.frozen || !this.unanswered.has(id)) return;
    this.frozen = true;
    this.notify();
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }

  /**
   * Answers `reply` with `answer()` if it is still unanswered when Redis turns unresponsive; for
   * a request already in flight when Redis froze. Stops when the reply is sent.
   */
  guard(reply: FastifyReply, answer: () => void): void {
    const stop = this.onUnresponsive(() => {
      stop();
      if (!reply.sent && !reply.raw.headersSent) answer();
    });
    reply.raw.once('close', stop);
    reply.raw.once('finish', stop);
  }

  /**
   * `work`, or a rejection with `unavailable()` once Redis turns unresponsive while it is still
   * pending: for a step of a request that may or may not need Redis (a predict whose model is
   * cached needs none), so only a wait on a frozen Redis is cut short. Never refused
   * synchronously: while Redis is already unresponsive, work that settles at once (a cache hit)
   * still wins, and only work still pending a turn of the event loop later is refused.
   */
  bound<T>(work: Promise<T>, unavailable: () => Error): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const refuse = () => {
        if (settled) return;
        settled = true;
        stop();
        reject(unavailable());
      };
      const stop = this.onUnresponsive(refuse);
      const immediate = this.responsive ? undefined : setImmediate(refuse);
      const done = () => {
        settled = true;
        stop();
        if (immediate) clearImmediate(immediate);
      };
      work.then(
        (value) => {
          if (settled) return;
          done();
          resolve(value);
        },
        (error: unknown) => {
          if (settled) return;
          done();
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
