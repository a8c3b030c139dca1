import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '../src/ml/backend';
import { ensureLocalRedis } from '../src/local-redis';
import { benchConfig, deletePrefix, machine } from './environment';
import { parseOptions, type BenchOptions } from './options';
import { benchApi, type ApiResults } from './api';
import { benchPredict, type PredictResults } from './predict';
import { benchQuality, qualityReport, qualitySummary, type QualityResults } from './quality';
import { benchQueue, type QueueResults } from './queue';
import { benchData, type DataResults } from './data';
import { benchSearch, searchReport, type SearchResults } from './search';
import { fmt, fmtSpread, MOVE_WARNING, spread, table } from './stats';
import { benchTraining, type TrainingResults } from './training';

/**
 * `npm run bench`: the training, end-to-end, both-cores, predict and queue benchmarks of issues 5
 * and 17, in one run on one machine, every comparison in alternating turns, and on request
 * (`npm run bench -- quality`) the quality benchmark of issue 10. Prints every goal
 * with its measured figure, met or not, and writes everything measured to
 * bench/results/<timestamp>.json. See bench/options.ts for choosing suites and durations.
 */

const RESULTS_DIR = join(__dirname, '..', '..', 'bench', 'results');

interface Goal {
  /** The issue that set it. */
  issue: number;
  name: string;
  /** NaN when it could not be measured in this run (its suite did not run, a peer is missing). */
  measured: number;
  /** How `measured` reads: a ratio (×), ms, or a count. */
  unit: '×' | 'ms' | '' | '%';
  goal: string;
  /** null: reported, no threshold. */
  met: boolean | null;
  /** The turns' range of the measured figure, when it comes from turns. */
  range?: [number, number];
  /** A second, softer threshold (the PyTorch milestone). */
  milestone?: { goal: string; met: boolean };
}

interface Results {
  startedAt: string;
  durationS: number;
  machine: ReturnType<typeof machine> & {
    backend: string;
    wasmThreads?: number;
    torch?: string;
    loadAverage: number[];
  };
  options: BenchOptions;
  training?: TrainingResults;
  api?: ApiResults;
  predict?: PredictResults;
  queue?: QueueResults;
  quality?: QualityResults;
  data?: DataResults;
  search?: SearchResults;
  goals: Goal[];
  /** Figures that moved by more than 25 % between turns. */
  warnings: string[];
}

function log(line: string): void {
  process.stderr.write(`[bench] ${line}\n`);
}

async function wasmThreads(backend: string): Promise<number | undefined> {
  if (backend !== 'wasm') return undefined;
  const wasm = (await import('@tensorflow/tfjs-backend-wasm')) as { getThreadsCount?: () => number };
  return wasm.getThreadsCount?.();
}

/** The median over turns of a ÷ b, turn by turn (measured seconds apart), and its range. */
function turnRatio(
  a: readonly number[] | undefined,
  b: readonly number[] | undefined,
): { value: number; range?: [number, number] } {
  if (!a?.length || !b?.length) return { value: NaN };
  const ratios = a.slice(0, b.length).map((v, i) => v / b[i]);
  const s = spread(ratios);
  return { value: s.median, range: [s.min, s.max] };
}

const ratioGoal = (
  issue: number,
  name: string,
  r: { value: number; range?: [number, number] },
  goal: string,
  met: (v: number) => boolean,
): Goal => ({
  issue,
  name,
  measured: r.value,
  unit: '×',
  goal,
  met: Number.isFinite(r.value) ? met(r.value) : false,
  ...(r.range ? { range: r.range } : {}),
});

