import { z } from 'zod';
import { BACKEND_CHOICES } from './ml/backend';

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
  /** Largest dataset upload, in bytes. */
  DATASET_BODY_LIMIT: int(1024, 1 << 30).default(50 << 20),
  MAX_DATASET_ROWS: int(2, 10_000_000).default(1_000_000),
  MAX_DATASET_COLUMNS: int(1, 100_000).default(1_000),
  MAX_PREDICT_ROWS: int(1, 1_000_000).default(10_000),
  /** Trained models kept in the API's memory for prediction. */
  MODEL_CACHE_SIZE: int(1, 100_000).default(100),
  /** On SIGTERM, how long the API and worker may take to finish in-flight work. */
  SHUTDOWN_GRACE_MS: int(0, 3_600_000).default(25_000),
});

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
  maxDatasetRows: number;
  maxDatasetColumns: number;
  maxPredictRows: number;
  modelCacheSize: number;
  shutdownGraceMs: number;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n  ${problems.join('\n  ')}`);
  }
  const e = parsed.data;
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
    maxDatasetRows: e.MAX_DATASET_ROWS,
    maxDatasetColumns: e.MAX_DATASET_COLUMNS,
    maxPredictRows: e.MAX_PREDICT_ROWS,
    modelCacheSize: e.MODEL_CACHE_SIZE,
    shutdownGraceMs: e.SHUTDOWN_GRACE_MS,
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
    MAX_DATASET_ROWS: String(config.maxDatasetRows),
    MAX_DATASET_COLUMNS: String(config.maxDatasetColumns),
    MAX_PREDICT_ROWS: String(config.maxPredictRows),
    MODEL_CACHE_SIZE: String(config.modelCacheSize),
    SHUTDOWN_GRACE_MS: String(config.shutdownGraceMs),
  };
}
