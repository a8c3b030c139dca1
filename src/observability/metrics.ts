import type { JobState, Queue } from 'bullmq';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { TrainingJobData, TrainingJobResult } from '../training-jobs/contract';
import type { BackendInfo } from '../ml/backend';
import type { ModelCache } from '../serving/model-cache';
import type { RedisWatchdog } from '../http/redis-watchdog';
import { FastHistogram } from './fast-histogram';

/** Queue states reported by `fitwell_queue_jobs`, as BullMQ names them. */
export const QUEUE_STATES: JobState[] = [
  'waiting',
  'prioritized',
  'delayed',
  'active',
  'waiting-children',
  'completed',
  'failed',
];

export interface MetricSources {
  queue: Queue<TrainingJobData, TrainingJobResult>;
  modelCache: ModelCache;
  backend: BackendInfo;
  /** The watchdog of the app's Redis connection: a scrape waits on a frozen Redis no longer than it takes to notice. */
  watchdog?: RedisWatchdog;
  onCollectError?: (error: Error) => void;
}

/**
 * The Prometheus metrics of one API process, in a registry of its own (several apps in one
 * process, as in the tests, never share or clash). Gauges that mirror state elsewhere (queue
 * depth, model cache) are read when Prometheus scrapes, so they are never stale.
 */
export class ServiceMetrics {
  readonly registry = new Registry();

