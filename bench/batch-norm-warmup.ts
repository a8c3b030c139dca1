import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { parseCsv } from '../src/data/parse-dataset';
import { initBackend } from '../src/ml/backend';
import { BatchNormalization, type BatchNormPass } from '../src/ml/layers/batch-normalization';
import type { Trainer } from '../src/ml/trainer';
import { Rng } from '../src/random';
import { trainingRequestSchema } from '../src/schemas/training-request.schema';
import { trainFromRequest } from '../src/training/train-from-request';

/**
 * `npm run build && node dist/bench/batch-norm-warmup.js [--seeds 1,2,3] [--epochs 10]`
 *
 * Issue 10, item 3: how far batch norm's running statistics are from the training set's true
 * statistics in the first epochs, and what that does to the validation loss, for each candidate
 * update rule. Every run goes through the real training path (trainFromRequest, the service's
 * trainer and layers). The running statistics never feed back into training (training mode
 * normalizes with batch statistics), so one run serves every rule: each step's batch mean and
 * biased variance are recorded, and the rules are replayed on them in float64:
 *
 * - `keras`: running = m·running + (1 − m)·batch from (0, 1), m = 0.99 (the old behaviour);
 * - `bias-corrected`: the same average from zero divided by 1 − mᵗ (Adam's correction); as a
 *   recursion, running = μₜ·running + (1 − μₜ)·batch with μₜ = m·(1 − mᵗ⁻¹)/(1 − mᵗ);
 * - `cumulative`: the plain mean of the batches for the first 1/(1 − m) steps (μₜ = (t − 1)/t,
 *   PyTorch's `momentum=None`), then the Keras rule: μₜ = min(m, (t − 1)/t);
 * - `epoch-window`: a momentum chosen from the steps per epoch S, μₜ = min(1 − 1/S, (t − 1)/t):
 *   its long run is not the Keras convention for m (shown for comparison only);
 * - `bias-corrected, unbiased variance`: a diagnostic, not a candidate: bias-corrected with each
 *   batch variance scaled by n/(n − 1), to show how much of what remains is the biased (Keras)
 *   stored variance rather than the warm-up.
 *
 * The reference ("true") statistics of an epoch's weights: each batch-norm layer's input over
 * every training row in inference mode, the layers before it using their own true statistics
 * (what a perfect running average would hold; "precise BN"). Reported per rule and epoch, mean
 * over datasets and seeds: |μ − μ*| / σ*, |log(σ² / σ²*)| (σ² with ε) and |valLoss − valLoss*|,
 * where valLoss* is the validation loss with the true statistics. Writes the figures to
 * bench/results/batch-norm-warmup-<timestamp>.json.
 */

const MOMENTUM = 0.99;
const RULES = ['keras', 'bias-corrected', 'cumulative', 'epoch-window', 'bias-corrected, unbiased variance'] as const;
type Rule = (typeof RULES)[number];

interface Stats {
  mean: Float64Array;
  variance: Float64Array;
}

/** The weight of the old running value at step t (1-based) under each rule. */
function oldWeight(rule: Rule, t: number, stepsPerEpoch: number): number {
  const m = MOMENTUM;
  switch (rule) {
    case 'keras':
      return m;
    case 'bias-corrected':
    case 'bias-corrected, unbiased variance':
      return (m * (1 - m ** (t - 1))) / (1 - m ** t);
    case 'cumulative':
      return Math.min(m, (t - 1) / t);
    case 'epoch-window':
      return Math.min(1 - 1 / stepsPerEpoch, (t - 1) / t);
  }
}

function replay(rule: Rule, batches: Stats[], stepsPerEpoch: number, batchSize: number): Stats {
  const units = batches[0].mean.length;
  // Diagnostic only: how much of what is left is the biased (Keras) stored variance.
  const varianceScale = rule === 'bias-corrected, unbiased variance' ? batchSize / (batchSize - 1) : 1;
  const mean = new Float64Array(units);
  const variance = new Float64Array(units).fill(1);
  batches.forEach((b, i) => {
    const w = oldWeight(rule, i + 1, stepsPerEpoch);
    for (let j = 0; j < units; j++) {
      mean[j] = w * mean[j] + (1 - w) * b.mean[j];
      variance[j] = w * variance[j] + (1 - w) * b.variance[j] * varianceScale;
    }
  });
  return { mean, variance };
}

// ---- data sets (seeded, generated here) ----

function normal(rng: Rng): number {
  return Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
}

