import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { AppError, ERRORS, type ErrorCode } from '../errors';
import { MAX_ID_LENGTH } from '../schemas/api.schema';
import { isRedisFull, isRedisUnavailable } from './redis-errors';

/** Seconds a client should wait before retrying while Redis is away (as /readyz says). */
export const REDIS_RETRY_AFTER_SECONDS = 5;

export interface ErrorBody {
  error: { code: ErrorCode; message: string };
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The setting behind a route's own bodyLimit, named in its 413 (BODY_LIMIT when unset). */
    bodyLimitSetting?: string;
  }
}

/**
 * An error answered before the request body was read (413, 415, 401, …) would leave the client
 * writing into a socket the server closes: it sees a broken pipe, not the status. So the rest of
 * such a body is read and discarded first, up to this many bytes (REQUEST_TIMEOUT_MS bounds the
 * time); a larger body is answered with `Connection: close` at once.
 */
const DRAIN_MAX_BYTES = 64 << 20;

/** Content types a route may be sent, in the order a 415 names them. */
const KNOWN_BODY_TYPES = ['application/json', 'text/csv', 'application/csv', 'text/plain'];

interface ValidationIssue {
  instancePath: string;
  message?: string;
  keyword?: string;
  params?: Record<string, unknown>;
}

/** "/model/hidden/0/dropout" → "model.hidden[0].dropout". */
function fieldName(path: string, root: string): string {
  const parts = path.split('/').filter(Boolean);
  let name = root;
  for (const part of parts) name += /^\d+$/.test(part) ? `[${part}]` : name ? `.${part}` : part;
  return name || '(body)';
}

/**
 * A union error ("Invalid input") says nothing useful; the message of its most specific branch
 * does. Branches that only complain about the value's type are the least specific.
 */
function issueMessage(issue: ValidationIssue): string {
  const branches = issue.params?.errors as { code: string; message: string }[][] | undefined;
  if (issue.keyword === 'invalid_union' && Array.isArray(branches) && branches.length > 0) {
    const ranked = [...branches].sort(
      (a, b) => Number(a[0]?.code === 'invalid_type') - Number(b[0]?.code === 'invalid_type'),
    );
    return ranked[0][0]?.message ?? issue.message ?? 'invalid value';
  }
  return issue.message ?? 'invalid value';
}

export function formatValidation(issues: ValidationIssue[], context: string): string {
  const root = context === 'body' ? '' : context;
  return issues
    .slice(0, 5)
    .map((issue) => `${fieldName(issue.instancePath, root)}: ${issueMessage(issue)}`)
    .join('; ');
}

/**
 * One error handler for the app: bad input becomes a 4xx with a message that names the field;
 * anything unexpected is logged in full and answered with a 500 that hides internals.
 */
/**
 * For Fastify's `frameworkErrors` option: errors found while routing, before any hook or the
 * error handler runs (a malformed percent-encoding, a path parameter over maxParamLength), in
 * the same JSON shape as every other error.
 */
export function frameworkErrors(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const send = (status: number, code: ErrorCode, message: string) =>
    void reply.status(status).send(bodyFor(request.url, code, message));
  if (error.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    send(414, 'URI_TOO_LONG', `a path parameter is too long; ids are at most ${MAX_ID_LENGTH} characters`);
    return;
  }
  if (error.code === 'FST_ERR_BAD_URL') {
    send(400, 'VALIDATION', 'the URL is not valid (bad percent-encoding)');
    return;
  }
  const status = error.statusCode && error.statusCode < 500 ? error.statusCode : 400;
  send(status, clientCode(status), error.message);
}

/**
 * The error body for a URL: the Open Inference Protocol's `{"error": "<message>"}` under /v2
 * (routes/open-inference.ts does the same for its routes' own errors), the API's elsewhere.
 */
function bodyFor(url: string | undefined, code: ErrorCode, message: string): ErrorBody | { error: string } {
  return url !== undefined && /^\/v2(?:[/?]|$)/.test(url) ? { error: message } : body(code, message);
}

