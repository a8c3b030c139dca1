import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Queue, QueueEvents, type Job } from 'bullmq';
import { configToEnv, loadConfig, type Config } from '../src/config';
import { bullmqConnection } from '../src/store/redis';
import { TRAINING_QUEUE } from '../jobs/training-queue';
import type { JobTimings, TrainingJobData, TrainingJobResult } from '../src/training-jobs/contract';
import { referenceDataset, referenceRequest } from './environment';
import type { BenchOptions } from './options';
import { median, moveWarning, spread, type Spread } from './stats';
import { FitwellPeer } from './training';

/**
 * Training through the API, as deployed: `node dist/src/main.js api` and `… worker` as their own
 * processes with the service's production settings (NODE_ENV=production, LOG_LEVEL info, API
 * keys, the default rate limit), a JSON dataset POSTed over HTTP, and the reference network's
 * job (the request of the training bench, for `apiEpochs` epochs at `apiBatchSize`; everything
 * else the schema's defaults) POSTed with a key.
 *
 * - api: samples/s from active to completed (BullMQ's processedOn → finishedOn) against the
 *   training step of the same network in this process, in alternating turns; and where the
 *   job's time went (JobTimings, which the processor returns with every job).
 * - cores: two such jobs at once on a worker with WORKER_CONCURRENCY=2, in the same turns: total
 *   samples/s (both jobs' samples over first active → last completed) against one job's.
 */

export interface JobRun {
  jobId: string;
  /** BullMQ's processedOn and finishedOn (the worker's clock, epoch ms). */
  activeAt: number;
  completedAt: number;
  samplesPerSecond: number;
  timings?: JobTimings;
}

/** Per-epoch means of a job's parts, in ms (JobTimings ÷ its epochs), and its one-off parts. */
export interface JobParts {
  epochMs: number;
  stepMs: number;
  cancelChecksMs: number;
  metricsMs: number;
  checkpointMs: number;
  publishMs: number;
  /** active → the processor entered (IPC to the sandboxed process; its start when fresh). */
  toProcessorMs: number;
  setupMs: number;
  finishMs: number;
  /** The processor's return → completed (the result sent back and stored). */
  toCompletedMs: number;
}

export interface ApiResults {
  rows: number;
  epochs: number;
  batchSize: number;
  settings: Record<string, string>;
  /** The first job, on a fresh sandboxed process: its start, and its parts. */
  coldJob?: JobRun & { parts?: JobParts; processStartMs?: number };
  /** One job at a time: the timed turns. */
  single: JobRun[];
  singleSpread?: Spread;
  /** The training step in this process, same network and batch size, one per turn. */
  stepSpread?: Spread;
  /** Per turn: job samples/s ÷ step samples/s. */
  ratio?: Spread;
  /** Medians over the timed single jobs. */
  parts?: JobParts;
  /** Two jobs at once: total samples/s per turn, and ÷ the same turn's single job. */
  pairs: JobRun[][];
  pairSpread?: Spread;
  pairRatio?: Spread;
  warnings: string[];
}

const MAIN = join(__dirname, '..', 'src', 'main.js');
/** Epochs of the in-process step per turn (after one warm-up epoch). */
const STEP_EPOCHS = 2;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

interface ServiceProcess {
  child: ChildProcess;
  output: () => string;
  exited: Promise<unknown>;
}