  // The three metrics written on every request are fed through a fast path (observeHttp,
  // observePredict): see FastHistogram. They read the same at /metrics as prom-client's own.
  readonly httpDuration = new FastHistogram({
    name: 'fitwell_http_request_duration_seconds',
    help: 'HTTP request latency by route pattern (not raw URL), method and status code.',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  readonly predictDuration = new FastHistogram({
    name: 'fitwell_predict_duration_seconds',
    help: 'Time to run one predict request through the frozen model (preprocessing included, HTTP excluded).',
    labelNames: ['task'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });

  /** Rows predicted since the last scrape, by task: added to predictRows when it is read. */
  private readonly pendingRows = new Map<string, number>();

  readonly predictRows = new Counter({
    name: 'fitwell_predict_rows_total',
    help: 'Rows predicted.',
    labelNames: ['task'] as const,
    registers: [this.registry],
    // prom-client calls this before reading the counter (every scrape).
    collect: () => this.flushPredictRows(),
  });

  readonly storageFull = new Counter({
    name: 'fitwell_redis_storage_full_total',
    help: 'Requests answered 507 STORAGE_FULL: Redis refused a write for memory (maxmemory reached).',
    registers: [this.registry],
  });

  readonly predictWarnings = new Counter({
    name: 'fitwell_predict_warnings_total',
    help: 'Predict input accepted with a warning: unseen_category (encoded as missing), unknown_key (ignored).',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });

  readonly predictDrift = new Counter({
    name: 'fitwell_predict_drift_total',
    help:
      'Predict input values far from the training data, per model: out_of_range (a numeric value more than ' +
      'PREDICT_DRIFT_K training standard deviations from the training mean), unseen_category.',
    labelNames: ['model', 'kind'] as const,
    registers: [this.registry],
  });

  /** One request's drift counts (see src/serving/drift.ts). */
  observeDrift(modelId: string, outOfRange: number, unseenCategories: number): void {
    if (outOfRange > 0) this.predictDrift.inc({ model: modelId, kind: 'out_of_range' }, outOfRange);
    if (unseenCategories > 0) this.predictDrift.inc({ model: modelId, kind: 'unseen_category' }, unseenCategories);
  }

  readonly jobDuration = new Histogram({
    name: 'fitwell_training_job_duration_seconds',
    help: 'Wall time of a finished training job (its last attempt: start to finish), by outcome.',
    labelNames: ['outcome'] as const,
    buckets: [0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200],
    registers: [this.registry],
  });

  readonly jobWait = new Histogram({
    name: 'fitwell_training_job_queue_wait_seconds',
    help: 'Time a finished training job waited in the queue before its last attempt started.',
    buckets: [0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600],
    registers: [this.registry],
  });

  readonly epochDuration = new Histogram({
    name: 'fitwell_training_epoch_duration_seconds',
    help: 'Time of one training epoch (every epoch of every finished job).',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [this.registry],
  });

  readonly jobsFinished = new Counter({
    name: 'fitwell_training_jobs_finished_total',
    help: 'Training jobs finished, by outcome and the backend that trained them.',
    labelNames: ['outcome', 'backend'] as const,
    registers: [this.registry],
  });

  readonly sseClients = new Gauge({
    name: 'fitwell_training_event_streams',
    help: 'Open Server-Sent Events streams (GET /v1/training-jobs/:jobId/events).',
    registers: [this.registry],
  });

  /** Observes one HTTP request's latency (the hooks' one call per request). */
  observeHttp(method: string, route: string, statusCode: number, seconds: number): void {
    this.httpDuration.observeValues([method, route, String(statusCode)], seconds);
  }

  /** Observes one predict request: its duration and the rows it predicted. */
  observePredict(task: string, seconds: number, rows: number): void {
    this.predictDuration.observeValues([task], seconds);
    this.pendingRows.set(task, (this.pendingRows.get(task) ?? 0) + rows);
  }

  observePredictWarnings(counts: Record<string, number>): void {
    for (const [kind, count] of Object.entries(counts)) if (count > 0) this.predictWarnings.inc({ kind }, count);
  }

  private flushPredictRows(): void {
    for (const [task, rows] of this.pendingRows) this.predictRows.inc({ task }, rows);
    this.pendingRows.clear();
  }

  constructor(sources: MetricSources) {
    const { queue, modelCache, backend, watchdog, onCollectError } = sources;
    collectDefaultMetrics({ register: this.registry });

    new Gauge({
      name: 'fitwell_backend_info',
      help: 'The TensorFlow.js backend this process runs predictions on (value always 1).',
      labelNames: ['backend', 'provider', 'requested'] as const,
      registers: [this.registry],
    }).set({ backend: backend.name, provider: backend.provider, requested: backend.requested }, 1);

    new Gauge({
      name: 'fitwell_queue_jobs',
      help: 'Jobs in the training queue by state, read from Redis at scrape time.',
      labelNames: ['state'] as const,
      registers: [this.registry],
      async collect() {
        try {
          // Bounded: the queue's connection has no command timeout, so a frozen Redis would
          // otherwise hold the scrape (and /metrics) until it thaws. Cut short as soon as the
          // watchdog finds Redis frozen (at once while it is known to be), else after the timeout.
          const read = queue.getJobCounts(...QUEUE_STATES);
          const bounded = watchdog ? watchdog.bound(read, () => new Error('Redis does not answer')) : read;
          const counts = await withinMs(bounded, QUEUE_COUNTS_TIMEOUT_MS);
          for (const state of QUEUE_STATES) this.set({ state }, counts[state] ?? 0);
        } catch (error) {
          // No numbers rather than stale ones while Redis is away; the scrape itself still works.
          this.reset();
          onCollectError?.(error as Error);
        }
      },
    });

    new Gauge({
      name: 'fitwell_model_cache_models',
      help: 'Trained models held in this process for prediction.',
      registers: [this.registry],
      collect() {
        this.set(modelCache.size);
      },
    });

    new Gauge({
      name: 'fitwell_model_cache_capacity',
      help: 'The most models this process keeps for prediction (MODEL_CACHE_SIZE).',
      registers: [this.registry],
    }).set(modelCache.capacity);
  }
}

/** How long a scrape waits for the queue's counts before it reports none (ms). */
const QUEUE_COUNTS_TIMEOUT_MS = 750;

function withinMs<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the queue's counts did not come in ${ms} ms`)), ms);
  });
  return Promise.race([work, expired]).finally(() => clearTimeout(timer));
}