/**
 * For Fastify's `clientErrorHandler` option: what Node's HTTP parser refuses before there is a
 * request (a body not sent within REQUEST_TIMEOUT_MS, oversized headers, a malformed message),
 * answered in the API's error shape rather than Fastify's own. The socket is closed after it.
 */
export function clientErrorHandler(timeoutMs: number) {
  return function handleClientError(error: Error & { code?: string }, socket: Socket): void {
    if (error.code === 'ECONNRESET' || socket.destroyed) return;
    const [status, code, message] =
      error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'REQUEST_TIMEOUT' as const, new AppError('REQUEST_TIMEOUT', { timeoutMs }).message]
        : error.code === 'HPE_HEADER_OVERFLOW'
          ? [431, 'HEADERS_TOO_LARGE' as const, ERRORS.HEADERS_TOO_LARGE.message]
          : [400, 'VALIDATION' as const, 'the request is not a valid HTTP/1.1 message'];
    if (socket.writable) {
      // The request line is parsed by the time a body times out: Node keeps it on the socket's parser.
      const url = (socket as Socket & { parser?: { incoming?: { url?: string } } }).parser?.incoming?.url;
      const text = JSON.stringify(bodyFor(url, code, message));
      socket.write(
        `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Length: ${Buffer.byteLength(text)}\r\n` +
          `Content-Type: application/json; charset=utf-8\r\nConnection: close\r\n\r\n${text}`,
      );
    }
    socket.destroy();
  };
}

export interface ErrorHandlerHooks {
  /** A request was answered 507 STORAGE_FULL (for the metrics). */
  onStorageFull?(): void;
}

export function registerErrorHandler(app: FastifyInstance, hooks: ErrorHandlerHooks = {}): void {
  app.setErrorHandler(async (error: FastifyError | AppError, request, reply) => {
    // Overload: no work at all, not even reading; the connection closes after the answer.
    const overloaded = error instanceof AppError && error.code === 'OVERLOADED';
    if (!(await drainBody(request.raw, overloaded ? 0 : DRAIN_MAX_BYTES))) reply.header('connection', 'close');
    if (error instanceof AppError) {
      if (error.code === 'REDIS_UNAVAILABLE') reply.header('Retry-After', String(REDIS_RETRY_AFTER_SECONDS));
      return reply.status(error.status).send(body(error.code, error.message));
    }
    if (hasZodFastifySchemaValidationErrors(error)) {
      const context = (error as FastifyError).validationContext ?? 'body';
      return reply.status(400).send(body('VALIDATION', formatValidation(error.validation, context)));
    }
    // A full Redis refuses writes until memory is freed: a distinct answer (507) and a counter,
    // not "unavailable; retry shortly", which /readyz would contradict and retrying cannot fix.
    if (isRedisFull(error)) {
      request.log.warn({ err: error.message }, 'Redis is full: a write was refused');
      hooks.onStorageFull?.();
      const full = new AppError('STORAGE_FULL');
      return reply.status(full.status).send(body(full.code, full.message));
    }
    // Redis errors carry no statusCode: without this they would be 500s, though nothing is
    // wrong with the request or the code, and retrying shortly will work.
    if (isRedisUnavailable(error)) {
      request.log.warn({ err: error.message }, 'Redis unavailable');
      const unavailable = new AppError('REDIS_UNAVAILABLE');
      reply.header('Retry-After', String(REDIS_RETRY_AFTER_SECONDS));
      return reply.status(unavailable.status).send(body(unavailable.code, unavailable.message));
    }
    const status = error.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      return reply.status(status).send(body(clientCode(status), clientMessage(app, request, error, status)));
    }
    request.log.error({ err: error }, 'request failed');
    return reply.status(500).send(body('INTERNAL', 'internal error'));
  });

  app.setNotFoundHandler((request, reply) => {
    const error = new AppError('ROUTE_NOT_FOUND', { method: request.method, url: request.url });
    return reply.status(404).send(body(error.code, error.message));
  });
}

