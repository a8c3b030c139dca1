import { spawn, type ChildProcess } from 'node:child_process';
import { createReadStream, createWriteStream, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configToEnv, type Config } from '../src/config';
import { createRedis, waitForRedis } from '../src/store/redis';
import type { BenchOptions } from './options';

/**
 * `npm run bench -- data` (issue 16): generated CSVs of the sizes asked for (--data-sizes, MB)
 * uploaded to a real API process (`node dist/src/main.js api`, a fresh one per size) by a
 * streaming HTTP client. Reported per size: MB/s of CSV from the first byte sent to the 201, the
 * API's peak resident memory (VmHWM from /proc, the kernel's high-water mark over the process's
 * life, so it includes start-up), its RSS before the upload, and Redis's MEMORY USAGE of what was
 * stored (chunks and metadata) against the CSV's size and against rows × columns × 4 bytes.
 *
 * Then, on the largest size (with --data-train-epochs above 0), a worker process
 * (`node dist/src/main.js worker`) trains a classifier of `group` on the stored dataset from its
 * chunks and the model predicts 100 rows through the API. First the same request trains for
 * REFERENCE_EPOCHS epochs on a 100,000-row CSV of the same generator (uploaded unmeasured,
 * deleted after), for the issue's comparison of samples/s on the large dataset with 100k rows.
 * Reported: the job's wall time from the 202 to completed, samples/s over the epochs (training
 * rows × epochs ÷ the epochs' durationMs) and its ratio to the reference's, the peak RSS of the
 * worker and of its training process (VmHWM, read every 0.5 s and once at the end) and of the API
 * during training, and the predict request's status and wall time. The datasets are left in
 * Redis under the bench's prefix, which the bench deletes at the end.
 */

export interface DataRun {
  targetMb: number;
  csvBytes: number;
  rows: number;
  columns: number;
  seconds: number;
  mbPerSecond: number;
  apiRssBeforeMb: number;
  apiPeakRssMb: number;
  storedBytes: number;
  storedVsCsv: number;
  storedVsFloat32: number;
}

/** One training job's figures: samples/s over its epochs (training rows × epochs ÷ Σ durationMs). */
export interface DataTrainingJob {
  rows: number;
  epochs: number;
  trainRows: number;
  jobSeconds: number;
  epochSeconds: number;
  samplesPerSecond: number;
}

export interface DataTrainingRun {
  targetMb: number;
  rows: number;
  /** Stored chunks of the dataset (DATASET_CHUNK_ROWS rows each). */
  chunks: number;
  epochs: number;
  trainRows: number;
  jobSeconds: number;
  epochSeconds: number;
  samplesPerSecond: number;
  /**
   * The same request on a dataset of REFERENCE_ROWS rows of the same generator, on the same worker
   * just before (the "within 10 % of the same network on 100k rows"), and the ratio.
   */
  reference?: DataTrainingJob;
  samplesPerSecondVsReference?: number;
  workerPeakRssMb: number;
  trainingProcessPeakRssMb: number;
  apiPeakRssMb: number;
  predictStatus: number;
  predictMs: number;
}

export interface DataResults {
  runs: DataRun[];
  training?: DataTrainingRun;
}

/** The training request of the bench's training run: a small network, batches of 256. */
const trainingRequest = (datasetId: string, epochs: number) => ({
  datasetId,
  target: 'group',
  task: 'classification',
  model: { hidden: [{ units: 32 }, { units: 16 }] },
  training: { epochs, batchSize: 256, learningRate: 0.01, seed: 1, validationSplit: 0.1 },
});

/** Rows of the reference dataset the large one's samples/s is compared with. */
const REFERENCE_ROWS = 100_000;
/**
 * Epochs of the reference job. A 100k-row epoch takes about half a second on a quiet machine, so
 * 3 epochs (1.6 s) gave rates 136k–171k samples/s in two runs of one morning: too short to compare
 * with a large run's tens of seconds; 20 epochs (1.8M samples, about 10 s) steady it.
 */
const REFERENCE_EPOCHS = 20;
/** How long one training job may take before the bench gives up on it (a 1 GB job on a loaded 2-core VM is well under). */
const JOB_DEADLINE_MS = 3 * 3600_000;