function csv(header: string[], rows: (string | number)[][]): string {
  return (
    [header.join(','), ...rows.map((r) => r.map((v) => (typeof v === 'number' ? v.toFixed(4) : v)).join(','))].join(
      '\n',
    ) + '\n'
  );
}

/** 3 Gaussian classes in 8 informative dimensions (means ±1.2), 4 noise columns, uneven scales. */
function blobs(): string {
  const rng = new Rng(101);
  const centres = [0, 1, 2].map(() => Array.from({ length: 8 }, () => (rng.next() < 0.5 ? -1.2 : 1.2)));
  const rows: (string | number)[][] = [];
  for (let i = 0; i < 400; i++) {
    const c = i % 3;
    const x = centres[c].map((mu, j) => (mu + normal(rng)) * (1 + j) + 5);
    const noise = Array.from({ length: 4 }, () => normal(rng) * 3);
    rows.push([...x, ...noise, `c${c}`]);
  }
  return csv([...Array.from({ length: 12 }, (_, j) => `f${j}`), 'label'], rows);
}

/** 190 rows, 256 columns of which 64 carry the signal and 192 are pure noise; binary, 10 % label noise. */
function noisyWide(): string {
  const rng = new Rng(202);
  const weights = Array.from({ length: 64 }, () => normal(rng));
  const rows: (string | number)[][] = [];
  for (let i = 0; i < 190; i++) {
    const x = Array.from({ length: 256 }, () => normal(rng));
    const score = weights.reduce((s, w, j) => s + w * x[j], 0);
    const flip = rng.next() < 0.1;
    rows.push([...x, score > 0 !== flip ? 'yes' : 'no']);
  }
  return csv([...Array.from({ length: 256 }, (_, j) => `x${j}`), 'label'], rows);
}

/** Friedman #1 on 280 rows: 10 uniform features (5 used), y = 10 sin(π x0 x1) + 20 (x2 − ½)² + 10 x3 + 5 x4 + N(0, 1). */
function friedman(): string {
  const rng = new Rng(303);
  const rows: number[][] = [];
  for (let i = 0; i < 280; i++) {
    const x = Array.from({ length: 10 }, () => rng.next());
    const y = 10 * Math.sin(Math.PI * x[0] * x[1]) + 20 * (x[2] - 0.5) ** 2 + 10 * x[3] + 5 * x[4] + normal(rng);
    rows.push([...x, y]);
  }
  return csv([...Array.from({ length: 10 }, (_, j) => `x${j}`), 'y'], rows);
}

const DATASETS = [
  {
    name: 'churn (examples/, 1200 rows)',
    task: 'classification',
    target: 'churned',
    csv: () => readFileSync(join(__dirname, '..', '..', 'examples', 'churn.csv'), 'utf8'),
  },
  { name: 'blobs (400 rows, 3 classes)', task: 'classification', target: 'label', csv: blobs },
  { name: 'noisy-wide (190 rows × 256)', task: 'classification', target: 'label', csv: noisyWide },
  { name: 'friedman (280 rows, regression)', task: 'regression', target: 'y', csv: friedman },
] as const;

const MODELS = [
  {
    name: 'bn 256-256',
    hidden: [
      { units: 256, normalization: 'batch' },
      { units: 256, normalization: 'batch' },
    ],
  },
  {
    name: 'bn + dropout 0.3',
    hidden: [
      { units: 256, normalization: 'batch', dropout: 0.3 },
      { units: 256, normalization: 'batch', dropout: 0.3 },
    ],
  },
];

// ---- recording each training step's batch statistics ----

const recorded = new Map<string, Stats[]>();
// Wrapped below and always called with `this` bound.
// eslint-disable-next-line @typescript-eslint/unbound-method
const forward = BatchNormalization.prototype.forward;
BatchNormalization.prototype.forward = function (this: BatchNormalization, x, ctx) {
  const pass = forward.call(this, x, ctx);
  if (ctx.training) {
    const { mean, variance } = pass as BatchNormPass;
    const list = recorded.get(this.name) ?? [];
    list.push({ mean: Float64Array.from(mean.dataSync()), variance: Float64Array.from(variance.dataSync()) });
    recorded.set(this.name, list);
  }
  return pass;
};

function bnLayers(trainer: Trainer): BatchNormalization[] {
  return trainer.network.layers.filter((l): l is BatchNormalization => l instanceof BatchNormalization);
}

function setStats(layer: BatchNormalization, stats: Stats): void {
  tf.tidy(() => {
    layer.movingMean.assign(tf.tensor1d(Float32Array.from(stats.mean)));
    layer.movingVariance.assign(tf.tensor1d(Float32Array.from(stats.variance)));
  });
}

