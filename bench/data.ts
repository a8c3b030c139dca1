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

export interface DataResults {
  runs: DataRun[];
}

/** 29 numeric columns and one categorical column of 8 values: a typical tabular file. */
const NUMERIC_COLUMNS = 29;
const MAIN = join(__dirname, '..', 'src', 'main.js');

async function generate(path: string, targetBytes: number): Promise<{ rows: number; bytes: number }> {
  const out = createWriteStream(path);
  const header = [...Array.from({ length: NUMERIC_COLUMNS }, (_, c) => `x${c}`), 'group'].join(',') + '\n';
  out.write(header);
  let bytes = header.length;
  let rows = 0;
  let s = 12345;
  while (bytes < targetBytes) {
    const lines: string[] = [];
    for (let i = 0; i < 2000; i++) {
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

async function startApi(config: Config, port: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, [MAIN, 'api'], {
    env: {
      ...process.env,
      ...configToEnv(config),
      PORT: String(port),
      LOG_LEVEL: 'warn',
      DATASET_BODY_LIMIT: String(2 ** 32),
      MAX_DATASET_ROWS: '10000000',
      REQUEST_TIMEOUT_MS: '3600000',
    },
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
  return { runs };
}
