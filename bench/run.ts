import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { initBackend } from '../src/ml/backend';
import { ensureLocalRedis } from '../src/local-redis';
import { benchConfig, deletePrefix, machine } from './environment';
import { parseOptions, type BenchOptions } from './options';
import { benchPredict, type PredictResults } from './predict';
import { benchQuality, qualityReport, qualitySummary, type QualityResults } from './quality';
import { benchQueue, type QueueResults } from './queue';
import { fmt, median } from './stats';
import { benchTraining, type TrainingResults } from './training';

/**
 * `npm run bench`: the training, predict and queue benchmarks of issue 5, in one run on one
 * machine, and on request (`npm run bench -- quality`) the quality benchmark of issue 10. Prints
 * a table with the goals' ratios and writes everything measured to
 * bench/results/<timestamp>.json. See bench/options.ts for choosing suites and durations.
 */

const RESULTS_DIR = join(__dirname, '..', '..', 'bench', 'results');

interface Goal {
  name: string;
  measured: number;
  goal: string;
  met: boolean;
  /** A second, softer threshold (the PyTorch milestone). */
  milestone?: { goal: string; met: boolean };
}

interface Results {
  startedAt: string;
  durationS: number;
  machine: ReturnType<typeof machine> & { backend: string; wasmThreads?: number; torch?: string };
  options: BenchOptions;
  training?: TrainingResults;
  predict?: PredictResults;
  queue?: QueueResults;
  quality?: QualityResults;
  goals: Goal[];
}

function log(line: string): void {
  process.stderr.write(`[bench] ${line}\n`);
}

async function wasmThreads(backend: string): Promise<number | undefined> {
  if (backend !== 'wasm') return undefined;
  const wasm = (await import('@tensorflow/tfjs-backend-wasm')) as { getThreadsCount?: () => number };
  return wasm.getThreadsCount?.();
}

function goals(results: Results): Goal[] {
  const out: Goal[] = [];
  const { training, predict, queue } = results;
  if (training) {
    for (const [size, run] of Object.entries(training.fitwell)) {
      const fit = training.layersFit[size];
      if (fit) {
        const ratio = run.samplesPerSecond / fit.samplesPerSecond;
        out.push({ name: `training step ÷ tfjs model.fit, batch ${size}`, measured: ratio, goal: '≥ 8×', met: ratio >= 8 });
      }
      // Compared with PyTorch at the fitwell backend's thread count (wasm in Node: 1).
      const threads = String(results.machine.wasmThreads ?? 1);
      const torch = training.torch.byThreads[threads]?.[size];
      if (torch) {
        const ratio = run.samplesPerSecond / torch.samplesPerSecond;
        out.push({
          name: `training step ÷ PyTorch (${threads} thread), batch ${size}`,
          measured: ratio,
          goal: '≥ 0.5×',
          met: ratio >= 0.5,
          milestone: { goal: '≥ 0.3×', met: ratio >= 0.3 },
        });
      }
    }
  }
  if (predict) {
    for (const model of Object.keys(predict.models)) {
      const bare = predict.runs.find((r) => r.model === model && r.server === 'bare' && r.rows === 1);
      const app = predict.runs.find((r) => r.model === model && r.server === 'app' && r.rows === 1 && r.isDefault);
      if (!bare || !app) continue;
      // Round by round (measured seconds apart), then the median: robust to the machine's drift.
      const rps = median(app.roundsRps.map((v, i) => v / bare.roundsRps[i]));
      out.push({ name: `predict 1 row (${model}): req/s ÷ bare fastify`, measured: rps, goal: '≥ 0.7×', met: rps >= 0.7 });
      // autocannon's latencies are whole ms: a bare p99 of 0 counts as 1.
      const p99 = app.p99Ms / Math.max(bare.p99Ms, 1);
      out.push({ name: `predict 1 row (${model}): p99 ÷ bare fastify p99`, measured: p99, goal: '≤ 2×', met: p99 <= 2 });
    }
  }
  if (queue) {
    out.push({ name: 'queue: POST → active, p50 (ms)', measured: queue.p50Ms, goal: '≤ 20 ms', met: queue.p50Ms <= 20 });
  }
  if (results.quality?.torch) {
    for (const [init, summary] of Object.entries(qualitySummary(results.quality))) {
      out.push({
        name: `quality (init ${init}): rows within 1 point / 0.01 R² of PyTorch or better`,
        measured: summary.withinGoal,
        goal: `all ${summary.compared}`,
        met: summary.withinGoal === summary.compared,
      });
      if (summary.noisyBest) {
        const { fitwell, torch } = summary.noisyBest;
        out.push({
          name: `quality (init ${init}): noisy, best fitwell row − best PyTorch row`,
          measured: fitwell.mean - torch.mean,
          goal: '> 0',
          met: fitwell.mean > torch.mean,
        });
      }
    }
  }
  return out;
}

function table(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, c) => Math.max(...cells.map((r) => r[c].length)));
  const line = (r: string[]) => `| ${r.map((v, c) => (c === 0 ? v.padEnd(widths[c]) : v.padStart(widths[c]))).join(' | ')} |`;
  return [line(header), `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`, ...cells.slice(1).map(line)].join('\n');
}

