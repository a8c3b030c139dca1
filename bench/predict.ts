import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { QueueEvents } from 'bullmq';
import { buildApp } from '../src/app';
import { configToEnv, loadConfig, type Config } from '../src/config';
import { bullmqConnection } from '../src/store/redis';
import { createTrainingWorker } from '../jobs/training-worker';
import { TRAINING_QUEUE } from '../jobs/training-queue';
import { randomRows, REFERENCE_INPUTS, referenceDataset, referenceRequest } from './environment';
import type { BenchOptions } from './options';
import { median, moveWarning, spread, type Spread } from './stats';

export interface PredictRun {
  label: string;
  model: ServedModelCase['key'];
  server: 'app' | 'bare';
  rows: number;
  /** What the app run changes from the service's settings ('default': nothing). */
  variant?: string;
  /** The app run with the service's settings. */
  isDefault?: boolean;
  /** The rounds' req/s: median and range. */
  rpsSpread: Spread;
  /**
   * The server process's CPU time per successful request (user + system, from /proc; median of
   * the rounds), µs: what a request costs the server, far steadier on a busy machine than req/s.
   */
  cpuUsPerRequest?: number;
  /** Mean over the rounds of the successful (2xx) responses per second. */
  requestsPerSecond: number;
  /** Medians over the rounds. */
  p50Ms: number;
  p99Ms: number;
  roundsRps: number[];
  roundsP99Ms: number[];
  errors: number;
  non2xx: number;
  /** Responses by status code. */
  statusCodes: Record<string, number>;
  responseBytes: number;
}

/** The first `seconds` of load on freshly started servers (model not yet loaded, code not yet warm). */
export interface ColdStart {
  seconds: number;
  appRps: number;
  bareRps: number;
  appP99Ms: number;
  bareP99Ms: number;
  errors: number;
  non2xx: number;
  statusCodes: Record<string, number>;
}

export interface PredictResults {
  models: Record<string, { id: string; description: string }>;
  connections: number;
  seconds: number;
  rounds: number;
  /** PREDICT_BATCH_WAIT_MS's default (null: off). */
  defaultBatchWaitMs: number | null;
  /** The app servers' settings (the service's, as in production), and where their logs go. */
  settings: Record<string, string>;
  logDestination: string;
  runs: PredictRun[];
  cold?: ColdStart;
  warnings: string[];
}

const SERVER = join(__dirname, 'predict-server.js');

/**
 * Trains the served model through the real path: a JSON dataset upload, a training job, a real
 * worker running it in its sandboxed process. The reference network, 2 epochs on 2,048 rows.
 */
/** The served models: the reference network, and the README's example (a small one). */
export interface ServedModelCase {
  key: 'reference' | 'small';
  description: string;
  /** The dataset upload: content type and body. */
  dataset: { type: string; body: string };
  request: (datasetId: string) => object;
  /** A request body of `rows` rows. */
  body: (rows: number) => string;
}

export const MODELS: ServedModelCase[] = [
  {
    key: 'reference',
    description: 'reference network (64 → 256 BN → 256 LN → 10), 2 epochs on 2,048 random rows',
    dataset: { type: 'application/json', body: JSON.stringify(referenceDataset(2048)) },
    request: (datasetId) => referenceRequest(datasetId, 128, 2),
    body: (rows) => {
      const { x } = randomRows(rows, 7);
      const inputs = Array.from({ length: rows }, (_, r) =>
        Array.from(x.subarray(r * REFERENCE_INPUTS, (r + 1) * REFERENCE_INPUTS), (v) => Number(v.toFixed(4))),
      );
      return JSON.stringify({ inputs });
    },
  },
  {
    key: 'small',
    description: 'README example (examples/churn.csv, 128 BN → 128 LN → 2), 5 epochs, named rows',
    dataset: { type: 'text/csv', body: readFileSync(join(__dirname, '..', '..', 'examples', 'churn.csv'), 'utf8') },
    request: (datasetId) => ({
      datasetId,
      target: 'churned',
      task: 'classification',
      model: {
        hidden: [
          { units: 128, normalization: 'batch', dropout: 0.3 },
          { units: 128, normalization: 'layer', dropout: 0.3 },
        ],
      },
      regularization: { l2: 1e-4 },
      training: { epochs: 5, batchSize: 32, seed: 42 },
    }),
    body: (rows) =>
      JSON.stringify({
        rows: Array.from({ length: rows }, () => ({
          tenure_months: 3,
          monthly_spend: 95,
          support_calls: 4,
          plan: 'basic',
          region: 'north',
        })),
      }),
  },
];

