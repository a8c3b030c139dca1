import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { getHeapStatistics } from 'node:v8';
import { ConfigError, configToEnv, ENV_VARIABLES, loadConfig, type Config } from '../../src/config';

/**
 * The environment → Config → environment mapping of src/config.ts, pinned value by value: every
 * default, every variable set, the rendering for child processes and the error messages.
 */

const KEY_1 = 'k'.repeat(16);
const KEY_2 = 'a1b2c3d4e5f6a7b8c9';

const DEFAULTS: Config = {
  env: 'development',
  port: 3000,
  host: '127.0.0.1',
  redisUrl: 'redis://127.0.0.1:6379',
  redisPrefix: 'fitwell',
  tfBackend: 'auto',
  logLevel: 'info',
  workerConcurrency: 1,
  jobLockMs: 30_000,
  bodyLimit: 1 << 20,
  datasetBodyLimit: 50 << 20,
  datasetChunkRows: 65_536,
  trainingResidentChunks: 2,
  datasetUploadTtlSeconds: 3_600,
  datasetSpoolDir: '',
  datasetStore: 'redis',
  datasetS3: { bucket: '', endpoint: '', prefix: 'fitwell' },
  maxDatasetRows: 1_000_000,
  maxDatasetColumns: 1_000,
  maxPredictRows: 10_000,
  predictBodyLimit: 10_000 * 4096,
  predictDriftK: 4,
  modelCacheSize: 100,
  modelCacheBytes: 256 * 1024 * 1024,
  predictBatchWaitMs: 0,
  shutdownGraceMs: 25_000,
  apiKeys: [],
  adminApiKeys: [],
  rateLimitMax: 600,
  rateLimitWindowMs: 60_000,
  requestTimeoutMs: 120_000,
  connectionTimeoutMs: 90_000,
  overloadMaxEventLoopDelayMs: 1_000,
  overloadMaxHeapUsedBytes: Math.floor(0.9 * getHeapStatistics().heap_size_limit),
  overloadMaxRssBytes: 0,
  overloadMaxExpensiveRequests: 8,
  idempotencyTtlSeconds: 24 * 3600,
  jobAttempts: 3,
  jobBackoffMs: 5_000,
  jobStalledIntervalMs: 30_000,
  jobMaxStalled: 3,
  jobKeepSeconds: 7 * 24 * 3600,
  jobKeepCompleted: 10_000,
  sweepMaxCombinations: 64,
};

/** Every variable set to a value other than its default. */
const EVERY_VARIABLE = {
  NODE_ENV: 'production',
  PORT: '8080',
  HOST: '0.0.0.0',
  REDIS_URL: 'rediss://redis.example:6380',
  REDIS_PREFIX: 'p_1.x-y',
  TF_BACKEND: 'cpu',
  LOG_LEVEL: 'warn',
  WORKER_CONCURRENCY: '4',
  JOB_LOCK_MS: '60000',
  BODY_LIMIT: '2048',
  DATASET_BODY_LIMIT: '4096',
  DATASET_CHUNK_ROWS: '2048',
  TRAINING_RESIDENT_CHUNKS: '3',
  DATASET_UPLOAD_TTL_SECONDS: '60',
  DATASET_SPOOL_DIR: '/var/spool/fitwell',
  DATASET_STORE: 's3',
  DATASET_S3_BUCKET: 'bucket',
  DATASET_S3_ENDPOINT: 'http://minio:9000',
  DATASET_S3_PREFIX: 'in-bucket',
  MAX_DATASET_ROWS: '100',
  MAX_DATASET_COLUMNS: '10',
  MAX_PREDICT_ROWS: '5',
  PREDICT_BODY_LIMIT: '5000',
  PREDICT_DRIFT_K: '2.5',
  MODEL_CACHE_SIZE: '7',
  MODEL_CACHE_BYTES: '2097152',
  PREDICT_BATCH_WAIT_MS: 'off',
  JOB_ATTEMPTS: '5',
  JOB_BACKOFF_MS: '100',
  JOB_STALLED_INTERVAL_MS: '1000',
  JOB_MAX_STALLED: '0',
  JOB_KEEP_SECONDS: '120',
  JOB_KEEP_COMPLETED: '9',
  SWEEP_MAX_COMBINATIONS: '8',
  SHUTDOWN_GRACE_MS: '10',
  API_KEYS: `${KEY_1},${KEY_2}`,
  ADMIN_API_KEYS: ` ${KEY_2} `,
  RATE_LIMIT_MAX: '0',
  RATE_LIMIT_WINDOW_MS: '1000',
  REQUEST_TIMEOUT_MS: '0',
  CONNECTION_TIMEOUT_MS: '5',
  OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: '0',
  OVERLOAD_MAX_HEAP_USED_BYTES: '123',
  OVERLOAD_MAX_RSS_BYTES: '456',
  OVERLOAD_MAX_EXPENSIVE_REQUESTS: '0',
  IDEMPOTENCY_TTL_SECONDS: '30',
};

