import { getHeapStatistics } from 'node:v8';
import { z } from 'zod';

/** TF_BACKEND's values; ml/backend.ts selects among them (config never loads tfjs). */
export const BACKEND_CHOICES = ['auto', 'tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];

/**
 * Environment → one typed config object, validated once at start: a bad value stops the process
 * with a message naming the variable, instead of failing at first use.
 */
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

const envSchema = z.object({
  NODE_ENV: z.string().default('development'),
  PORT: int(0, 65535).default(3000),
  HOST: z.string().min(1).default('127.0.0.1'),
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, { error: 'must start with redis:// or rediss://' })
    .default('redis://127.0.0.1:6379'),
  /** Prefix of every Redis key fitwell writes (queues, datasets, models). */
  REDIS_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_.-]+$/, { error: 'may contain only letters, digits, _ . -' })
    .default('fitwell'),
  TF_BACKEND: z.enum(BACKEND_CHOICES).default('auto'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  WORKER_CONCURRENCY: int(1, 64).default(1),
  /** How long a worker's lock on a job lasts without renewal (BullMQ lockDuration). */
  JOB_LOCK_MS: int(1000, 3_600_000).default(30_000),
  /** Largest JSON body for ordinary requests, in bytes. */
  BODY_LIMIT: int(1024, 1 << 30).default(1 << 20),
  /** Largest dataset upload, in bytes (decompressed, for a gzip body); uploads are streamed. */
  DATASET_BODY_LIMIT: int(1024, 2 ** 40).default(50 << 20),
  /** Rows per stored dataset chunk: the API holds about one chunk per upload (README, "Data at scale"). */
  DATASET_CHUNK_ROWS: int(1024, 1 << 22).default(65_536),
  /** Encoded dataset chunks a training process keeps in memory at once (README, "Training from chunks"). */
  TRAINING_RESIDENT_CHUNKS: int(1, 1024).default(2),
  /** Seconds an unfinished upload's chunks live in Redis: the cleanup after a crash mid-upload. */
  DATASET_UPLOAD_TTL_SECONDS: int(10, 7 * 86_400).default(3_600),
  /** Where an upload's bytes are spooled for a second pass (empty: the OS's temporary directory). */
  DATASET_SPOOL_DIR: z.string().default(''),
  /** Where datasets' bytes live: Redis (default) or S3-compatible object storage. */
  DATASET_STORE: z.enum(['redis', 's3']).default('redis'),
  DATASET_S3_BUCKET: z.string().default(''),
  /** Empty: AWS S3 itself (region from AWS_REGION); else e.g. http://minio:9000 (path-style). */
  DATASET_S3_ENDPOINT: z.string().default(''),
  /** Key prefix inside the bucket; empty: REDIS_PREFIX. */
  DATASET_S3_PREFIX: z.string().default(''),
  MAX_DATASET_ROWS: int(2, 10_000_000).default(1_000_000),
  MAX_DATASET_COLUMNS: int(1, 100_000).default(1_000),
  MAX_PREDICT_ROWS: int(1, 1_000_000).default(10_000),
  /**
   * Largest predict body, in bytes. Unset: PREDICT_BYTES_PER_ROW per allowed row (40 MiB for
   * 10,000 rows), and never less than BODY_LIMIT.
   */
  PREDICT_BODY_LIMIT: int(1024, 1 << 30).optional(),
  /**
   * Input drift at predict (src/serving/drift.ts): a numeric value more than this many training
   * standard deviations from its training mean counts as out of range. 4.
   */
  PREDICT_DRIFT_K: z.coerce.number().positive().max(1_000).default(4),
  /** Trained models kept in the API's memory for prediction. */
  MODEL_CACHE_SIZE: int(1, 100_000).default(100),
  /**
   * Estimated bytes of model memory the API's cache may hold (weights, scratch, metadata; see
   * src/serving/served-model.ts); least recently used models are evicted beyond it. 256 MiB.
   */
  MODEL_CACHE_BYTES: int(1 << 20, 2 ** 50).default(256 * 1024 * 1024),
  /**
   * Micro-batching of concurrent predict requests to one model (src/serving/micro-batcher.ts):
   * "off", 0 (requests that arrived in the same event-loop turn share one run; no timer) or the
   * most ms a request waits for others to join its batch.
   */
  PREDICT_BATCH_WAIT_MS: z
    .union([z.literal('off'), int(0, 50)], { error: 'must be "off" or a whole number of ms from 0 to 50' })
    .default(0)
    .transform((value) => (value === 'off' ? null : value)),
  /** Attempts of a training job that fails with an error that may pass (crash, lost connection). */
  JOB_ATTEMPTS: int(1, 100).default(3),
  /** First retry delay; doubles with each further attempt. */
  JOB_BACKOFF_MS: int(0, 3_600_000).default(5_000),
  /** How often workers look for jobs whose worker died (BullMQ stalledInterval). */
  JOB_STALLED_INTERVAL_MS: int(500, 3_600_000).default(30_000),
  /** How many times a job may lose its worker (crash, GPU out-of-memory abort) before it fails. */
  JOB_MAX_STALLED: int(0, 100).default(3),
  /** Finished jobs are kept this long (and at most JOB_KEEP_COMPLETED completed ones). */
  JOB_KEEP_SECONDS: int(60, 365 * 24 * 3600).default(7 * 24 * 3600),
  JOB_KEEP_COMPLETED: int(1, 10_000_000).default(10_000),
  /** Most training runs one sweep (POST /v1/sweeps) may create: the grid's combinations. */
  SWEEP_MAX_COMBINATIONS: int(1, 10_000).default(64),
  /** On SIGTERM, how long the API and worker may take to finish in-flight work. */
  SHUTDOWN_GRACE_MS: int(0, 3_600_000).default(25_000),
  /**
   * Bearer keys the API accepts, comma-separated. Unset: the API is open (and warns);
   * NODE_ENV=production refuses to start the API without keys. Never logged.
   */
  API_KEYS: z.string().default('').transform(parseApiKeys),
  /**
   * Keys that may change the training queue from the job dashboard (retry, clean, add, empty,
   * obliterate, …), comma-separated. Unset: the dashboard is read-only. Never logged.
   */
  ADMIN_API_KEYS: z.string().default('').transform(parseApiKeys),
  /** Requests per key (per client IP without keys) in one RATE_LIMIT_WINDOW_MS; 0 turns limiting off. */
  RATE_LIMIT_MAX: int(0, 1_000_000_000).default(600),
  RATE_LIMIT_WINDOW_MS: int(100, 86_400_000).default(60_000),
  /** Longest time a client may take to send a whole request (node's server.requestTimeout); 0: none. */
  REQUEST_TIMEOUT_MS: int(0, 3_600_000).default(120_000),
  /** A socket silent this long is closed (fastify connectionTimeout); 0: never. */
  CONNECTION_TIMEOUT_MS: int(0, 3_600_000).default(90_000),
  /** Overload (503 + Retry-After) above this mean event-loop delay; 0 turns the check off. */
  OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: int(0, 600_000).default(1_000),
  /** Overload above this V8 heap use; default 90 % of the heap limit; 0 turns the check off. */
  OVERLOAD_MAX_HEAP_USED_BYTES: int(0, 2 ** 50).default(() => Math.floor(0.9 * getHeapStatistics().heap_size_limit)),
  /** Overload above this resident set size; 0 (default) turns the check off. */
  OVERLOAD_MAX_RSS_BYTES: int(0, 2 ** 50).default(0),
  /** How long an Idempotency-Key of POST /v1/training-jobs is remembered. */
  IDEMPOTENCY_TTL_SECONDS: int(1, 30 * 24 * 3600).default(24 * 3600),
});