function goals(results: Results): Goal[] {
  const out: Goal[] = [];
  const { training, api, predict, queue } = results;
  const suites = results.options.suites;
  if (suites.includes('training') && training) {
    const threads = String(results.machine.wasmThreads ?? 1);
    const torch = training.peers[`torch${Number(threads)}`];
    const fitwell = training.peers.fitwell;
    for (const size of training.batchSizes) {
      const target = size >= 512 ? 1.0 : 0.8;
      out.push(
        ratioGoal(
          17,
          `training step ÷ PyTorch (${threads} thread), batch ${size}`,
          turnRatio(fitwell?.byBatchSize[size]?.turns, torch?.byBatchSize[size]?.turns),
          `≥ ${target.toFixed(1)}×`,
          (v) => v >= target,
        ),
      );
    }
    for (const p of training.profiles) {
      out.push({
        issue: 17,
        name: `training step: tf kernels per step, batch ${p.batchSize}`,
        measured: p.opsPerStep,
        unit: '',
        goal: 'reported',
        met: null,
      });
      out.push({
        issue: 17,
        name: `training step: GEMM share of the step time, batch ${p.batchSize}`,
        measured: p.gemmShare * 100,
        unit: '%',
        goal: 'reported',
        met: null,
      });
    }
    const fit = training.peers.layersFit;
    if (fit) {
      for (const size of training.batchSizes) {
        out.push(
          ratioGoal(
            5,
            `training step ÷ tfjs model.fit, batch ${size}`,
            turnRatio(fitwell?.byBatchSize[size]?.turns, fit.byBatchSize[size]?.turns),
            '≥ 8×',
            (v) => v >= 8,
          ),
        );
      }
    }
  }
  if (suites.includes('api') && api) {
    out.push(
      ratioGoal(
        17,
        `through the API (active → completed) ÷ training step, batch ${api.batchSize}`,
        { value: api.ratio?.median ?? NaN, range: api.ratio && [api.ratio.min, api.ratio.max] },
        '≥ 0.85×',
        (v) => v >= 0.85,
      ),
    );
  }
  if (suites.includes('cores') && api) {
    out.push(
      ratioGoal(
        17,
        'two jobs at once (WORKER_CONCURRENCY=2) ÷ one job, samples/s',
        { value: api.pairRatio?.median ?? NaN, range: api.pairRatio && [api.pairRatio.min, api.pairRatio.max] },
        '≥ 1.8×',
        (v) => v >= 1.8,
      ),
    );
  }
  if (predict) {
    const find = (model: string, server: 'app' | 'bare', rows: number) =>
      predict.runs.find(
        (r) => r.model === model && r.server === server && r.rows === rows && (server === 'bare' || r.isDefault),
      );
    for (const model of Object.keys(predict.models)) {
      const bare = find(model, 'bare', 1);
      const app = find(model, 'app', 1);
      if (!bare || !app) continue;
      out.push(
        ratioGoal(
          17,
          `predict 1 row (${model}), service settings: req/s ÷ bare fastify`,
          turnRatio(app.roundsRps, bare.roundsRps),
          '≥ 0.7×',
          (v) => v >= 0.7,
        ),
      );
      // autocannon's latencies are whole ms: a bare p99 of 0 counts as 1.
      const p99 = app.p99Ms / Math.max(bare.p99Ms, 1);
      out.push(
        ratioGoal(
          17,
          `predict 1 row (${model}), service settings: p99 ÷ bare fastify p99`,
          { value: p99 },
          '≤ 2×',
          (v) => v <= 2,
        ),
      );
    }
    const bare256 = find('reference', 'bare', 256);
    const app256 = find('reference', 'app', 256);
    if (bare256 && app256) {
      out.push(
        ratioGoal(
          17,
          'predict 256 rows (reference), service settings: req/s ÷ bare fastify',
          turnRatio(app256.roundsRps, bare256.roundsRps),
          '≥ 0.5×',
          (v) => v >= 0.5,
        ),
      );
    }
    const steady = find('reference', 'app', 1);
    if (predict.cold && steady) {
      out.push({
        issue: 17,
        name: `predict 1 row (reference): first ${predict.cold.seconds} s after start ÷ the warm server's req/s`,
        measured: predict.cold.appRps / steady.requestsPerSecond,
        unit: '×',
        goal: 'reported',
        met: null,
      });
    }
  }
  if (queue) {
    out.push({
      issue: 5,
      name: 'queue: POST → active, p50',
      measured: queue.p50Ms,
      unit: 'ms',
      goal: '≤ 20 ms',
      met: queue.p50Ms <= 20,
    });
  }
  for (const run of results.data?.runs ?? []) {
    const size = `${run.targetMb} MB CSV`;
    out.push({
      issue: 16,
      name: `data: upload and store a ${size}, MB/s`,
      measured: run.mbPerSecond,
      unit: '',
      goal: '≥ 40',
      met: run.mbPerSecond >= 40,
    });
    out.push({
      issue: 16,
      name: `data: API peak RSS (VmHWM) during a ${size}, MB`,
      measured: run.apiPeakRssMb,
      unit: '',
      goal: '≤ 300',
      met: run.apiPeakRssMb <= 300,
    });
    out.push({
      issue: 16,
      name: `data: stored size ÷ float32 size, ${size}`,
      measured: run.storedVsFloat32,
      unit: '×',
      goal: '≤ 1.2×',
      met: run.storedVsFloat32 <= 1.2,
    });
    out.push({
      issue: 16,
      name: `data: stored size ÷ CSV size, ${size}`,
      measured: run.storedVsCsv,
      unit: '×',
      goal: 'reported',
      met: null,
    });
  }
  const trained = results.data?.training;
  if (trained) {
    const on = `${trained.targetMb} MB CSV (${trained.rows} rows), ${trained.epochs} epoch(s) from chunks`;
    for (const [name, measured, unit] of [
      [`data: training samples/s, ${on}`, trained.samplesPerSecond, ''],
      [`data: training job wall time, ${on}, s`, trained.jobSeconds, ''],
      [`data: training process peak RSS (VmHWM), ${on}, MB`, trained.trainingProcessPeakRssMb, ''],
      [`data: worker peak RSS (VmHWM), ${on}, MB`, trained.workerPeakRssMb, ''],
      [`data: API peak RSS during training, ${on}, MB`, trained.apiPeakRssMb, ''],
      [`data: predict 100 rows with the model (status ${trained.predictStatus})`, trained.predictMs, 'ms'],
    ] as const) {
      out.push({ issue: 16, name, measured, unit, goal: 'reported', met: null });
    }
    if (trained.reference && trained.samplesPerSecondVsReference !== undefined) {
      const reference = trained.reference;
      out.push({
        issue: 16,
        name: `data: training samples/s, same request on ${reference.rows} rows, ${reference.epochs} epoch(s)`,
        measured: reference.samplesPerSecond,
        unit: '',
        goal: 'reported',
        met: null,
      });
      out.push({
        issue: 16,
        name: `data: training samples/s on ${trained.rows} rows ÷ on ${reference.rows} rows`,
        measured: trained.samplesPerSecondVsReference,
        unit: '×',
        goal: 'within 10 % (≥ 0.9×)',
        met: trained.samplesPerSecondVsReference >= 0.9,
      });
    }
  }
  const search = results.search?.variants;
  if (search && search.length === 2) {
    const [full, asha] = search;
    out.push({
      issue: 13,
      name: 'search: ASHA epochs ÷ no-pruning epochs',
      measured: (100 * asha.epochs) / full.epochs,
      unit: '%',
      goal: '≤ 40 %',
      met: asha.epochs <= 0.4 * full.epochs,
    });
    const gap = (full.bestTestAccuracy ?? NaN) - (asha.bestTestAccuracy ?? NaN);
    out.push({
      issue: 13,
      name: 'search: best test accuracy, no pruning − ASHA (points)',
      measured: gap,
      unit: '',
      goal: '≤ 0.5',
      met: gap <= 0.5,
    });
  }
  if (results.quality?.torch) {
    for (const [init, summary] of Object.entries(qualitySummary(results.quality))) {
      out.push({
        issue: 10,
        unit: '',
        name: `quality (init ${init}): rows within 1 point / 0.01 R² of PyTorch or better`,
        measured: summary.withinGoal,
        goal: `all ${summary.compared}`,
        met: summary.withinGoal === summary.compared,
      });
      if (summary.noisyBest) {
        const { fitwell, torch } = summary.noisyBest;
        out.push({
          issue: 10,
          unit: '',
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

/** "0", or the count with its status codes: "7 (503: 7)". */
function non2xx(r: { non2xx: number; statusCodes: Record<string, number> }): string {
  if (!r.non2xx) return '0';
  const codes = Object.entries(r.statusCodes).filter(([code]) => !code.startsWith('2'));
  return `${r.non2xx} (${codes.map(([code, n]) => `${code}: ${n}`).join(', ')})`;
}

const ms = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '—' : v >= 100 ? fmt(v, 3) : fmt(v, 2));

function goalMeasured(g: Goal): string {
  if (!Number.isFinite(g.measured)) return 'not measured';
  const unit = g.unit === 'ms' ? ' ms' : g.unit;
  const range = g.range && g.range[0] !== g.range[1] ? ` (${fmt(g.range[0])}–${fmt(g.range[1])})` : '';
  return `${fmt(g.measured)}${unit}${range}`;
}

function report(results: Results): string {
  const parts: string[] = [];
  const m = results.machine;
  parts.push(
    `Machine: ${m.nproc} cores, ${m.cpu}, Node ${m.node}, TensorFlow.js backend ${m.backend}` +
      `${m.wasmThreads !== undefined ? ` (${m.wasmThreads} thread)` : ''}${m.torch ? `, PyTorch ${m.torch}` : ''}` +
      `; load average at the start ${m.loadAverage.map((v) => v.toFixed(2)).join(', ')}`,
  );
  const { training, api, predict, queue } = results;
  if (training) {
    const sizes = training.batchSizes;
    const rows = Object.values(training.peers).map((peer) => [
      peer!.label,
      ...sizes.map((s) => fmtSpread(peer!.byBatchSize[s]?.spread)),
    ]);
    parts.push(
      `\nTraining, samples/s: median of ${training.turns} alternating turns (slowest–fastest turn), ` +
        `${training.epochsPerTurn} epoch(s) of ${training.rows} random rows per peer and turn\n` +
        table(['', ...sizes.map((s) => `batch ${s}`)], rows),
    );
    if (training.torch.note) parts.push(training.torch.note);
    if (training.profiles.length) {
      parts.push(
        `\nOne training step of fitwell (tf.profile over its steps; the step time without the profiler, from the turns)\n` +
          table(
            [
              '',
              'kernels/step',
              'step ms',
              'GEMMs/step',
              'GEMM kernels ms',
              'GEMM share',
              'GEMMs alone ms',
              'all kernels ms',
              'profiled step ms',
            ],
            training.profiles.map((p) => [
              `batch ${p.batchSize}`,
              fmt(p.opsPerStep),
              ms(p.stepMs),
              fmt(p.gemmsPerStep),
              ms(p.gemmMs),
              `${fmt(p.gemmShare * 100, 2)} %`,
              ms(p.gemmAloneMs),
              ms(p.profiledKernelMs),
              ms(p.profiledStepMs),
            ]),
          ),
      );
    }
  }
  if (api) {
    const settings = Object.entries(api.settings)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
    const rowsOut: (string | number)[][] = [];
    if (api.singleSpread) rowsOut.push(['one job through the API (active → completed)', fmtSpread(api.singleSpread)]);
    if (api.stepSpread) rowsOut.push(['training step in the bench process (same turns)', fmtSpread(api.stepSpread)]);
    if (api.pairSpread) rowsOut.push(['two jobs at once, total', fmtSpread(api.pairSpread)]);
    parts.push(
      `\nThrough the API: ${api.epochs} epochs of ${api.rows} rows at batch ${api.batchSize}, ${api.single.length} turns; ${settings}\n` +
        table(['samples/s', 'median (range)'], rowsOut),
    );
    const p = api.parts;
    const c = api.coldJob?.parts;
    if (p) {
      parts.push(
        "\nWhere a job's time goes, ms (median over the timed jobs; the first job, on a fresh sandboxed process, apart)\n" +
          table(
            ['', 'timed jobs', 'first job'],
            [
              ['per epoch: all', ms(p.epochMs), ms(c?.epochMs)],
              ['per epoch: training step', ms(p.stepMs), ms(c?.stepMs)],
              ['  of which cancellation checks (Redis)', ms(p.cancelChecksMs), ms(c?.cancelChecksMs)],
              ['per epoch: metrics pass', ms(p.metricsMs), ms(c?.metricsMs)],
              ['per epoch: checkpoint write', ms(p.checkpointMs), ms(c?.checkpointMs)],
              ['per epoch: metrics and progress publication', ms(p.publishMs), ms(c?.publishMs)],
              ['per job: active → processor entered', ms(p.toProcessorMs), ms(c?.toProcessorMs)],
              ['  of which the sandboxed process start', '—', ms(api.coldJob?.processStartMs)],
              ['per job: setup (dataset, preprocessing, network)', ms(p.setupMs), ms(c?.setupMs)],
              ['per job: finish (freeze, diagnosis, model save)', ms(p.finishMs), ms(c?.finishMs)],
              ['per job: processor returned → completed', ms(p.toCompletedMs), ms(c?.toCompletedMs)],
            ],
          ),
      );
    }
  }
  if (predict) {
    const models = Object.entries(predict.models)
      .map(([key, m]) => `  ${key}: ${m.description}`)
      .join('\n');
    const settings = Object.entries(predict.settings)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
    parts.push(
      `\nPredict, ${predict.connections} connections, ${predict.seconds} s per server in ${predict.rounds} alternating turns ` +
        `(req/s of 2xx responses: median (slowest–fastest turn); the server's CPU time per request and the latencies: medians of the turns). fitwell's settings: ${settings}, logs to ${predict.logDestination}\n` +
        `${models}\n` +
        table(
          ['', 'req/s', 'CPU µs/req', 'p50 ms', 'p99 ms', 'errors', 'non-2xx', 'bytes'],
          predict.runs.map((r) => [
            r.label,
            fmtSpread(r.rpsSpread),
            fmt(r.cpuUsPerRequest),
            fmt(r.p50Ms),
            fmt(r.p99Ms),
            r.errors,
            non2xx(r),
            r.responseBytes,
          ]),
        ),
    );
    const cold = predict.cold;
    if (cold) {
      parts.push(
        `\nThe first ${cold.seconds} s after start (reference, 1 row; fresh processes)\n` +
          table(
            ['', 'req/s', 'p99 ms', 'errors', 'non-2xx'],
            [
              ['fitwell, service settings', fmt(cold.appRps), fmt(cold.appP99Ms), cold.errors, non2xx(cold)],
              ['bare fastify', fmt(cold.bareRps), fmt(cold.bareP99Ms), 0, 0],
            ],
          ),
      );
    }
  }
  if (queue) {
    parts.push(
      `\nQueue, POST /v1/training-jobs → active, ${queue.jobs} jobs, idle worker\n` +
        table(
          ['', 'p50 ms', 'p99 ms'],
          [
            ['POST → active', fmt(queue.p50Ms), fmt(queue.p99Ms)],
            ['POST → 202', fmt(queue.postP50Ms), '—'],
          ],
        ) +
        (queue.failed ? `\n${queue.failed} of the jobs failed (after becoming active)` : ''),
    );
  }
  if (results.quality) parts.push(qualityReport(results.quality, table));
  if (results.search) parts.push(searchReport(results.search, table));
  if (results.goals.length) {
    parts.push(
      "\nGoals (ratios: median of the turns' ratios, with their range)\n" +
        table(
          ['', 'issue', 'measured', 'goal', 'met'],
          results.goals.map((g) => [
            g.name,
            g.issue,
            goalMeasured(g),
            g.milestone ? `${g.goal} (milestone ${g.milestone.goal})` : g.goal,
            g.met === null ? '—' : g.met ? 'yes' : g.milestone?.met ? 'milestone only' : 'no',
          ]),
        ),
    );
  }
  if (results.warnings.length) {
    parts.push(
      `\nWarnings (figures that moved by more than ${Math.round(MOVE_WARNING * 100)} % between turns)\n${results.warnings.map((w) => `- ${w}`).join('\n')}`,
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
    machine: {
      ...machine(),
      backend: backend.name,
      wasmThreads: await wasmThreads(backend.name),
      loadAverage: loadavg(),
    },
    options,
    goals: [],
    warnings: [],
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
    const api = options.suites.includes('api');
    const cores = options.suites.includes('cores');
    if (api || cores) results.api = await benchApi(config, options, { api, cores }, log);
    if (options.suites.includes('predict')) results.predict = await benchPredict(config, options, log);
    if (options.suites.includes('queue')) results.queue = await benchQueue(config, options, log);
    if (options.suites.includes('quality')) results.quality = await benchQuality(options, log);
    if (options.suites.includes('data')) results.data = await benchData(config, options, log);
    if (options.suites.includes('search')) results.search = await benchSearch(config, options, log);
  } finally {
    if (usesRedis)
      await deletePrefix(config).catch((error: unknown) => log(`could not delete the bench's keys: ${String(error)}`));
    redisChild?.kill('SIGTERM');
  }
  results.durationS = Math.round((Date.now() - started) / 100) / 10;
  results.goals = goals(results);
  results.warnings = [
    ...(results.training?.warnings ?? []),
    ...(results.api?.warnings ?? []),
    ...(results.predict?.warnings ?? []),
  ];
  console.log(report(results));
  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = join(RESULTS_DIR, `${results.startedAt.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify(results, null, 2) + '\n');
  console.log(`\nWritten to ${file} (${results.durationS} s in all)`);
}

/** The goals and the printed report of a results file, for bench/readme.ts. */
export { goals, report, type Results };

if (require.main === module) {
  main().then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