function readStats(layer: BatchNormalization): Stats {
  return {
    mean: Float64Array.from(layer.movingMean.dataSync()),
    variance: Float64Array.from(layer.movingVariance.dataSync()),
  };
}

/** Each BN layer's input statistics over the training rows, earlier BN layers on their true statistics. Leaves them set. */
function trueStats(trainer: Trainer): Map<string, Stats> {
  const { x, inputSize, trainRows } = trainer.data;
  const rows = new Float32Array(trainRows.length * inputSize);
  trainRows.forEach((r, i) => rows.set(x.subarray(r * inputSize, (r + 1) * inputSize), i * inputSize));
  const out = new Map<string, Stats>();
  let h = tf.tensor2d(rows, [trainRows.length, inputSize]);
  for (const layer of trainer.network.layers) {
    if (layer instanceof BatchNormalization) {
      const n = h.shape[0];
      const values = h.dataSync();
      const units = h.shape[1];
      const mean = new Float64Array(units);
      const variance = new Float64Array(units);
      for (let i = 0; i < n; i++) for (let j = 0; j < units; j++) mean[j] += values[i * units + j] / n;
      for (let i = 0; i < n; i++)
        for (let j = 0; j < units; j++) variance[j] += (values[i * units + j] - mean[j]) ** 2 / n;
      const stats = { mean, variance };
      out.set(layer.name, stats);
      setStats(layer, stats);
    }
    const next = tf.tidy(() => layer.apply(h, { training: false }));
    // Inference-mode dropout hands its input back.
    if (next !== h) h.dispose();
    h = next;
  }
  h.dispose();
  return out;
}

function errors(actual: Stats, truth: Stats, epsilon: number): { mean: number; variance: number } {
  let meanErr = 0;
  let varErr = 0;
  const units = truth.mean.length;
  for (let j = 0; j < units; j++) {
    const sd = Math.sqrt(truth.variance[j] + epsilon);
    meanErr += Math.abs(actual.mean[j] - truth.mean[j]) / sd / units;
    varErr += Math.abs(Math.log((actual.variance[j] + epsilon) / (truth.variance[j] + epsilon))) / units;
  }
  return { mean: meanErr, variance: varErr };
}

interface Measurement {
  dataset: string;
  model: string;
  seed: number;
  epoch: number;
  stepsPerEpoch: number;
  trueValLoss: number;
  /** The layer's own running statistics (whatever rule the service implements). */
  service: { meanErr: number; varErr: number; valLoss: number };
  rules: Record<Rule, { meanErr: number; varErr: number; valLoss: number }>;
}

function parseArgs(): { seeds: number[]; epochs: number; measureAt: number[] } {
  const args = process.argv.slice(2);
  const get = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const seeds = (get('--seeds') ?? '1,2,3').split(',').map(Number);
  const epochs = Number(get('--epochs') ?? 10);
  const measureAt = [1, 2, 3, 5, 10, 20, 40].filter((e) => e <= epochs);
  return { seeds, epochs, measureAt };
}