/**
 * Trains the served models through the real path: a dataset upload, a training job, a real
 * worker running it in its sandboxed process. Returns model ids by case key.
 */
export async function trainServedModels(config: Config, cases = MODELS): Promise<Record<string, string>> {
  const app = await buildApp(config);
  const events = new QueueEvents(TRAINING_QUEUE, {
    connection: bullmqConnection(config.redisUrl, 'blocking'),
    prefix: config.redisPrefix,
  });
  const worker = createTrainingWorker(config);
  const ids: Record<string, string> = {};
  try {
    await events.waitUntilReady();
    for (const c of cases) {
      const upload = await app.inject({
        method: 'POST',
        url: '/v1/datasets',
        headers: { 'content-type': c.dataset.type },
        payload: c.dataset.body,
      });
      if (upload.statusCode !== 201) throw new Error(`dataset upload: ${upload.statusCode} ${upload.body}`);
      const job = await app.inject({
        method: 'POST',
        url: '/v1/training-jobs',
        payload: c.request(upload.json<{ id: string }>().id),
      });
      if (job.statusCode !== 202) throw new Error(`training job: ${job.statusCode} ${job.body}`);
      const queued = await app.trainingQueue.getJob(job.json<{ jobId: string }>().jobId);
      ids[c.key] = ((await queued!.waitUntilFinished(events, 300_000)) as { modelId: string }).modelId;
    }
    return ids;
  } finally {
    await worker.close();
    await events.close();
    await app.close();
  }
}

/**
 * A server process. Its stdout — the app's JSON log lines at LOG_LEVEL — goes to /dev/null: the
 * lines are built and written as in production (pino writes them synchronously to fd 1), at the
 * cost of a cheap write() rather than of whatever reads them there.
 */
async function startServer(mode: 'app' | 'bare', env: NodeJS.ProcessEnv, bodyFile?: string) {
  const child = fork(SERVER, bodyFile ? [mode, bodyFile] : [mode], {
    env,
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (message: { port: number }) => resolve(message.port));
    child.once('exit', (code) => reject(new Error(`the ${mode} server exited with ${code} before listening`)));
  });
  // The API answers 503 until its Redis connection is up: wait for /readyz.
  for (let attempt = 0; mode === 'app'; attempt++) {
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ready) break;
    if (attempt === 100) throw new Error('the app server did not become ready in 10 s');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { child, port };
}

async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

/**
 * The predict requests' headers, the same for the app and the bare route. The app runs as in
 * production, with an API key required (NODE_ENV=production refuses to start without keys), so
 * every request carries one: the app checks it, the bare route has no use for it.
 */