function report(results: Results): string {
  const parts: string[] = [];
  const m = results.machine;
  parts.push(
    `Machine: ${m.nproc} cores, ${m.cpu}, Node ${m.node}, TensorFlow.js backend ${m.backend}` +
      `${m.wasmThreads !== undefined ? ` (${m.wasmThreads} thread)` : ''}${m.torch ? `, PyTorch ${m.torch}` : ''}`,
  );
  const { training, predict, queue } = results;
  if (training) {
    const sizes = Object.keys(training.fitwell);
    const threads = Object.keys(training.torch.byThreads);
    const rows: (string | number)[][] = [
      ['fitwell Trainer (step)', ...sizes.map((s) => fmt(training.fitwell[s].samplesPerSecond))],
      ['fitwell Trainer (epoch incl. metrics)', ...sizes.map((s) => fmt(training.rows / (median(training.fitwell[s].epochWithMetricsMs) / 1000)))],
      ['tfjs Layers model.fit', ...sizes.map((s) => fmt(training.layersFit[s]?.samplesPerSecond))],
      ...threads.map((t) => [`PyTorch CPU, ${t} thread${t === '1' ? '' : 's'}`, ...sizes.map((s) => fmt(training.torch.byThreads[t][s]?.samplesPerSecond))]),
    ];
    parts.push(`\nTraining, samples/s (${training.rows} random rows, median of ${results.options.timedEpochs} epochs)\n` +
      table(['', ...sizes.map((s) => `batch ${s}`)], rows));
    if (training.torch.note) parts.push(training.torch.note);
  }
  if (predict) {
    const models = Object.entries(predict.models).map(([key, m]) => `  ${key}: ${m.description}`).join('\n');
    parts.push(
      `\nPredict, ${predict.connections} connections, ${predict.seconds} s per server in ${predict.rounds} turns ` +
        `(req/s: mean; latency: median of the turns)\n${models}\n` +
        table(
          ['', 'req/s', 'p50 ms', 'p99 ms', 'errors', 'non-2xx', 'bytes'],
          predict.runs.map((r) => [
            `${r.label}${r.isDefault ? ' (default)' : ''}`,
            fmt(r.requestsPerSecond),
            fmt(r.p50Ms),
            fmt(r.p99Ms),
            r.errors,
            r.non2xx,
            r.responseBytes,
          ]),
        ),
    );
  }
  if (queue) {
    parts.push(
      `\nQueue, POST /v1/training-jobs → active, ${queue.jobs} jobs, idle worker\n` +
        table(['', 'p50 ms', 'p99 ms'], [['POST → active', fmt(queue.p50Ms), fmt(queue.p99Ms)], ['POST → 202', fmt(queue.postP50Ms), '—']]) +
        (queue.failed ? `\n${queue.failed} of the jobs failed (after becoming active)` : ''),
    );
  }
  if (results.quality) parts.push(qualityReport(results.quality, table));
  if (results.goals.length) {
    parts.push(
      '\nGoals\n' +
        table(
          ['', 'measured', 'goal', 'met'],
          results.goals.map((g) => [
            g.name,
            fmt(g.measured),
            g.milestone ? `${g.goal} (milestone ${g.milestone.goal})` : g.goal,
            g.met ? 'yes' : g.milestone?.met ? 'milestone only' : 'no',
          ]),
        ),
    );
  }
  return parts.join('\n');
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2), process.env);
  const started = Date.now();
  const config = benchConfig();
  const backend = await initBackend(config.tfBackend);
  const results: Results = {
    startedAt: new Date(started).toISOString(),
    durationS: 0,
    machine: { ...machine(), backend: backend.name, wasmThreads: await wasmThreads(backend.name) },
    options,
    goals: [],
  };
  log(`backend ${backend.name}; suites: ${options.suites.join(', ')}`);
  const usesRedis = options.suites.some((s) => s !== 'training' && s !== 'quality');
  let redisChild = null;
  try {
    if (options.suites.includes('training')) {
      results.training = await benchTraining(options, log);
      results.machine.torch = results.training.torch.version;
    }
    if (usesRedis) redisChild = await ensureLocalRedis(config.redisUrl, log);
    if (options.suites.includes('predict')) results.predict = await benchPredict(config, options, log);
    if (options.suites.includes('queue')) results.queue = await benchQueue(config, options, log);
    if (options.suites.includes('quality')) results.quality = await benchQuality(options, log);
  } finally {
    if (usesRedis) await deletePrefix(config).catch((error: Error) => log(`could not delete the bench's keys: ${error.message}`));
    redisChild?.kill('SIGTERM');
  }
  results.durationS = Math.round((Date.now() - started) / 100) / 10;
  results.goals = goals(results);
  console.log(report(results));
  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = join(RESULTS_DIR, `${results.startedAt.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify(results, null, 2) + '\n');
  console.log(`\nWritten to ${file} (${results.durationS} s in all)`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