/** A service process; its output kept (the last 256 KiB) for the error message if it fails. */
function startProcess(mode: 'api' | 'worker', env: NodeJS.ProcessEnv): ServiceProcess {
  let output = '';
  const child = spawn(process.execPath, [MAIN, mode], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const keep = (d: Buffer) => {
    output += d.toString();
    if (output.length > 512 * 1024) output = output.slice(-256 * 1024);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  return { child, output: () => output, exited: new Promise((resolve) => child.once('exit', resolve)) };
}

async function stopProcess(p: ServiceProcess): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.child.kill('SIGTERM');
  const timer = setTimeout(() => p.child.kill('SIGKILL'), 10_000);
  await p.exited;
  clearTimeout(timer);
}

async function waitFor(
  what: string,
  check: () => Promise<boolean> | boolean,
  p: ServiceProcess,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (p.child.exitCode !== null) throw new Error(`${what}: the process exited:\n${p.output().slice(-4000)}`);
    if (Date.now() > deadline)
      throw new Error(`${what}: not within ${timeoutMs / 1000} s:\n${p.output().slice(-4000)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function partsOf(run: JobRun): JobParts | undefined {
  const t = run.timings;
  if (!t || t.epochs === 0) return undefined;
  const per = (ms: number) => ms / t.epochs;
  const perEpochTotal = t.stepMs + t.metricsMs + t.checkpointMs + t.publishMs;
  return {
    epochMs: per(perEpochTotal),
    stepMs: per(t.stepMs),
    cancelChecksMs: per(t.cancelChecksMs),
    metricsMs: per(t.metricsMs),
    checkpointMs: per(t.checkpointMs),
    publishMs: per(t.publishMs),
    toProcessorMs: t.enteredAt - run.activeAt,
    setupMs: t.setupMs,
    finishMs: t.finishMs,
    toCompletedMs: run.completedAt - (t.enteredAt + t.setupMs + perEpochTotal + t.finishMs),
  };
}

function medianParts(parts: JobParts[]): JobParts | undefined {
  if (!parts.length) return undefined;
  const keys = Object.keys(parts[0]) as (keyof JobParts)[];
  return Object.fromEntries(keys.map((k) => [k, median(parts.map((p) => p[k]))])) as unknown as JobParts;
}

export async function benchApi(
  config: Config,
  options: BenchOptions,
  suites: { api: boolean; cores: boolean },
  log: (line: string) => void,
): Promise<ApiResults> {
  const { apiRows: rows, apiEpochs: epochs, apiBatchSize: batchSize, apiTurns: turns } = options;
  const apiKey = randomBytes(24).toString('hex');
  const port = await freePort();
  const defaults = loadConfig({});
  // Production settings: the defaults but for the bench's Redis prefix and port.
  const settings = {
    NODE_ENV: 'production',
    LOG_LEVEL: 'info',
    RATE_LIMIT_MAX: String(defaults.rateLimitMax),
    WORKER_CONCURRENCY: suites.cores ? '2' : String(defaults.workerConcurrency),
  };
  const env = { ...process.env, ...configToEnv(config), ...settings, PORT: String(port), API_KEYS: apiKey };
  const results: ApiResults = {
    rows,
    epochs,
    batchSize,
    settings: { ...settings, API_KEYS: '(one key)' },
    single: [],
    pairs: [],
    warnings: [],
  };
  const base = `http://127.0.0.1:${port}`;
  const headers = { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' };
  const connection = bullmqConnection(config.redisUrl, 'blocking');
  const queue = new Queue<TrainingJobData, TrainingJobResult>(TRAINING_QUEUE, {
    connection,
    prefix: config.redisPrefix,
  });
  const events = new QueueEvents(TRAINING_QUEUE, { connection, prefix: config.redisPrefix });
  const api = startProcess('api', env);
  const worker = startProcess('worker', env);
  const step = new FitwellPeer(rows);
  try {
    await events.waitUntilReady();
    await waitFor(
      'the API',
      () =>
        fetch(`${base}/readyz`).then(
          (r) => r.status === 200,
          () => false,
        ),
      api,
    );
    await waitFor('the worker', () => /training worker consuming/.test(worker.output()), worker);

    log(`api: POST /v1/datasets (${rows} rows)`);
    const upload = await fetch(`${base}/v1/datasets`, {
      method: 'POST',
      headers,
      body: JSON.stringify(referenceDataset(rows)),
    });
    if (upload.status !== 201) throw new Error(`dataset upload: ${upload.status} ${await upload.text()}`);
    const datasetId = ((await upload.json()) as { id: string }).id;
    const body = JSON.stringify(referenceRequest(datasetId, batchSize, epochs));

    const post = async (): Promise<Job<TrainingJobData, TrainingJobResult>> => {
      const res = await fetch(`${base}/v1/training-jobs`, { method: 'POST', headers, body });
      if (res.status !== 202) throw new Error(`training job: ${res.status} ${await res.text()}`);
      const { jobId } = (await res.json()) as { jobId: string };
      const job = await queue.getJob(jobId);
      if (!job) throw new Error(`job ${jobId} not found`);
      return job;
    };
    const finish = async (job: Job<TrainingJobData, TrainingJobResult>): Promise<JobRun> => {
      await job.waitUntilFinished(events, 600_000);
      const done = await queue.getJob(job.id!);
      if (!done?.processedOn || !done.finishedOn) throw new Error(`job ${job.id} has no processedOn/finishedOn`);
      const wallMs = done.finishedOn - done.processedOn;
      return {
        jobId: done.id!,
        activeAt: done.processedOn,
        completedAt: done.finishedOn,
        samplesPerSecond: (rows * epochs) / (wallMs / 1000),
        timings: done.returnvalue.timings,
      };
    };
    const one = async () => finish(await post());
    const two = async () => {
      const jobs = [await post(), await post()];
      return Promise.all(jobs.map(finish));
    };
    const pairRate = (pair: JobRun[]) =>
      (pair.length * rows * epochs) /
      ((Math.max(...pair.map((r) => r.completedAt)) - Math.min(...pair.map((r) => r.activeAt))) / 1000);
    const stepRate = async () => {
      const times = await step.run(batchSize, STEP_EPOCHS);
      return rows / (median(times.stepMs) / 1000);
    };

    log(`api: warm-up job (a fresh sandboxed process), ${epochs} epochs of ${rows} rows at batch ${batchSize}`);
    const cold = await one();
    results.coldJob = {
      ...cold,
      parts: partsOf(cold),
      ...(cold.timings ? { processStartMs: cold.timings.enteredAt - cold.timings.processStartedAt } : {}),
    };
    if (suites.cores) {
      log('cores: warm-up pair (starts the second sandboxed process)');
      await two();
    }
    await step.run(batchSize, 1);

    const stepTurns: number[] = [];
    const ratios: number[] = [];
    const pairTurns: number[] = [];
    const pairRatios: number[] = [];
    for (let turn = 0; turn < turns; turn++) {
      log(`api${suites.cores ? ' + cores' : ''}: turn ${turn + 1} of ${turns}`);
      const parts: (() => Promise<void>)[] = [];
      let single: JobRun | undefined;
      let stepTurn: number | undefined;
      let pair: JobRun[] | undefined;
      parts.push(async () => void (single = await one()));
      if (suites.api) parts.push(async () => void (stepTurn = await stepRate()));
      if (suites.cores) parts.push(async () => void (pair = await two()));
      // A rotating order, like the other benches' turns.
      for (let i = 0; i < parts.length; i++) await parts[(i + turn) % parts.length]();
      results.single.push(single!);
      if (stepTurn !== undefined) {
        stepTurns.push(stepTurn);
        ratios.push(single!.samplesPerSecond / stepTurn);
      }
      if (pair) {
        results.pairs.push(pair);
        pairTurns.push(pairRate(pair));
        pairRatios.push(pairRate(pair) / single!.samplesPerSecond);
      }
    }
    results.singleSpread = spread(results.single.map((r) => r.samplesPerSecond));
    results.parts = medianParts(results.single.map(partsOf).filter((p): p is JobParts => !!p));
    const warn = (name: string, s: Spread) => {
      const w = moveWarning(name, s);
      if (w) results.warnings.push(w);
    };
    warn('through the API, one job', results.singleSpread);
    if (stepTurns.length) {
      results.stepSpread = spread(stepTurns);
      results.ratio = spread(ratios);
      warn('in-process step (api suite)', results.stepSpread);
    }
    if (pairTurns.length) {
      results.pairSpread = spread(pairTurns);
      results.pairRatio = spread(pairRatios);
      warn('through the API, two jobs at once', results.pairSpread);
    }
    return results;
  } finally {
    await step.close();
    await Promise.all([stopProcess(api), stopProcess(worker)]);
    await events.close();
    await queue.close();
  }
}
