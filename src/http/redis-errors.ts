/**
 * Recognizes the errors ioredis and BullMQ raise while Redis is unreachable, restarting, full or
 * read-only, so the error handler answers them with 503 + Retry-After (the client should retry)
 * instead of 500 (a bug). Neither library gives these errors a common class, so the messages,
 * names and socket codes they are known to use are listed here.
 */

import type { FastifyRequest, onRequestHookHandler } from 'fastify';
import type { Redis } from 'ioredis';
import { AppError } from '../errors';
import { watchdogFor } from './redis-watchdog';

/**
 * An onRequest hook for routes that read BullMQ queues. BullMQ waits for its first connection
 * before it runs a command, with no time limit, so while Redis has never been reachable such a
 * route would hang instead of answering; and the queue's connection has no command timeout, so
 * while Redis is frozen (answers nothing) it would hang until Redis thaws. The app's own
 * connection (same Redis) and its watchdog (src/http/redis-watchdog.ts) tell whether Redis is
 * there and answering: if not, the answer is a 503 (with Retry-After) at once; a request already
 * in flight when Redis stops answering gets its 503 the moment the watchdog notices (within about
 * 0.5 s of the freeze, UNRESPONSIVE_AFTER_MS).
 */
export function requireRedis(redis: Redis, options: RequireRedisOptions = {}): onRequestHookHandler {
  const watchdog = watchdogFor(redis);
  const mayAnswer = options.mayAnswerInFlight ?? (() => true);
  return (request, reply, done) => {
    if (!watchdog.responsive) {
      done(new AppError('REDIS_UNAVAILABLE'));
      return;
    }
    watchdog.guard(reply, () => {
      // A write whose outcome the 503 would misstate finishes first (bounded by the command timeout).
      if (!mayAnswer(request)) return;
      const error = new AppError('REDIS_UNAVAILABLE');
      void reply
        .status(error.status)
        .header('Retry-After', String(REDIS_RETRY_AFTER_SECONDS))
        .header('connection', 'close')
        .send({ error: { code: error.code, message: error.message } });
    });
    done();
  };
}

export interface RequireRedisOptions {
  /**
   * Whether the guard may answer 503 for this in-flight request now. False while a write has been
   * sent whose effect a 503 must not hide (an upload's publication: a 503 means nothing stored);
   * the request then waits for that write's answer or its command timeout.
   */
  mayAnswerInFlight?: (request: FastifyRequest) => boolean;
}

/**
 * `work` (a step that may need Redis, such as loading a model that is not cached), failing with
 * 503 REDIS_UNAVAILABLE once the watchdog finds Redis unresponsive while it is still pending.
 */
export function boundByRedis<T>(redis: Redis, work: Promise<T>): Promise<T> {
  return watchdogFor(redis).bound(work, () => new AppError('REDIS_UNAVAILABLE'));
}

/** Seconds to wait before retrying while Redis is away (as the error handler and /readyz say). */
const REDIS_RETRY_AFTER_SECONDS = 5;

/** Connection-level messages from ioredis (see its Redis.js, Command.js) and BullMQ. */
const UNAVAILABLE_MESSAGES = [
  "Stream isn't writeable", // enableOfflineQueue: false while disconnected
  'Connection is closed', // in-flight commands when the socket drops, or a closed client
  'Command timed out', // commandTimeout
  'Socket timeout', // socketTimeout
  'Reached the max retries per request limit', // MaxRetriesPerRequestError
  'connect ETIMEDOUT',
  'None of startup nodes is available',
];

const UNAVAILABLE_NAMES = new Set(['MaxRetriesPerRequestError', 'ClusterAllFailedError']);

const SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNABORTED',
]);

/**
 * Server replies that mean "not now" rather than "wrong request": loading the dataset after a
 * restart, a replica that cannot take writes, a failed save. A full instance (OOM) is not among
 * them: retrying shortly cannot help, so it is told apart (isRedisFull, 507 STORAGE_FULL).
 */
const TRANSIENT_REPLY = /^(LOADING|BUSY|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|READONLY|MISCONF|NOREPLICAS)\b/;

/**
 * Redis refused a write because it is at maxmemory with the noeviction policy ("OOM command not
 * allowed when used memory > 'maxmemory'"), also when the refusal came from a write inside a
 * script (Redis prefixes the script's error). A script refused at its first write wrote nothing;
 * one that has written is never refused (Redis lets it finish), so a refused write left nothing.
 */
export function isRedisFull(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; current instanceof Error && depth < 5; depth++) {
    if (/^OOM\b|OOM command not allowed/.test(current.message)) return true;
    // A MULTI whose queued writes were refused fails as EXECABORT; ioredis keeps the refusals.
    const previous = (current as { previousErrors?: unknown[] }).previousErrors;
    if (Array.isArray(previous) && previous.some(isRedisFull)) return true;
    current = current.cause;
  }
  return false;
}

export function isRedisUnavailable(error: unknown): boolean {
  // BullMQ and ioredis sometimes wrap the original error; follow `cause` a few levels.
  let current: unknown = error;
  for (let depth = 0; current instanceof Error && depth < 5; depth++) {
    const { name, message } = current;
    const code = (current as NodeJS.ErrnoException).code;
    if (UNAVAILABLE_NAMES.has(name)) return true;
    if (typeof code === 'string' && SOCKET_CODES.has(code)) return true;
    if (UNAVAILABLE_MESSAGES.some((known) => message.includes(known))) return true;
    if (name === 'ReplyError' && TRANSIENT_REPLY.test(message)) return true;
    current = current.cause;
  }
  return false;
}