/**
 * Bytes of predict body per allowed row when PREDICT_BODY_LIMIT is unset: a named row of 64
 * features with 10-character names and 8-digit values is about 1.4 kB, 256 raw values 2.6 kB,
 * so 4 KiB fits a few hundred features by name (JSON's share; the limit only guards memory).
 */
export const PREDICT_BYTES_PER_ROW = 4096;

export interface Config {
  env: string;
  port: number;
  host: string;
  redisUrl: string;
  redisPrefix: string;
  tfBackend: (typeof BACKEND_CHOICES)[number];
  logLevel: string;
  workerConcurrency: number;
  jobLockMs: number;
  bodyLimit: number;
  datasetBodyLimit: number;
  datasetChunkRows: number;
  trainingResidentChunks: number;
  datasetUploadTtlSeconds: number;
  /** Empty: the OS's temporary directory. */
  datasetSpoolDir: string;
  datasetStore: 'redis' | 's3';
  datasetS3: { bucket: string; endpoint: string; prefix: string };
  maxDatasetRows: number;
  maxDatasetColumns: number;
  maxPredictRows: number;
  predictBodyLimit: number;
  predictDriftK: number;
  modelCacheSize: number;
  modelCacheBytes: number;
  /** null: micro-batching off. */
  predictBatchWaitMs: number | null;
  shutdownGraceMs: number;
  /** Never log these. Empty: the API runs open. */
  apiKeys: string[];
  /** Never log these. Empty: the dashboard is read-only. */
  adminApiKeys: string[];
  rateLimitMax: number;
  rateLimitWindowMs: number;
  requestTimeoutMs: number;
  connectionTimeoutMs: number;
  overloadMaxEventLoopDelayMs: number;
  overloadMaxHeapUsedBytes: number;
  overloadMaxRssBytes: number;
  idempotencyTtlSeconds: number;
  jobAttempts: number;
  jobBackoffMs: number;
  jobStalledIntervalMs: number;
  jobMaxStalled: number;
  jobKeepSeconds: number;
  jobKeepCompleted: number;
  sweepMaxCombinations: number;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Shortest key accepted: 16 characters. `openssl rand -hex 32` makes a good one. */
const MIN_API_KEY_LENGTH = 16;

/**
 * "k1, k2,," → ["k1", "k2"]. Problems are reported by position, never by value: a message that
 * quoted a key would put it in logs.
 */
function parseApiKeys(raw: string, ctx: z.RefinementCtx): string[] {
  const keys = raw
    .split(',')
    .map((key) => key.trim())
    .filter((key) => key !== '');
  keys.forEach((key, index) => {
    if (key.length < MIN_API_KEY_LENGTH) {
      ctx.addIssue({
        code: 'custom',
        message: `key ${index + 1} has ${key.length} characters; use at least ${MIN_API_KEY_LENGTH} (e.g. openssl rand -hex 32)`,
      });
    } else if (!/^[\x21-\x7e]+$/.test(key)) {
      ctx.addIssue({ code: 'custom', message: `key ${index + 1} may contain only printable ASCII without spaces` });
    }
  });
  return keys;
}

/**
 * The API must not run open in production. Checked when the API is built rather than in
 * loadConfig, because workers (and their training processes) share this config and serve no
 * HTTP: they run with NODE_ENV=production and no keys.
 */
export function assertApiKeysConfigured(config: Config): void {
  if (config.env === 'production' && config.apiKeys.length === 0) {
    throw new ConfigError(
      'API_KEYS is not set: with NODE_ENV=production the API refuses to run without API keys. ' +
        'Set API_KEYS to one or more comma-separated keys (e.g. openssl rand -hex 32).',
    );
  }
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n  ${problems.join('\n  ')}`);
  }
  const e = parsed.data;
  if (e.DATASET_STORE === 's3' && e.DATASET_S3_BUCKET === '') {
    throw new ConfigError('invalid configuration:\n  DATASET_S3_BUCKET: required with DATASET_STORE=s3');
  }
  return {
    env: e.NODE_ENV,
    port: e.PORT,
    host: e.HOST,
    redisUrl: e.REDIS_URL,
    redisPrefix: e.REDIS_PREFIX,
    tfBackend: e.TF_BACKEND,
    logLevel: e.LOG_LEVEL,
    workerConcurrency: e.WORKER_CONCURRENCY,
    jobLockMs: e.JOB_LOCK_MS,
    bodyLimit: e.BODY_LIMIT,
    datasetBodyLimit: e.DATASET_BODY_LIMIT,
    datasetChunkRows: e.DATASET_CHUNK_ROWS,
    trainingResidentChunks: e.TRAINING_RESIDENT_CHUNKS,
    datasetUploadTtlSeconds: e.DATASET_UPLOAD_TTL_SECONDS,
    datasetSpoolDir: e.DATASET_SPOOL_DIR,
    datasetStore: e.DATASET_STORE,
    datasetS3: {
      bucket: e.DATASET_S3_BUCKET,
      endpoint: e.DATASET_S3_ENDPOINT,
      prefix: e.DATASET_S3_PREFIX || e.REDIS_PREFIX,
    },
    maxDatasetRows: e.MAX_DATASET_ROWS,
    maxDatasetColumns: e.MAX_DATASET_COLUMNS,
    maxPredictRows: e.MAX_PREDICT_ROWS,
    predictBodyLimit:
      e.PREDICT_BODY_LIMIT ?? Math.min(1 << 30, Math.max(e.BODY_LIMIT, e.MAX_PREDICT_ROWS * PREDICT_BYTES_PER_ROW)),
    predictDriftK: e.PREDICT_DRIFT_K,
    modelCacheSize: e.MODEL_CACHE_SIZE,
    modelCacheBytes: e.MODEL_CACHE_BYTES,
    predictBatchWaitMs: e.PREDICT_BATCH_WAIT_MS,
    shutdownGraceMs: e.SHUTDOWN_GRACE_MS,
    apiKeys: e.API_KEYS,
    adminApiKeys: e.ADMIN_API_KEYS,
    rateLimitMax: e.RATE_LIMIT_MAX,
    rateLimitWindowMs: e.RATE_LIMIT_WINDOW_MS,
    requestTimeoutMs: e.REQUEST_TIMEOUT_MS,
    connectionTimeoutMs: e.CONNECTION_TIMEOUT_MS,
    overloadMaxEventLoopDelayMs: e.OVERLOAD_MAX_EVENT_LOOP_DELAY_MS,
    overloadMaxHeapUsedBytes: e.OVERLOAD_MAX_HEAP_USED_BYTES,
    overloadMaxRssBytes: e.OVERLOAD_MAX_RSS_BYTES,
    idempotencyTtlSeconds: e.IDEMPOTENCY_TTL_SECONDS,
    jobAttempts: e.JOB_ATTEMPTS,
    jobBackoffMs: e.JOB_BACKOFF_MS,
    jobStalledIntervalMs: e.JOB_STALLED_INTERVAL_MS,
    jobMaxStalled: e.JOB_MAX_STALLED,
    jobKeepSeconds: e.JOB_KEEP_SECONDS,
    jobKeepCompleted: e.JOB_KEEP_COMPLETED,
    sweepMaxCombinations: e.SWEEP_MAX_COMBINATIONS,
  };
}

/** The config as environment variables again, for child processes (sandboxed processors). */
export function configToEnv(config: Config): Record<string, string> {
  return {
    NODE_ENV: config.env,
    PORT: String(config.port),
    HOST: config.host,
    REDIS_URL: config.redisUrl,
    REDIS_PREFIX: config.redisPrefix,
    TF_BACKEND: config.tfBackend,
    LOG_LEVEL: config.logLevel,
    WORKER_CONCURRENCY: String(config.workerConcurrency),
    JOB_LOCK_MS: String(config.jobLockMs),
    BODY_LIMIT: String(config.bodyLimit),
    DATASET_BODY_LIMIT: String(config.datasetBodyLimit),
    DATASET_CHUNK_ROWS: String(config.datasetChunkRows),
    TRAINING_RESIDENT_CHUNKS: String(config.trainingResidentChunks),
    DATASET_UPLOAD_TTL_SECONDS: String(config.datasetUploadTtlSeconds),
    DATASET_SPOOL_DIR: config.datasetSpoolDir,
    DATASET_STORE: config.datasetStore,
    DATASET_S3_BUCKET: config.datasetS3.bucket,
    DATASET_S3_ENDPOINT: config.datasetS3.endpoint,
    DATASET_S3_PREFIX: config.datasetS3.prefix,
    MAX_DATASET_ROWS: String(config.maxDatasetRows),
    MAX_DATASET_COLUMNS: String(config.maxDatasetColumns),
    MAX_PREDICT_ROWS: String(config.maxPredictRows),
    PREDICT_BODY_LIMIT: String(config.predictBodyLimit),
    PREDICT_DRIFT_K: String(config.predictDriftK),
    MODEL_CACHE_SIZE: String(config.modelCacheSize),
    MODEL_CACHE_BYTES: String(config.modelCacheBytes),
    PREDICT_BATCH_WAIT_MS: config.predictBatchWaitMs === null ? 'off' : String(config.predictBatchWaitMs),
    SHUTDOWN_GRACE_MS: String(config.shutdownGraceMs),
    // API_KEYS is left out on purpose: the training processes serve no HTTP and need no keys.
    RATE_LIMIT_MAX: String(config.rateLimitMax),
    RATE_LIMIT_WINDOW_MS: String(config.rateLimitWindowMs),
    REQUEST_TIMEOUT_MS: String(config.requestTimeoutMs),
    CONNECTION_TIMEOUT_MS: String(config.connectionTimeoutMs),
    OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: String(config.overloadMaxEventLoopDelayMs),
    OVERLOAD_MAX_HEAP_USED_BYTES: String(config.overloadMaxHeapUsedBytes),
    OVERLOAD_MAX_RSS_BYTES: String(config.overloadMaxRssBytes),
    IDEMPOTENCY_TTL_SECONDS: String(config.idempotencyTtlSeconds),
    JOB_ATTEMPTS: String(config.jobAttempts),
    JOB_BACKOFF_MS: String(config.jobBackoffMs),
    JOB_STALLED_INTERVAL_MS: String(config.jobStalledIntervalMs),
    JOB_MAX_STALLED: String(config.jobMaxStalled),
    JOB_KEEP_SECONDS: String(config.jobKeepSeconds),
    JOB_KEEP_COMPLETED: String(config.jobKeepCompleted),
    SWEEP_MAX_COMBINATIONS: String(config.sweepMaxCombinations),
  };
}