function requestHeaders(apiKey: string): Record<string, string> {
  return { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` };
}

function loadOnce(url: string, headers: Record<string, string>, body: string, connections: number, seconds: number) {
  return autocannon({
    url,
    method: 'POST',
    headers,
    body,
    connections,
    duration: seconds,
  });
}

/** An app server's settings: the service's, with `env` on top ('default': none). */
interface Variant {
  name: string;
  env: Record<string, string>;
}

interface Scenario {
  model: ServedModelCase;
  rows: number;
  variants: Variant[];
}

interface Target {
  label: string;
  server: 'app' | 'bare';
  variant?: string;
  child: ChildProcess;
  url: string;
  rounds: autocannon.Result[];
  /** The server process's CPU time per successful request in each round, µs. */
  cpuUs: number[];
}

/**
 * Every server of a scenario (the app once per batching setting, and the bare route) runs at
 * once, idle but for the one being loaded, and they take turns: `rounds` rounds of
 * seconds/rounds each, in a rotating order, after a warm-up of each. The machine's other load
 * drifts; taking turns exposes every server to the same drift, and each round's app ÷ bare ratio
 * compares figures measured seconds apart.
 */
export async function benchPredict(
  config: Config,
  options: BenchOptions,
  log: (line: string) => void,
): Promise<PredictResults> {
  log('predict: training the served models through the real path');
  const ids = await trainServedModels(config);
  const defaultWait = loadConfig({}).predictBatchWaitMs;
  const [reference, small] = MODELS;
  const DEFAULT: Variant = { name: 'default', env: {} };
  const batchingOff: Variant = { name: 'micro-batching off', env: { PREDICT_BATCH_WAIT_MS: 'off' } };
  // What the service's settings cost: without logs, and without the rate limiter.
  const referenceVariants: Variant[] = [
    DEFAULT,
    { name: 'LOG_LEVEL silent', env: { LOG_LEVEL: 'silent' } },
    { name: 'RATE_LIMIT_MAX 0 (limiter off)', env: { RATE_LIMIT_MAX: '0' } },
  ];
  if (defaultWait !== null) referenceVariants.push(batchingOff);
  if (options.batchWaitMs > 0 && options.batchWaitMs !== defaultWait) {
    referenceVariants.push({
      name: `micro-batching ${options.batchWaitMs} ms`,
      env: { PREDICT_BATCH_WAIT_MS: String(options.batchWaitMs) },
    });
  }
  // A 256-row request fills a batch by itself (it never waits): batching matters for 1 row only.
  const scenarios: Scenario[] = [
    { model: reference, rows: 1, variants: referenceVariants },
    { model: reference, rows: 256, variants: [DEFAULT] },
    { model: small, rows: 1, variants: defaultWait === null ? [DEFAULT] : [DEFAULT, batchingOff] },
  ];
  // The service as it runs in production: info logs, API keys, the rate limiter on every request
  // (with a limit the bench's one key never reaches, so no request is refused: the limiter's
  // cost per request does not depend on the limit).
  const settings = {
    NODE_ENV: 'production',
    LOG_LEVEL: 'info',
    RATE_LIMIT_MAX: String(options.predictRateLimit),
    RATE_LIMIT_WINDOW_MS: '60000',
  };
  const results: PredictResults = {
    models: Object.fromEntries(MODELS.map((m) => [m.key, { id: ids[m.key], description: m.description }])),
    connections: options.connections,
    seconds: options.seconds,
    rounds: options.rounds,
    defaultBatchWaitMs: defaultWait,
    settings: { ...settings, API_KEYS: '(one key)' },
    logDestination: '/dev/null (stdout)',
    runs: [],
    warnings: [],
  };
  const dir = mkdtempSync(join(tmpdir(), 'fitwell-bench-'));
  // configToEnv leaves API_KEYS out (the training processes need none); set here, it also keeps
  // keys from the caller's environment from turning the runs into 401s.
  const apiKey = randomBytes(24).toString('hex');
  const headers = requestHeaders(apiKey);
  const baseEnv = { ...process.env, ...configToEnv(config), API_KEYS: apiKey };
  const appEnv = { ...baseEnv, ...settings };
  const roundSeconds = Math.max(1, options.seconds / options.rounds);
  try {
    for (const { model, rows, variants } of scenarios) {
      const path = `/v1/models/${ids[model.key]}/predict`;
      const body = model.body(rows);
      const name = `${model.key}, ${rows} row${rows > 1 ? 's' : ''}`;
      log(`predict: ${name}: ${variants.length} app server(s) and the bare route, ${options.rounds} rounds`);
      const targets: Target[] = [];
      let response = '';
      try {
        for (const variant of variants) {
          const { child, port } = await startServer('app', { ...appEnv, ...variant.env });
          const url = `http://127.0.0.1:${port}${path}`;
          targets.push({
            label: `${name}: fitwell, ${variant.name}`,
            server: 'app',
            variant: variant.name,
            child,
            url,
            rounds: [],
            cpuUs: [],
          });
          const first = await fetch(url, { method: 'POST', headers, body });
          response = await first.text();
          if (first.status !== 200) throw new Error(`predict answered ${first.status}: ${response}`);
        }
        // The bare route answers with the real predict response.
        const bodyFile = join(dir, `response-${model.key}-${rows}.json`);
        writeFileSync(bodyFile, response);
        const bare = await startServer('bare', baseEnv, bodyFile);
        targets.push({
          label: `${name}: bare fastify`,
          server: 'bare',
          child: bare.child,
          url: `http://127.0.0.1:${bare.port}${path}`,
          rounds: [],
          cpuUs: [],
        });
        if (options.warmupSeconds > 0) {
          for (const t of targets) await loadOnce(t.url, headers, body, options.connections, options.warmupSeconds);
        }
        for (let round = 0; round < options.rounds; round++) {
          for (let i = 0; i < targets.length; i++) {
            const t = targets[(i + round) % targets.length];
            const cpuBefore = cpuMs(t.child.pid);
            const result = await loadOnce(t.url, headers, body, options.connections, roundSeconds);
            const cpuAfter = cpuMs(t.child.pid);
            t.rounds.push(result);
            if (cpuBefore !== undefined && cpuAfter !== undefined && result['2xx'] > 0) {
              t.cpuUs.push(((cpuAfter - cpuBefore) * 1000) / result['2xx']);
            }
          }
        }
      } finally {
        await Promise.all(targets.map((t) => stopServer(t.child)));
      }
      for (const t of targets) {
        const run = {
          ...summarize(t.label, model.key, t.server, rows, t.rounds, response),
          ...(t.cpuUs.length ? { cpuUsPerRequest: median(t.cpuUs) } : {}),
          ...(t.server === 'app' ? { variant: t.variant, isDefault: t.variant === DEFAULT.name } : {}),
        };
        results.runs.push(run);
        const warning = moveWarning(`predict ${t.label}`, run.rpsSpread);
        if (warning) results.warnings.push(warning);
      }
    }
    if (options.coldSeconds > 0) results.cold = await coldStart(ids, appEnv, baseEnv, headers, dir, options, log);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return results;
}