async function main(): Promise<void> {
  const { seeds, epochs, measureAt } = parseArgs();
  const backend = await initBackend('wasm');
  const measurements: Measurement[] = [];
  for (const dataset of DATASETS) {
    const table = parseCsv(dataset.csv(), { maxRows: 1e6, maxColumns: 1e4 });
    for (const model of MODELS) {
      for (const seed of seeds) {
        recorded.clear();
        const request = trainingRequestSchema.parse({
          datasetId: 'bench',
          target: dataset.target,
          task: dataset.task,
          model: { hidden: model.hidden },
          training: { epochs, batchSize: 32, optimizer: 'adam', learningRate: 1e-3, seed },
        });
        await trainFromRequest(request, table, seed, {
          onEpoch: async (_metrics, trainer) => {
            if (!measureAt.includes(trainer.epoch)) return;
            const layers = bnLayers(trainer);
            const current = new Map(layers.map((l) => [l.name, readStats(l)]));
            const stepsPerEpoch = recorded.get(layers[0].name)!.length / trainer.epoch;
            const val = () => trainer.evaluate(trainer.data.validationRows).loss;
            const score = (stats: Map<string, Stats>, truth: Map<string, Stats>) => {
              for (const l of layers) setStats(l, stats.get(l.name)!);
              const e = layers.map((l) => errors(stats.get(l.name)!, truth.get(l.name)!, l.epsilon));
              return {
                meanErr: e.reduce((s, v) => s + v.mean, 0) / e.length,
                varErr: e.reduce((s, v) => s + v.variance, 0) / e.length,
                valLoss: val(),
              };
            };
            const truth = trueStats(trainer);
            const trueValLoss = val();
            const rules = Object.fromEntries(
              RULES.map((rule) => {
                const replayed = new Map(
                  layers.map((l) => [l.name, replay(rule, recorded.get(l.name)!, stepsPerEpoch, 32)]),
                );
                return [rule, score(replayed, truth)];
              }),
            ) as Measurement['rules'];
            const service = score(current, truth);
            for (const l of layers) setStats(l, current.get(l.name)!);
            measurements.push({
              dataset: dataset.name,
              model: model.name,
              seed,
              epoch: trainer.epoch,
              stepsPerEpoch,
              trueValLoss,
              service,
              rules,
            });
            process.stderr.write(
              `[bn-warmup] ${dataset.name} · ${model.name} · seed ${seed} · epoch ${trainer.epoch}: ` +
                RULES.map(
                  (r) =>
                    `${r} ${rules[r].meanErr.toFixed(3)}/${rules[r].varErr.toFixed(3)}/${Math.abs(rules[r].valLoss - trueValLoss).toFixed(4)}`,
                ).join(' · ') +
                '\n',
            );
          },
        });
      }
    }
  }
  const summary = summarize(measurements, measureAt);
  process.stdout.write(`${summary}\n`);
  const dir = join(__dirname, '..', '..', 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `batch-norm-warmup-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(
    file,
    JSON.stringify({ backend: backend.name, momentum: MOMENTUM, seeds, epochs, measurements }, null, 1),
  );
  process.stderr.write(`[bn-warmup] wrote ${file}\n`);
}

function summarize(ms: Measurement[], measureAt: number[]): string {
  const avg = (values: number[]) => values.reduce((s, v) => s + v, 0) / values.length;
  const lines: string[] = [];
  const steps = [...new Set(ms.map((m) => `${m.dataset}: ${m.stepsPerEpoch}`))];
  lines.push(`Steps per epoch (batch 32): ${steps.join('; ')}`);
  for (const model of [...new Set(ms.map((m) => m.model))]) {
    lines.push(`\n${model}: mean over datasets and seeds of |μ − μ*|/σ* · |log σ²/σ²*| · |valLoss − valLoss*|`);
    lines.push(`| rule | ${measureAt.map((e) => `epoch ${e}`).join(' | ')} |`);
    lines.push(`|---|${measureAt.map(() => '---').join('|')}|`);
    const of = ms.filter((m) => m.model === model);
    const row = (name: string, pick: (m: Measurement) => { meanErr: number; varErr: number; valLoss: number }) =>
      `| ${name} | ${measureAt
        .map((e) => {
          const at = of.filter((m) => m.epoch === e);
          const mean = avg(at.map((m) => pick(m).meanErr));
          const variance = avg(at.map((m) => pick(m).varErr));
          const loss = avg(at.map((m) => Math.abs(pick(m).valLoss - m.trueValLoss)));
          return `${mean.toFixed(3)} · ${variance.toFixed(3)} · ${loss.toFixed(4)}`;
        })
        .join(' | ')} |`;
    for (const rule of RULES) lines.push(row(rule, (m) => m.rules[rule]));
    lines.push(row('service (as built)', (m) => m.service));
    lines.push(
      `| valLoss* | ${measureAt.map((e) => avg(of.filter((m) => m.epoch === e).map((m) => m.trueValLoss)).toFixed(4)).join(' | ')} |`,
    );
    lines.push(`\n${model}, epoch 1 by dataset: valLoss* and valLoss − valLoss* (mean over seeds)`);
    lines.push(`| dataset | steps/epoch | valLoss* | ${RULES.join(' | ')} |`);
    lines.push(`|---|---|---|${RULES.map(() => '---').join('|')}|`);
    for (const dataset of [...new Set(of.map((m) => m.dataset))]) {
      const at = of.filter((m) => m.dataset === dataset && m.epoch === 1);
      const signed = (rule: Rule) => avg(at.map((m) => m.rules[rule].valLoss - m.trueValLoss));
      lines.push(
        `| ${dataset} | ${at[0].stepsPerEpoch} | ${avg(at.map((m) => m.trueValLoss)).toFixed(3)} | ${RULES.map((r) => `${signed(r) >= 0 ? '+' : ''}${signed(r).toFixed(3)}`).join(' | ')} |`,
      );
    }
  }
  return lines.join('\n');
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
