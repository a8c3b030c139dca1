import { request as httpRequest, Agent } from 'node:http';
import { QueueEvents } from 'bullmq';
import { buildApp } from '../src/app';
import type { Config } from '../src/config';
import { bullmqConnection } from '../src/store/redis';
import { createTrainingWorker } from '../jobs/training-worker';
import { TRAINING_QUEUE } from '../jobs/training-queue';
import type { BenchOptions } from './options';
import { median, percentile } from './stats';

export interface QueueResults {
  jobs: number;
  /** POST sent → 'active' event, in ms, per job. */
  latenciesMs: number[];
  p50Ms: number;
  p99Ms: number;
  /** POST sent → 202 received, for comparison. */
  postP50Ms: number;
  /** Timed jobs that failed instead of completing (they still count: they became active). */
  failed: number;
}

const WARMUP_JOBS = 3;

/** A tiny learnable dataset: y = "yes" when a·b > 0. */
function tinyCsv(rows: number): string {
  const lines = ['a,b,y'];
  for (let i = 0; i < rows; i++) {
    const a = Math.sin(i * 1.3);
    const b = Math.cos(i * 0.7);
    lines.push(`${a.toFixed(3)},${b.toFixed(3)},${a * b > 0 ? 'yes' : 'no'}`);
  }
  return lines.join('\n') + '\n';
}

function post(
  agent: Agent,
  port: number,
  path: string,
  body: string,
  type: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port, path, method: 'POST', agent, headers: { 'content-type': type } },
      (res) => {
        let data = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (data += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: data }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * POST /v1/training-jobs → the job active on a worker, with the real API listening on
 * 127.0.0.1 and a real worker (sandboxed processor) that is idle when each job is posted: jobs
 * go one at a time, each posted after the previous one completed. The active time is the
 * 'active' event's stream id, which Redis stamps (in ms, with its own clock — the same machine's)
 * in the script that moves the job to active; the send time is taken just before the request.
 */
export async function benchQueue(
  config: Config,
  options: BenchOptions,
  log: (line: string) => void,
): Promise<QueueResults> {
  const app = await buildApp(config);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as { port: number };
  const events = new QueueEvents(TRAINING_QUEUE, {
    connection: bullmqConnection(config.redisUrl, 'blocking'),
    prefix: config.redisPrefix,
  });
  const worker = createTrainingWorker(config);
  const agent = new Agent({ keepAlive: true });
  const active = new Map<string, number>();
  const finished = new Map<string, () => void>();
  const done = new Set<string>();
  const failedJobs = new Set<string>();
  events.on('active', ({ jobId }, id) => active.set(jobId, Number(id.split('-')[0])));
  const onFinished = ({ jobId }: { jobId: string }) => {
    done.add(jobId);
    finished.get(jobId)?.();
  };
  events.on('completed', onFinished);
  events.on('failed', (event) => {
    failedJobs.add(event.jobId);
    onFinished(event);
  });
  try {
    await events.waitUntilReady();
    await worker.waitUntilReady();
    const upload = await post(agent, port, '/v1/datasets', tinyCsv(40), 'text/csv');
    if (upload.status !== 201) throw new Error(`dataset upload: ${upload.status} ${upload.body}`);
    const datasetId = (JSON.parse(upload.body) as { id: string }).id;
    const body = JSON.stringify({
      datasetId,
      target: 'y',
      task: 'classification',
      model: { hidden: [{ units: 4 }] },
      training: { epochs: 1, batchSize: 16, seed: 1 },
    });
    const latenciesMs: number[] = [];
    const postMs: number[] = [];
    let failed = 0;
    log(`queue: ${WARMUP_JOBS} warm-up jobs, then ${options.queueJobs} timed`);
    for (let i = 0; i < WARMUP_JOBS + options.queueJobs; i++) {
      const sent = Date.now();
      const postStarted = performance.now();
      const response = await post(agent, port, '/v1/training-jobs', body, 'application/json');
      const postTook = performance.now() - postStarted;
      if (response.status !== 202) throw new Error(`training job: ${response.status} ${response.body}`);
      const { jobId } = JSON.parse(response.body) as { jobId: string };
      if (!done.has(jobId)) await new Promise<void>((resolve) => finished.set(jobId, resolve));
      finished.delete(jobId);
      const activeAt = active.get(jobId);
      if (activeAt === undefined) throw new Error(`no active event for job ${jobId}`);
      if (i >= WARMUP_JOBS) {
        latenciesMs.push(activeAt - sent);
        postMs.push(postTook);
        if (failedJobs.has(jobId)) failed++;
      }
    }
    return {
      jobs: latenciesMs.length,
      latenciesMs,
      p50Ms: median(latenciesMs),
      p99Ms: percentile(latenciesMs, 99),
      postP50Ms: median(postMs),
      failed,
    };
  } finally {
    agent.destroy();
    await worker.close();
    await events.close();
    await app.close();
  }
}