const EVERY_VALUE: Config = {
  env: 'production',
  port: 8080,
  host: '0.0.0.0',
  redisUrl: 'rediss://redis.example:6380',
  redisPrefix: 'p_1.x-y',
  tfBackend: 'cpu',
  logLevel: 'warn',
  workerConcurrency: 4,
  jobLockMs: 60_000,
  bodyLimit: 2048,
  datasetBodyLimit: 4096,
  datasetChunkRows: 2048,
  trainingResidentChunks: 3,
  datasetUploadTtlSeconds: 60,
  datasetSpoolDir: '/var/spool/fitwell',
  datasetStore: 's3',
  datasetS3: { bucket: 'bucket', endpoint: 'http://minio:9000', prefix: 'in-bucket' },
  maxDatasetRows: 100,
  maxDatasetColumns: 10,
  maxPredictRows: 5,
  predictBodyLimit: 5000,
  predictDriftK: 2.5,
  modelCacheSize: 7,
  modelCacheBytes: 2_097_152,
  predictBatchWaitMs: null,
  shutdownGraceMs: 10,
  apiKeys: [KEY_1, KEY_2],
  adminApiKeys: [KEY_2],
  rateLimitMax: 0,
  rateLimitWindowMs: 1000,
  requestTimeoutMs: 0,
  connectionTimeoutMs: 5,
  overloadMaxEventLoopDelayMs: 0,
  overloadMaxHeapUsedBytes: 123,
  overloadMaxRssBytes: 456,
  overloadMaxExpensiveRequests: 0,
  idempotencyTtlSeconds: 30,
  jobAttempts: 5,
  jobBackoffMs: 100,
  jobStalledIntervalMs: 1000,
  jobMaxStalled: 0,
  jobKeepSeconds: 120,
  jobKeepCompleted: 9,
  sweepMaxCombinations: 8,
};

