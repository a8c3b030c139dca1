import { getHeapStatistics } from 'node:v8';
import { z } from 'zod';

/** TF_BACKEND's values; ml/backend.ts selects among them (config never loads tfjs). */
export const BACKEND_CHOICES = ['auto', 'tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];

/**
 * Environment → one typed config object, validated once at start: a bad value stops the process
 * with a message naming the variable, instead of failing at first use.
 *
 * Every setting is written once, in `SETTINGS` below: its place in `Config` (the property's
 * path), its environment variable, its zod schema (parsing the variable's string, with its
 * default) and how `configToEnv` writes it back for a child process. The env schema, the `Config`
 * type, `loadConfig` and `configToEnv` are derived from it; README's configuration table lists
 * the same variables (test/config/load-config.test.ts checks both ways).
 */
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

/** One environment variable and how it becomes, and is written back from, one field of Config. */
interface Setting<S extends z.ZodType = z.ZodType> {
  readonly env: string;
  readonly schema: S;
  /** The value as an environment variable again, for child processes; false: never passed on. */
  readonly toEnv: ((value: z.output<S>) => string) | false;
}

/** `String(value)` is how most settings are written back: numbers and strings read again as they were. */
function setting<S extends z.ZodType>(
  env: string,
  schema: S,
  toEnv: ((value: z.output<S>) => string) | false = String,
): Setting<S> {
  return { env, schema, toEnv };
}

/** Settings, or groups of them (a nested object of Config). */
interface SettingGroup {
  readonly [key: string]: Setting | SettingGroup;
}

const isSetting = (node: Setting | SettingGroup): node is Setting =>
  (node as { schema?: unknown }).schema instanceof z.ZodType;

/**
 * Config's fields, in the order of the environment variables (the order invalid ones are
 * reported in). The comment on each is the field's documentation.
 */
const SETTINGS = {
  /** `production` makes API_KEYS mandatory for the API (assertApiKeysConfigured). */
  env: setting('NODE_ENV', z.string().default('development')),
  port: setting('PORT', int(0, 65535).default(3000)),
  host: setting('HOST', z.string().min(1).default('127.0.0.1')),
  redisUrl: setting(
    'REDIS_URL',
    z
      .string()
      .regex(/^rediss?:\/\//, { error: 'must start with redis:// or rediss://' })
      .default('redis://127.0.0.1:6379'),
  ),
  /** Prefix of every Redis key fitwell writes (queues, datasets, models). */
  redisPrefix: setting(
    'REDIS_PREFIX',
    z
      .string()
      .regex(/^[A-Za-z0-9_.-]+$/, { error: 'may contain only letters, digits, _ . -' })
      .default('fitwell'),
  ),
  tfBackend: setting('TF_BACKEND', z.enum(BACKEND_CHOICES).default('auto')),
  logLevel: setting(
    'LOG_LEVEL',
    z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  ),
  workerConcurrency: setting('WORKER_CONCURRENCY', int(1, 64).default(1)),
  /** How long a worker's lock on a job lasts without renewal (BullMQ lockDuration). */
  jobLockMs: setting('JOB_LOCK_MS', int(1000, 3_600_000).default(30_000)),
  /** Largest JSON body for ordinary requests, in bytes. */
  bodyLimit: setting('BODY_LIMIT', int(1024, 1 << 30).default(1 << 20)),
  /** Largest dataset upload, in bytes (decompressed, for a gzip body); uploads are streamed. */
  datasetBodyLimit: setting('DATASET_BODY_LIMIT', int(1024, 2 ** 40).default(50 << 20)),
  /** Rows per stored dataset chunk: the API holds about one chunk per upload (README, "Data at scale"). */
  datasetChunkRows: setting('DATASET_CHUNK_ROWS', int(1024, 1 << 22).default(65_536)),
  /** Encoded dataset chunks a training process keeps in memory at once (README, "Training from chunks"). */
  trainingResidentChunks: setting('TRAINING_RESIDENT_CHUNKS', int(1, 1024).default(2)),
  /** Seconds an unfinished upload's chunks live in Redis: the cleanup after a crash mid-upload. */
  datasetUploadTtlSeconds: setting('DATASET_UPLOAD_TTL_SECONDS', int(10, 7 * 86_400).default(3_600)),
  /** Where an upload's bytes are spooled for a second pass (empty: the OS's temporary directory). */
  datasetSpoolDir: setting('DATASET_SPOOL_DIR', z.string().default('')),
  /** Where datasets' bytes live: Redis (default) or S3-compatible object storage. */
  datasetStore: setting('DATASET_STORE', z.enum(['redis', 's3']).default('redis')),
  datasetS3: {
    /** Required with DATASET_STORE=s3. */
    bucket: setting('DATASET_S3_BUCKET', z.string().default('')),
    /** Empty: AWS S3 itself (region from AWS_REGION); else e.g. http://minio:9000 (path-style). */
    endpoint: setting('DATASET_S3_ENDPOINT', z.string().default('')),
    /** Key prefix inside the bucket; empty: REDIS_PREFIX (filled in by loadConfig). */
    prefix: setting('DATASET_S3_PREFIX', z.string().default('')),
  },
  maxDatasetRows: setting('MAX_DATASET_ROWS', int(2, 10_000_000).default(1_000_000)),
  maxDatasetColumns: setting('MAX_DATASET_COLUMNS', int(1, 100_000).default(1_000)),
  maxPredictRows: setting('MAX_PREDICT_ROWS', int(1, 1_000_000).default(10_000)),
  /**
   * Largest predict body, in bytes. Unset: PREDICT_BYTES_PER_ROW per allowed row (40 MiB for
   * 10,000 rows), and never less than BODY_LIMIT (filled in by loadConfig).
   */
  predictBodyLimit: setting('PREDICT_BODY_LIMIT', int(1024, 1 << 30).optional()),
  /**
   * Input drift at predict (src/serving/drift.ts): a numeric value more than this many training
   * standard deviations from its training mean counts as out of range. 4.
   */
  predictDriftK: setting('PREDICT_DRIFT_K', z.coerce.number().positive().max(1_000).default(4)),
  /** Trained models kept in the API's memory for prediction. */
  modelCacheSize: setting('MODEL_CACHE_SIZE', int(1, 100_000).default(100)),
  /**
   * Estimated bytes of model memory the API's cache may hold (weights, scratch, metadata; see
   * src/serving/served-model.ts); least recently used models are evicted beyond it. 256 MiB.
   */
  modelCacheBytes: setting('MODEL_CACHE_BYTES', int(1 << 20, 2 ** 50).default(256 * 1024 * 1024)),
  /**
   * Micro-batching of concurrent predict requests to one model (src/serving/micro-batcher.ts):
   * "off" (null: micro-batching off), 0 (requests that arrived in the same event-loop turn share
   * one run; no timer) or the most ms a request waits for others to join its batch.
   */
  predictBatchWaitMs: setting(
    'PREDICT_BATCH_WAIT_MS',
    z
      .union([z.literal('off'), int(0, 50)], { error: 'must be "off" or a whole number of ms from 0 to 50' })
      .default(0)
      .transform((value) => (value === 'off' ? null : value)),
    (value) => (value === null ? 'off' : String(value)),
  ),
  /** Attempts of a training job that fails with an error that may pass (crash, lost connection). */
  jobAttempts: setting('JOB_ATTEMPTS', int(1, 100).default(3)),
  /** First retry delay; doubles with each further attempt. */
  jobBackoffMs: setting('JOB_BACKOFF_MS', int(0, 3_600_000).default(5_000)),
  /** How often workers look for jobs whose worker died (BullMQ stalledInterval). */
  jobStalledIntervalMs: setting('JOB_STALLED_INTERVAL_MS', int(500, 3_600_000).default(30_000)),
  /** How many times a job may lose its worker (crash, GPU out-of-memory abort) before it fails. */
  jobMaxStalled: setting('JOB_MAX_STALLED', int(0, 100).default(3)),
  /** Finished jobs are kept this long (and at most JOB_KEEP_COMPLETED completed ones). */
  jobKeepSeconds: setting('JOB_KEEP_SECONDS', int(60, 365 * 24 * 3600).default(7 * 24 * 3600)),
  jobKeepCompleted: setting('JOB_KEEP_COMPLETED', int(1, 10_000_000).default(10_000)),
  /** Most training runs one sweep (POST /v1/sweeps) may create: the grid's combinations. */
  sweepMaxCombinations: setting('SWEEP_MAX_COMBINATIONS', int(1, 10_000).default(64)),
  /** On SIGTERM, how long the API and worker may take to finish in-flight work. */
  shutdownGraceMs: setting('SHUTDOWN_GRACE_MS', int(0, 3_600_000).default(25_000)),
  /**
   * Bearer keys the API accepts, comma-separated. Unset (empty): the API is open (and warns);
   * NODE_ENV=production refuses to start the API without keys. Never logged, and never passed
   * to child processes: the training processes serve no HTTP and need no keys.
   */
  apiKeys: setting('API_KEYS', z.string().default('').transform(parseApiKeys), false),
  /**
   * Keys that may change the training queue from the job dashboard (retry, clean, add, empty,
   * obliterate, …), comma-separated. Unset (empty): the dashboard is read-only. Never logged, and
   * never passed to child processes.
   */
  adminApiKeys: setting('ADMIN_API_KEYS', z.string().default('').transform(parseApiKeys), false),
  /** Requests per key (per client IP without keys) in one RATE_LIMIT_WINDOW_MS; 0 turns limiting off. */
  rateLimitMax: setting('RATE_LIMIT_MAX', int(0, 1_000_000_000).default(600)),
  rateLimitWindowMs: setting('RATE_LIMIT_WINDOW_MS', int(100, 86_400_000).default(60_000)),
  /** Longest time a client may take to send a whole request (node's server.requestTimeout); 0: none. */
  requestTimeoutMs: setting('REQUEST_TIMEOUT_MS', int(0, 3_600_000).default(120_000)),
  /** A socket silent this long is closed (fastify connectionTimeout); 0: never. */
  connectionTimeoutMs: setting('CONNECTION_TIMEOUT_MS', int(0, 3_600_000).default(90_000)),
  /** Overload (503 + Retry-After) above this mean event-loop delay; 0 turns the check off. */
  overloadMaxEventLoopDelayMs: setting('OVERLOAD_MAX_EVENT_LOOP_DELAY_MS', int(0, 600_000).default(1_000)),
  /** Overload above this V8 heap use; default 90 % of the heap limit; 0 turns the check off. */
  overloadMaxHeapUsedBytes: setting(
    'OVERLOAD_MAX_HEAP_USED_BYTES',
    int(0, 2 ** 50).default(() => Math.floor(0.9 * getHeapStatistics().heap_size_limit)),
  ),
  /** Overload above this resident set size; 0 (default) turns the check off. */
  overloadMaxRssBytes: setting('OVERLOAD_MAX_RSS_BYTES', int(0, 2 ** 50).default(0)),
  /**
   * Expensive requests (uploads, submissions, reports, exports, large predicts) one API process
   * runs at once; more are 503s at once, so that they cannot starve cheap ones. 0: no limit.
   */
  overloadMaxExpensiveRequests: setting('OVERLOAD_MAX_EXPENSIVE_REQUESTS', int(0, 100_000).default(8)),
  /** How long an Idempotency-Key of POST /v1/training-jobs is remembered. */
  idempotencyTtlSeconds: setting('IDEMPOTENCY_TTL_SECONDS', int(1, 30 * 24 * 3600).default(24 * 3600)),
} satisfies SettingGroup;

/** What the settings read: a field per setting, a nested object per group. */
type ValuesOf<G> = {
  -readonly [K in keyof G]: G[K] extends Setting<infer S> ? z.output<S> : ValuesOf<G[K]>;
};

/**
 * The config: what the settings read, with the one value that defaults from others made
 * definite (predictBodyLimit; datasetS3.prefix is filled in too, but is a string either way).
 */
export type Config = Omit<ValuesOf<typeof SETTINGS>, 'predictBodyLimit'> & { predictBodyLimit: number };

/** Every setting with its path in Config, in the table's order. */
function flatten(group: SettingGroup, path: string[] = []): { path: string[]; setting: Setting }[] {
  return Object.entries(group).flatMap(([key, node]) =>
    isSetting(node) ? [{ path: [...path, key], setting: node }] : flatten(node, [...path, key]),
  );
}

const FLAT_SETTINGS = flatten(SETTINGS);

/** The environment variables fitwell reads, in the order invalid ones are reported. */
export const ENV_VARIABLES: readonly string[] = FLAT_SETTINGS.map(({ setting }) => setting.env);

const envSchema = z.object(Object.fromEntries(FLAT_SETTINGS.map(({ setting }) => [setting.env, setting.schema])));

/**
 * Bytes of predict body per allowed row when PREDICT_BODY_LIMIT is unset: a named row of 64
 * features with 10-character names and 8-digit values is about 1.4 kB, 256 raw values 2.6 kB,
 * so 4 KiB fits a few hundred features by name (JSON's share; the limit only guards memory).
 */
export const PREDICT_BYTES_PER_ROW = 4096;

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
  const read: Record<string, unknown> = {};
  for (const { path, setting } of FLAT_SETTINGS) {
    const parent = path.slice(0, -1).reduce<Record<string, unknown>>((object, key) => {
      object[key] ??= {};
      return object[key] as Record<string, unknown>;
    }, read);
    parent[path[path.length - 1]] = parsed.data[setting.env];
  }
  const values = read as ValuesOf<typeof SETTINGS>;
  if (values.datasetStore === 's3' && values.datasetS3.bucket === '') {
    throw new ConfigError(
      `invalid configuration:\n  ${SETTINGS.datasetS3.bucket.env}: required with ${SETTINGS.datasetStore.env}=s3`,
    );
  }
  return {
    ...values,
    datasetS3: { ...values.datasetS3, prefix: values.datasetS3.prefix || values.redisPrefix },
    predictBodyLimit:
      values.predictBodyLimit ??
      Math.min(1 << 30, Math.max(values.bodyLimit, values.maxPredictRows * PREDICT_BYTES_PER_ROW)),
  };
}

/**
 * The config as environment variables again, for child processes (sandboxed processors): every
 * setting but the keys, with the values loadConfig filled in (so a child reads the same config).
 */
export function configToEnv(config: Config): Record<string, string> {
  const env: Record<string, string> = {};
  for (const { path, setting } of FLAT_SETTINGS) {
    if (setting.toEnv === false) continue;
    const value = path.reduce<unknown>((object, key) => (object as Record<string, unknown>)[key], config);
    env[setting.env] = setting.toEnv(value);
  }
  return env;
}
