/**
 * Every error the API can return, defined once: a code, an HTTP status and a message
 * template with `{placeholders}`. Throw with `new AppError('DATASET_NOT_FOUND', { id })`.
 */
export const ERRORS = {
  VALIDATION: { status: 400, message: '{message}' },
  INVALID_DATASET: { status: 400, message: '{message}' },
  INVALID_TRAINING_REQUEST: { status: 400, message: '{message}' },
  INVALID_PREDICT_INPUT: { status: 400, message: '{message}' },
  INVALID_SWEEP: { status: 400, message: '{message}' },
  INVALID_SEARCH: { status: 400, message: '{message}' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: '{message}' },
  PAYLOAD_TOO_LARGE: { status: 413, message: '{message}' },
  URI_TOO_LONG: { status: 414, message: '{message}' },
  REQUEST_TIMEOUT: {
    status: 408,
    message: "the request was not received within {timeoutMs} ms (the server's REQUEST_TIMEOUT_MS setting)",
  },
  HEADERS_TOO_LARGE: { status: 431, message: 'the request headers are larger than the server accepts' },
  /** Any other 4xx the HTTP framework gives; it keeps its own status. */
  CLIENT_ERROR: { status: 400, message: '{message}' },
  DATASET_NOT_FOUND: { status: 404, message: 'dataset "{id}" does not exist' },
  JOB_NOT_FOUND: { status: 404, message: 'training job "{id}" does not exist' },
  MODEL_NOT_FOUND: { status: 404, message: 'model "{id}" does not exist' },
  MODEL_NAME_NOT_FOUND: { status: 404, message: 'model name "{name}" does not exist' },
  MODEL_VERSION_NOT_FOUND: { status: 404, message: 'model "{name}" has no version {version}' },
  ALIAS_NOT_FOUND: { status: 404, message: 'model "{name}" has no alias "{alias}"' },
  MODEL_IN_USE: {
    status: 409,
    message: 'model "{id}" cannot be deleted while an alias points to it ({aliases}); move or remove the alias first',
  },
  JOB_HAS_NO_MODEL: { status: 409, message: 'training job "{id}" has no model to register ({state})' },
  MODEL_NOT_EXPORTABLE: {
    status: 422,
    message: 'model "{id}" cannot be exported in the TensorFlow.js layers format: {reason}',
  },
  SWEEP_NOT_FOUND: { status: 404, message: 'sweep "{id}" does not exist' },
  DATASET_IN_USE: {
    status: 409,
    message: 'dataset "{id}" is used by {jobs}; cancel them or wait until they finish before deleting it',
  },
  SEARCH_NOT_FOUND: { status: 404, message: 'search "{id}" does not exist' },
  SEARCH_FINISHED: { status: 409, message: 'search "{id}" has already finished ({state}); there is nothing to cancel' },
  JOB_FINISHED: {
    status: 409,
    message: 'training job "{id}" has already finished ({state}); there is nothing to cancel',
  },
  BATCH_PREDICTION_NOT_FOUND: { status: 404, message: 'batch prediction "{id}" does not exist' },
  BATCH_PREDICTION_FINISHED: {
    status: 409,
    message: 'batch prediction "{id}" has already finished ({state}); there is nothing to cancel',
  },
  BATCH_PREDICTION_NOT_COMPLETED: {
    status: 409,
    message: 'batch prediction "{id}" has no results to download: it is {state}',
  },
  ROUTE_NOT_FOUND: { status: 404, message: 'no route {method} {url}' },
  UNAUTHORIZED: { status: 401, message: '{message}' },
  DASHBOARD_READ_ONLY: {
    status: 403,
    message:
      'the job dashboard is read-only: set ADMIN_API_KEYS on the server to retry, clean, add or remove jobs from it',
  },
  IDEMPOTENCY_KEY_REUSED: {
    status: 422,
    message: 'Idempotency-Key "{key}" was already used with a different request body; send a new key for a new request',
  },
  RATE_LIMITED: {
    status: 429,
    message: 'rate limit exceeded: at most {max} requests per {window} for {client}; retry in {retryAfter} s',
  },
  OVERLOADED: { status: 503, message: 'the server is overloaded ({reason}); retry in {retryAfter} s' },
  REDIS_UNAVAILABLE: { status: 503, message: 'the job store (Redis) is unavailable; retry shortly' },
  /** Redis refused a write for memory (maxmemory reached, noeviction): retrying will not help. */
  STORAGE_FULL: {
    status: 507,
    message:
      'the job store (Redis) is full and refuses writes (maxmemory reached); nothing was stored. Retrying ' +
      'will not help until an operator frees memory (delete datasets or models) or raises maxmemory',
  },
  INTERNAL: { status: 500, message: 'internal error' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERRORS;

/** Every code, for the `code` enum of the error schema: a client can switch on it. */
export const ERROR_CODES = Object.keys(ERRORS) as [ErrorCode, ...ErrorCode[]];

function fill(template: string, params: Record<string, unknown>): string {
  return template.replace(/\{(\w+)\}/g, (_, key: string) => {
    const value = params[key];
    if (value === undefined || value === null) return `{${key}}`;
    const primitive = typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean';
    return primitive ? String(value) : (JSON.stringify(value) ?? `{${key}}`);
  });
}

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details?: unknown;

  constructor(code: ErrorCode, params: Record<string, unknown> = {}, details?: unknown) {
    super(fill(ERRORS[code].message, params));
    this.name = 'AppError';
    this.code = code;
    this.status = ERRORS[code].status;
    this.details = details;
  }
}

/** Shorthand for the most common case: a 400 that names the field and the reason. */
export function invalid(
  code: 'VALIDATION' | 'INVALID_DATASET' | 'INVALID_TRAINING_REQUEST' | 'INVALID_PREDICT_INPUT',
  message: string,
): AppError {
  return new AppError(code, { message });
}