describe('loadConfig and configToEnv', () => {
  test('an empty environment gives every default', () => {
    assert.deepEqual(loadConfig({}), DEFAULTS);
  });

  test('every variable set is read into its field; variables fitwell does not know are ignored', () => {
    assert.deepEqual(loadConfig({ ...EVERY_VARIABLE, PATH: '/usr/bin', FITWELL_UNKNOWN: 'x' }), EVERY_VALUE);
  });

  test('values that default from others: the S3 prefix from REDIS_PREFIX, the predict body limit from the row limit', () => {
    const config = loadConfig({ REDIS_PREFIX: 'shared', MAX_PREDICT_ROWS: '10', BODY_LIMIT: '3000' });
    assert.equal(config.datasetS3.prefix, 'shared');
    assert.equal(config.predictBodyLimit, 40_960, '10 rows × 4 KiB, above BODY_LIMIT');
    assert.equal(
      loadConfig({ MAX_PREDICT_ROWS: '1', BODY_LIMIT: '8192' }).predictBodyLimit,
      8192,
      'at least BODY_LIMIT',
    );
    assert.equal(loadConfig({ MAX_PREDICT_ROWS: '1000000' }).predictBodyLimit, 1 << 30, 'at most 1 GiB');
    assert.equal(loadConfig({ DATASET_S3_PREFIX: '' }).datasetS3.prefix, 'fitwell');
  });

  test('configToEnv writes every variable but the keys, in the form loadConfig reads', () => {
    const env = configToEnv(loadConfig(EVERY_VARIABLE));
    const { API_KEYS: _keys, ADMIN_API_KEYS: _adminKeys, ...expected } = EVERY_VARIABLE;
    assert.deepEqual(env, expected);
    assert.deepEqual(configToEnv(loadConfig({})), {
      NODE_ENV: 'development',
      PORT: '3000',
      HOST: '127.0.0.1',
      REDIS_URL: 'redis://127.0.0.1:6379',
      REDIS_PREFIX: 'fitwell',
      TF_BACKEND: 'auto',
      LOG_LEVEL: 'info',
      WORKER_CONCURRENCY: '1',
      JOB_LOCK_MS: '30000',
      BODY_LIMIT: '1048576',
      DATASET_BODY_LIMIT: '52428800',
      DATASET_CHUNK_ROWS: '65536',
      TRAINING_RESIDENT_CHUNKS: '2',
      DATASET_UPLOAD_TTL_SECONDS: '3600',
      DATASET_SPOOL_DIR: '',
      DATASET_STORE: 'redis',
      DATASET_S3_BUCKET: '',
      DATASET_S3_ENDPOINT: '',
      // The filled-in value: a child reads the same prefix even if REDIS_PREFIX changed.
      DATASET_S3_PREFIX: 'fitwell',
      MAX_DATASET_ROWS: '1000000',
      MAX_DATASET_COLUMNS: '1000',
      MAX_PREDICT_ROWS: '10000',
      PREDICT_BODY_LIMIT: '40960000',
      PREDICT_DRIFT_K: '4',
      MODEL_CACHE_SIZE: '100',
      MODEL_CACHE_BYTES: '268435456',
      PREDICT_BATCH_WAIT_MS: '0',
      SHUTDOWN_GRACE_MS: '25000',
      RATE_LIMIT_MAX: '600',
      RATE_LIMIT_WINDOW_MS: '60000',
      REQUEST_TIMEOUT_MS: '120000',
      CONNECTION_TIMEOUT_MS: '90000',
      OVERLOAD_MAX_EVENT_LOOP_DELAY_MS: '1000',
      OVERLOAD_MAX_HEAP_USED_BYTES: String(DEFAULTS.overloadMaxHeapUsedBytes),
      OVERLOAD_MAX_RSS_BYTES: '0',
      OVERLOAD_MAX_EXPENSIVE_REQUESTS: '8',
      IDEMPOTENCY_TTL_SECONDS: '86400',
      JOB_ATTEMPTS: '3',
      JOB_BACKOFF_MS: '5000',
      JOB_STALLED_INTERVAL_MS: '30000',
      JOB_MAX_STALLED: '3',
      JOB_KEEP_SECONDS: '604800',
      JOB_KEEP_COMPLETED: '10000',
      SWEEP_MAX_COMBINATIONS: '64',
    });
  });

  test('loadConfig(configToEnv(config)) is the config again, without its keys', () => {
    for (const config of [loadConfig({}), loadConfig(EVERY_VARIABLE), loadConfig({ PREDICT_BATCH_WAIT_MS: '25' })]) {
      assert.deepEqual(loadConfig(configToEnv(config)), { ...config, apiKeys: [], adminApiKeys: [] });
    }
  });

  test('every bad value is reported, in the order of the variables, by name', () => {
    assert.throws(
      () =>
        loadConfig({
          API_KEYS: 'short, also-short',
          PREDICT_DRIFT_K: '-1',
          PORT: 'x',
          REDIS_URL: 'http://h',
          PREDICT_BATCH_WAIT_MS: '99',
          TF_BACKEND: 'gpu',
          REDIS_PREFIX: 'a b',
          WORKER_CONCURRENCY: '0',
        }),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.equal(error.name, 'ConfigError');
        assert.equal(
          error.message,
          [
            'invalid configuration:',
            'PORT: Invalid input: expected number, received NaN',
            'REDIS_URL: must start with redis:// or rediss://',
            'REDIS_PREFIX: may contain only letters, digits, _ . -',
            'TF_BACKEND: Invalid option: expected one of "auto"|"tensorflow-gpu"|"tensorflow"|"wasm"|"cpu"',
            'WORKER_CONCURRENCY: Too small: expected number to be >=1',
            'PREDICT_DRIFT_K: Too small: expected number to be >0',
            'PREDICT_BATCH_WAIT_MS: Too big: expected number to be <=50',
            'API_KEYS: key 1 has 5 characters; use at least 16 (e.g. openssl rand -hex 32)',
            'API_KEYS: key 2 has 10 characters; use at least 16 (e.g. openssl rand -hex 32)',
          ].join('\n  '),
        );
        return true;
      },
    );
    assert.throws(() => loadConfig({ DATASET_STORE: 's3' }), {
      name: 'ConfigError',
      message: 'invalid configuration:\n  DATASET_S3_BUCKET: required with DATASET_STORE=s3',
    });
    assert.throws(() => loadConfig({ PREDICT_BATCH_WAIT_MS: 'soon' }), {
      message: /PREDICT_BATCH_WAIT_MS: must be "off" or a whole number of ms from 0 to 50/,
    });
  });

  test('ENV_VARIABLES names every variable, in the order invalid ones are reported', () => {
    assert.deepEqual(ENV_VARIABLES, Object.keys(EVERY_VARIABLE));
  });

  test("README's configuration table lists every variable loadConfig reads, and no other", () => {
    const readme = readFileSync(join(__dirname, '..', '..', '..', 'README.md'), 'utf8');
    const start = readme.indexOf('\n## Configuration\n');
    const section = readme.slice(start, readme.indexOf('\n## ', start + 1));
    const listed = [...section.matchAll(/^\| `([A-Z0-9_]+)`(?: \/ `([A-Z0-9_]+)`)? \|/gm)].flatMap((m) =>
      m[2] ? [m[1], m[2]] : [m[1]],
    );
    assert.deepEqual([...listed].sort(), [...ENV_VARIABLES].sort());
  });
});
