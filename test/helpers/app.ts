import { QueueEvents, type Worker, type WorkerOptions } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import supertest from 'supertest';
import { buildApp, type BuildOptions } from '../../src/app';
import type { Config } from '../../src/config';
import { bullmqConnection } from '../../src/store/redis';
import { createTrainingWorker } from '../../jobs/training-worker';
import { TRAINING_QUEUE } from '../../jobs/training-queue';
import { deletePrefix, testConfig } from './config';
import { waitForReady } from './ready';

export interface TestService {
  config: Config;
  app: FastifyInstance;
  http: ReturnType<typeof supertest>;
  worker?: Worker;
  events: QueueEvents;
  /** Resolves with the job's result when it completes; rejects with its reason when it fails. */
  waitForJob(jobId: string, timeoutMs?: number): Promise<unknown>;
  /** Resolves once the job reports having finished `epoch` epochs (a real progress event). */
  waitForEpoch(jobId: string, epoch: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * The real app (not listening; supertest drives its server), a real worker with sandboxed
 * training processes, and QueueEvents to wait on real completed/failed events.
 */
export async function startService(
  options: {
    worker?: boolean;
    env?: Record<string, string>;
    workerOptions?: Partial<WorkerOptions>;
    /** buildApp's options, e.g. a logStream to read the app's log lines. */
    build?: BuildOptions;
  } = {},
): Promise<TestService> {
  const config = testConfig(options.env);
  const app = await buildApp(config, options.build);
  await app.ready();
  const events = new QueueEvents(TRAINING_QUEUE, {
    connection: bullmqConnection(config.redisUrl, 'blocking'),
    prefix: config.redisPrefix,
  });
  await events.waitUntilReady();
  const worker = options.worker === false ? undefined : createTrainingWorker(config, options.workerOptions);
  if (worker) await worker.waitUntilReady();
  // What a load balancer waits on: the app's Redis connections are up, so no route answers 503.
  await waitForReady(supertest(app.server));
  return {
    config,
    app,
    http: supertest(app.server),
    worker,
    events,
    async waitForJob(jobId, timeoutMs = 120_000) {
      const job = await app.trainingQueue.getJob(jobId);
      if (!job) throw new Error(`no job ${jobId}`);
      return job.waitUntilFinished(events, timeoutMs);
    },
    waitForEpoch(jobId, epoch) {
      return new Promise((resolve) => {
        const onProgress = ({ jobId: id, data }: { jobId: string; data: unknown }) => {
          if (id === jobId && typeof data === 'object' && data && (data as { epoch: number }).epoch >= epoch) {
            events.off('progress', onProgress);
            resolve();
          }
        };
        events.on('progress', onProgress);
      });
    },
    async close() {
      await worker?.close();
      await events.close();
      await app.close();
      await deletePrefix(config);
    },
  };
}

/** A CSV where label = "yes" when a·b > 0 plus a useless categorical column; learnable. */
export function xorCsv(rows: number, seed = 1): string {
  let s = seed;
  const rand = () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648;
  };
  const lines = ['a,b,color,label'];
  for (let i = 0; i < rows; i++) {
    const a = rand() * 2 - 1;
    const b = rand() * 2 - 1;
    const color = rand() < 0.5 ? 'red' : 'blue';
    lines.push(`${a.toFixed(4)},${b.toFixed(4)},${color},${a * b > 0 ? 'yes' : 'no'}`);
  }
  return lines.join('\n') + '\n';
}

/** y = 3a − 2b + 5 + small noise, for regression. */
export function linearCsv(rows: number): string {
  const lines = ['a,b,y'];
  for (let i = 0; i < rows; i++) {
    const a = Math.sin(i * 1.7);
    const b = Math.cos(i * 0.9);
    lines.push(`${a.toFixed(4)},${b.toFixed(4)},${(3 * a - 2 * b + 5 + 0.01 * Math.sin(i * 7.3)).toFixed(4)}`);
  }
  return lines.join('\n') + '\n';
}