/** 29 numeric columns and one categorical column of 8 values: a typical tabular file. */
const NUMERIC_COLUMNS = 29;
const MAIN = join(__dirname, '..', 'src', 'main.js');

async function generate(
  path: string,
  targetBytes: number,
  maxRows = Infinity,
): Promise<{ rows: number; bytes: number }> {
  const out = createWriteStream(path);
  const header = [...Array.from({ length: NUMERIC_COLUMNS }, (_, c) => `x${c}`), 'group'].join(',') + '\n';
  out.write(header);
  let bytes = header.length;
  let rows = 0;
  let s = 12345;
  while (bytes < targetBytes && rows < maxRows) {
    const lines: string[] = [];
    for (let i = 0; i < Math.min(2000, maxRows - rows); i++) {
      const cells: string[] = [];
      for (let c = 0; c < NUMERIC_COLUMNS; c++) {
        s = (s * 1103515245 + 12345) % 2147483648;
        cells.push(((s / 2147483648) * 200 - 100).toFixed(3));
      }
      cells.push(`g${s % 8}`);
      lines.push(cells.join(','));
    }
    const text = lines.join('\n') + '\n';
    bytes += text.length;
    rows += lines.length;
    if (!out.write(text)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
  }
  await new Promise<void>((resolve, reject) => out.end((error?: Error | null) => (error ? reject(error) : resolve())));
  return { rows, bytes };
}

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

function memoryMb(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith(field));
  return line ? Number(line.split(/\s+/)[1]) / 1024 : NaN;
}

/** The limits raised for a 1 GB upload (README, "Data at scale"). */
const serviceEnv = (config: Config, port: number) => ({
  ...process.env,
  ...configToEnv(config),
  PORT: String(port),
  LOG_LEVEL: 'warn',
  DATASET_BODY_LIMIT: String(2 ** 32),
  MAX_DATASET_ROWS: '10000000',
  REQUEST_TIMEOUT_MS: '3600000',
});

/** The pids of a process's children (the worker's sandboxed training process). */
function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

type Job = { state: string; modelId?: string; error?: string; metrics: { durationMs: number }[] };

/**
 * Submits the bench's training request on `datasetId` and polls it to the end (once a second,
 * a failed poll retried: the API may be slow to answer on a loaded machine), at most
 * JOB_DEADLINE_MS. Returns the finished job and its figures.
 */