/**
 * The first `coldSeconds` after start: a fresh app server (the model not yet in its cache, no
 * code warm) and a fresh bare route, each loaded at once after it answers /readyz (the bare
 * route: once it listens), one after the other.
 */
async function coldStart(
  ids: Record<string, string>,
  appEnv: NodeJS.ProcessEnv,
  baseEnv: NodeJS.ProcessEnv,
  headers: Record<string, string>,
  dir: string,
  options: BenchOptions,
  log: (line: string) => void,
): Promise<ColdStart> {
  const [reference] = MODELS;
  const path = `/v1/models/${ids[reference.key]}/predict`;
  const body = reference.body(1);
  log(`predict: the first ${options.coldSeconds} s of a freshly started server (reference, 1 row)`);
  const bodyFile = join(dir, 'response-cold.json');
  writeFileSync(bodyFile, readFileSync(join(dir, `response-${reference.key}-1.json`)));
  const app = await startServer('app', appEnv);
  let appRun: autocannon.Result;
  try {
    appRun = await loadOnce(
      `http://127.0.0.1:${app.port}${path}`,
      headers,
      body,
      options.connections,
      options.coldSeconds,
    );
  } finally {
    await stopServer(app.child);
  }
  const bare = await startServer('bare', baseEnv, bodyFile);
  let bareRun: autocannon.Result;
  try {
    bareRun = await loadOnce(
      `http://127.0.0.1:${bare.port}${path}`,
      headers,
      body,
      options.connections,
      options.coldSeconds,
    );
  } finally {
    await stopServer(bare.child);
  }
  return {
    seconds: options.coldSeconds,
    appRps: okRps(appRun),
    bareRps: okRps(bareRun),
    appP99Ms: appRun.latency.p99,
    bareP99Ms: bareRun.latency.p99,
    errors: appRun.errors + appRun.timeouts,
    non2xx: appRun.non2xx,
    statusCodes: statusCodes([appRun]),
  };
}

/** A process's CPU time so far (user + system) in ms, from /proc (Linux); undefined elsewhere. */
function cpuMs(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of the line (11 and 12 after the command), in clock ticks.
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}

/** Linux's USER_HZ: /proc's CPU times count in hundredths of a second. */
const CLOCK_TICKS = 100;

/** Successful (2xx) responses per second: a refusal (429, 503) is fast and must not count. */
function okRps(r: autocannon.Result): number {
  return r['2xx'] / r.duration;
}

function summarize(
  label: string,
  model: ServedModelCase['key'],
  server: 'app' | 'bare',
  rows: number,
  rounds: autocannon.Result[],
  response: string,
): PredictRun {
  const roundsRps = rounds.map(okRps);
  return {
    label,
    model,
    server,
    rows,
    rpsSpread: spread(roundsRps),
    requestsPerSecond: roundsRps.reduce((a, b) => a + b, 0) / roundsRps.length,
    p50Ms: median(rounds.map((r) => r.latency.p50)),
    p99Ms: median(rounds.map((r) => r.latency.p99)),
    roundsRps,
    roundsP99Ms: rounds.map((r) => r.latency.p99),
    errors: rounds.reduce((n, r) => n + r.errors + r.timeouts, 0),
    non2xx: rounds.reduce((n, r) => n + r.non2xx, 0),
    statusCodes: statusCodes(rounds),
    responseBytes: Buffer.byteLength(response),
  };
}

/** Responses by status code over the rounds (autocannon counts them). */
function statusCodes(rounds: autocannon.Result[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of rounds) {
    for (const [code, stat] of Object.entries(r.statusCodeStats ?? {}))
      counts[code] = (counts[code] ?? 0) + (stat.count ?? 0);
  }
  return counts;
}