/** A registry code for one of the framework's own 4xx errors (its FST_ codes are no API). */
export function clientCode(status: number): ErrorCode {
  switch (status) {
    case 400:
      return 'VALIDATION';
    case 404:
      return 'ROUTE_NOT_FOUND';
    case 408:
      return 'REQUEST_TIMEOUT';
    case 413:
      return 'PAYLOAD_TOO_LARGE';
    case 414:
      return 'URI_TOO_LONG';
    case 415:
      return 'UNSUPPORTED_MEDIA_TYPE';
    default:
      return 'CLIENT_ERROR';
  }
}

/** Fastify's own 4xx messages, made to say what to do about them. */
function clientMessage(app: FastifyInstance, request: FastifyRequest, error: FastifyError, status: number): string {
  if (status === 413) return tooLargeMessage(app, request);
  if (status === 415) return unsupportedTypeMessage(request);
  if (error.code === 'FST_ERR_CTP_INVALID_JSON_BODY') {
    // Fastify's message is generic; the parser's own (the cause) says what and where.
    const cause = error.cause instanceof Error ? error.cause.message : '';
    if (/forbidden (prototype|constructor) property/.test(cause)) {
      return 'body: the keys "__proto__" and "constructor" (with "prototype") are not allowed in JSON';
    }
    return `body is not valid JSON${cause ? `: ${cause.slice(0, 200)}` : ''}`;
  }
  return error.message;
}

/** Names the limit and the setting that raises it, so a client knows and an operator can act. */
function tooLargeMessage(app: FastifyInstance, request: FastifyRequest): string {
  const limit = request.routeOptions.bodyLimit ?? app.initialConfig.bodyLimit;
  const setting =
    request.routeOptions.config?.bodyLimitSetting ?? (limit === app.initialConfig.bodyLimit ? 'BODY_LIMIT' : undefined);
  const route = request.routeOptions.url ? `${request.method} ${request.routeOptions.url}` : 'this route';
  return (
    `the request body is larger than ${limit} bytes (${formatBytes(limit ?? 0)}), the limit for ${route}` +
    (setting ? `; the server's ${setting} setting raises it` : '')
  );
}

/** Names what was sent and what the route takes, found from the route's own content-type parsers. */
function unsupportedTypeMessage(request: FastifyRequest): string {
  const sent = request.headers['content-type'];
  const accepted = KNOWN_BODY_TYPES.filter((type) => request.server.hasContentTypeParser(type));
  const route = request.routeOptions.url ? `${request.method} ${request.routeOptions.url}` : 'this route';
  return (
    `${sent ? `the content type "${sent.slice(0, 100)}"` : 'a body without a content type'} is not accepted by ${route}; ` +
    `send ${accepted.map((type) => `"${type}"`).join(' or ')}`
  );
}

/**
 * Reads and discards what is left of a request body, up to `maxBytes`. True when nothing is left
 * unread (or there was no body), so the connection can stay open; false when the body is longer.
 */
function drainBody(raw: IncomingMessage, maxBytes: number): Promise<boolean> {
  if (raw.complete || raw.readableEnded || raw.destroyed) return Promise.resolve(true);
  const declared = Number(raw.headers['content-length']);
  if (maxBytes === 0 || declared > maxBytes) return Promise.resolve(false);
  return new Promise((resolve) => {
    let received = 0;
    const finish = (drained: boolean) => {
      raw.off('data', onData).off('end', onEnd).off('close', onClose).off('error', onClose);
      resolve(drained);
    };
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (received > maxBytes) finish(false);
    };
    const onEnd = () => finish(true);
    const onClose = () => finish(raw.complete);
    raw.on('data', onData).once('end', onEnd).once('close', onClose).once('error', onClose);
    raw.resume();
  });
}

function formatBytes(bytes: number): string {
  if (bytes >= 1 << 20) return `${+(bytes / (1 << 20)).toFixed(1)} MiB`;
  if (bytes >= 1 << 10) return `${+(bytes / (1 << 10)).toFixed(1)} KiB`;
  return `${bytes} B`;
}

function body(code: ErrorCode, message: string): ErrorBody {
  return { error: { code, message } };
}