async function trainJob(
  base: string,
  datasetId: string,
  rows: number,
  epochs: number,
): Promise<{ job: Job; run: DataTrainingJob }> {
  const started = performance.now();
  const submitted = await fetch(`${base}/training-jobs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(trainingRequest(datasetId, epochs)),
  });
  const body = (await submitted.json()) as { jobId: string };
  if (submitted.status !== 202) throw new Error(`training job: ${submitted.status} ${JSON.stringify(body)}`);
  let job: Job | undefined;
  for (;;) {
    const polled = await fetch(`${base}/training-jobs/${body.jobId}`).then(
      async (r) => (r.ok ? ((await r.json()) as Job) : undefined),
      () => undefined,
    );
    if (polled) job = polled;
    if (job && (job.state === 'completed' || job.state === 'failed')) break;
    if (performance.now() - started > JOB_DEADLINE_MS) {
      throw new Error(`training job ${body.jobId} still ${job?.state ?? 'unknown'} after ${JOB_DEADLINE_MS / 1000} s`);
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  const jobSeconds = (performance.now() - started) / 1000;
  if (job.state !== 'completed') throw new Error(`training job ${body.jobId} failed: ${job.error}`);
  const model = (await (await fetch(`${base}/models/${job.modelId}`)).json()) as { rows: { train: number } };
  const epochSeconds = job.metrics.reduce((sum, m) => sum + m.durationMs, 0) / 1000;
  return {
    job,
    run: {
      rows,
      epochs,
      trainRows: model.rows.train,
      jobSeconds,
      epochSeconds,
      samplesPerSecond: (model.rows.train * job.metrics.length) / epochSeconds,
    },
  };
}

async function trainAndPredict(
  config: Config,
  port: number,
  api: ChildProcess,
  dataset: { id: string; rows: number; chunks: number },
  referencePath: string,
  targetMb: number,
  epochs: number,
  log: (line: string) => void,
): Promise<DataTrainingRun> {
  const base = `http://127.0.0.1:${port}/v1`;
  // The reference dataset first, while no training process runs: its upload is not measured.
  const uploaded = await upload(port, referencePath);
  if (uploaded.status !== 201) throw new Error(`upload of the reference dataset: ${uploaded.status}`);
  const referenceId = (JSON.parse(uploaded.body) as { id: string }).id;
  const worker = spawn(process.execPath, [MAIN, 'worker'], {
    env: serviceEnv(config, port),
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const peaks = new Map<number, number>();
  let apiPeak = 0;
  let sampling = false;
  const sample = () => {
    if (!sampling) return;
    apiPeak = Math.max(apiPeak, memoryMb(api.pid!, 'VmRSS'));
    for (const pid of [worker.pid!, ...childrenOf(worker.pid!)]) {
      const hwm = memoryMb(pid, 'VmHWM');
      if (Number.isFinite(hwm)) peaks.set(pid, Math.max(peaks.get(pid) ?? 0, hwm));
    }
  };
  const sampler = setInterval(() => {
    try {
      sample();
    } catch {
      // A process that just exited has no /proc entry.
    }
  }, 500);
  try {
    // The reference job runs in the worker's first training process; the measured job in the same
    // one (the worker keeps its sandboxed process between jobs), so its peak RSS is the larger of
    // the two jobs' — and the large job's is far larger.
    const reference = await trainJob(base, referenceId, REFERENCE_ROWS, REFERENCE_EPOCHS);
    log(
      `data: reference: ${REFERENCE_EPOCHS} epoch(s) on ${REFERENCE_ROWS} rows (${reference.run.trainRows} training ` +
        `rows): ${reference.run.samplesPerSecond.toFixed(0)} samples/s`,
    );
    await fetch(`${base}/datasets/${referenceId}`, { method: 'DELETE' });
    sampling = true;
    const { job, run: measured } = await trainJob(base, dataset.id, dataset.rows, epochs);
    sample();
    const rows = Array.from({ length: 100 }, (_, r) => {
      const row: Record<string, number> = {};
      for (let c = 0; c < NUMERIC_COLUMNS; c++) row[`x${c}`] = ((r * 31 + c * 7) % 200) - 100;
      return row;
    });
    const predictStarted = performance.now();
    const predicted = await fetch(`${base}/models/${job.modelId}/predict`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ rows }),
    });
    await predicted.arrayBuffer();
    const predictMs = performance.now() - predictStarted;
    const trainingPeaks = [...peaks].filter(([pid]) => pid !== worker.pid).map(([, mb]) => mb);
    const run: DataTrainingRun = {
      targetMb,
      ...measured,
      chunks: dataset.chunks,
      reference: reference.run,
      samplesPerSecondVsReference: measured.samplesPerSecond / reference.run.samplesPerSecond,
      workerPeakRssMb: peaks.get(worker.pid!) ?? NaN,
      trainingProcessPeakRssMb: trainingPeaks.length ? Math.max(...trainingPeaks) : NaN,
      apiPeakRssMb: apiPeak,
      predictStatus: predicted.status,
      predictMs,
    };
    log(
      `data: trained ${epochs} epoch(s) on the ${targetMb} MB dataset (${dataset.rows} rows in ${dataset.chunks} chunks, ` +
        `${run.trainRows} training rows) in ${run.jobSeconds.toFixed(0)} s (epochs ${run.epochSeconds.toFixed(0)} s, ` +
        `${run.samplesPerSecond.toFixed(0)} samples/s = ${run.samplesPerSecondVsReference!.toFixed(2)}× the ` +
        `${REFERENCE_ROWS}-row reference); peak RSS: training process ${run.trainingProcessPeakRssMb.toFixed(0)} MB, ` +
        `worker ${run.workerPeakRssMb.toFixed(0)} MB, API ${apiPeak.toFixed(0)} MB; predict 100 rows: ` +
        `${predicted.status} in ${predictMs.toFixed(0)} ms`,
    );
    return run;
  } finally {
    clearInterval(sampler);
    worker.kill('SIGTERM');
    await new Promise((resolve) => (worker.exitCode !== null ? resolve(null) : worker.once('exit', resolve)));
  }
}

async function startApi(config: Config, port: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, [MAIN, 'api'], {
    env: serviceEnv(config, port),
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const deadline = Date.now() + 60_000;
  for (;;) {
    const ok = await fetch(`http://127.0.0.1:${port}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return child;
    if (child.exitCode !== null || Date.now() > deadline) throw new Error('the API did not start');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

function upload(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/v1/datasets',
        headers: { 'content-type': 'text/csv', 'content-length': statSync(path).size },
      },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    createReadStream(path, { highWaterMark: 1 << 16 }).pipe(req);
  });
}

export async function benchData(
  config: Config,
  options: BenchOptions,
  log: (line: string) => void,
): Promise<DataResults> {
  const dir = await mkdtemp(join(tmpdir(), 'fitwell-bench-data-'));
  const redis = createRedis(config.redisUrl, { commandTimeout: 60_000 });
  await waitForRedis(redis);
  const runs: DataRun[] = [];
  let training: DataTrainingRun | undefined;
  const largest = Math.max(...options.dataSizes);
  try {
    for (const targetMb of options.dataSizes) {
      const path = join(dir, `${targetMb}mb.csv`);
      const { rows, bytes } = await generate(path, targetMb * 1e6);
      log(`data: ${targetMb} MB CSV generated (${rows} rows × ${NUMERIC_COLUMNS + 1} columns)`);
      const port = await freePort();
      const api = await startApi(config, port);
      try {
        const rssBefore = memoryMb(api.pid!, 'VmRSS');
        const started = performance.now();
        const res = await upload(port, path);
        const seconds = (performance.now() - started) / 1000;
        const peak = memoryMb(api.pid!, 'VmHWM');
        if (res.status !== 201) throw new Error(`upload of ${targetMb} MB: ${res.status} ${res.body.slice(0, 300)}`);
        const meta = JSON.parse(res.body) as { id: string; rows: number };
        let stored = Number(
          await redis.call('MEMORY', 'USAGE', `${config.redisPrefix}:dataset:${meta.id}`, 'SAMPLES', '0'),
        );
        for (let i = 0; ; i++) {
          const used = await redis.call('MEMORY', 'USAGE', `${config.redisPrefix}:dataset:${meta.id}:chunk:${i}`);
          if (used === null) break;
          stored += Number(used);
        }
        const float32 = meta.rows * (NUMERIC_COLUMNS + 1) * 4;
        const run: DataRun = {
          targetMb,
          csvBytes: bytes,
          rows: meta.rows,
          columns: NUMERIC_COLUMNS + 1,
          seconds,
          mbPerSecond: bytes / 1e6 / seconds,
          apiRssBeforeMb: rssBefore,
          apiPeakRssMb: peak,
          storedBytes: stored,
          storedVsCsv: stored / bytes,
          storedVsFloat32: stored / float32,
        };
        runs.push(run);
        log(
          `data: ${targetMb} MB: ${run.mbPerSecond.toFixed(1)} MB/s, API peak RSS ${peak.toFixed(0)} MB ` +
            `(${rssBefore.toFixed(0)} before), stored ${(stored / 1e6).toFixed(1)} MB = ${run.storedVsCsv.toFixed(2)}× CSV, ` +
            `${run.storedVsFloat32.toFixed(3)}× float32`,
        );
        if (targetMb === largest && options.dataTrainEpochs > 0) {
          const referencePath = join(dir, 'reference.csv');
          await generate(referencePath, Infinity, REFERENCE_ROWS);
          const dataset = { id: meta.id, rows: meta.rows, chunks: Math.ceil(meta.rows / config.datasetChunkRows) };
          training = await trainAndPredict(
            config,
            port,
            api,
            dataset,
            referencePath,
            targetMb,
            options.dataTrainEpochs,
            log,
          );
        }
      } finally {
        api.kill('SIGTERM');
        await new Promise((resolve) => (api.exitCode !== null ? resolve(null) : api.once('exit', resolve)));
        await rm(path, { force: true });
      }
    }
  } finally {
    redis.disconnect();
    await rm(dir, { recursive: true, force: true });
  }
  return { runs, ...(training ? { training } : {}) };
}
