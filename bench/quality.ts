import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeClass, decodeRegression, encodeFeatures } from '../src/data/preprocessing';
import { parseCsv } from '../src/data/parse-dataset';
import { columnValues, type Table } from '../src/data/table';
import { FrozenExecutor } from '../src/serving/frozen-executor';
import {
  trainingRequestSchema,
  type Initializer,
  type TrainingRequestInput,
} from '../src/schemas/training-request.schema';
import { trainFromRequest } from '../src/training/train-from-request';
import type { BenchOptions } from './options';

/**
 * The quality benchmark of issue 10: the protocol of bench/quality/quality_reference.py (an MLP
 * of two hidden layers of 256 ReLU units, Adam 1e-3, batch 32, 60 epochs, one regularization or
 * normalization per row) trained through fitwell's real training path, `trainFromRequest` on
 * the parsed training CSV with validationSplit 0, so it trains on exactly the rows PyTorch
 * trains on; the held-out test CSV is then encoded with the run's own preprocessing and
 * predicted by the frozen model with the serving executor. The PyTorch figures are read from
 * the committed bench/quality/torch-reference.json (the script writes it; the bench never
 * needs Python).
 */

const QUALITY_DIR = join(__dirname, '..', '..', 'bench', 'quality');

export const QUALITY_DATASETS = {
  noisy: 'classification',
  imbalanced: 'classification',
  diabetes: 'regression',
  'friedman-cat': 'regression',
  digits: 'classification',
  'breast-cancer': 'classification',
  wine: 'classification',
} as const;
export type QualityDataset = keyof typeof QUALITY_DATASETS;

const seedRange = (first: number, last: number) => Array.from({ length: last - first + 1 }, (_, i) => first + i);

/**
 * Seeds per dataset, chosen from the spread of one run's test metric so that the standard
 * error of the fitwell − PyTorch difference stays well under the 0.01 tolerance: three (the
 * issue's protocol) where a run varies by about a point or less from seed to seed (the PyTorch
 * side has ten: SE of the difference about 0.006 at a per-run spread of 0.01); sixty on both
 * sides for diabetes, whose runs spread 0.01–0.04 R² (at three seeds a cell's SE would be about
 * 0.02, twice the tolerance, and the table would pass or fail it by luck). The report prints
 * each difference's standard error beside it. `--quality-seeds` replaces the list everywhere.
 */
export const DEFAULT_QUALITY_SEEDS = seedRange(1, 3);
export const QUALITY_SEEDS: Partial<Record<QualityDataset, number[]>> = { diabetes: seedRange(1, 60) };

export function qualitySeeds(dataset: QualityDataset, override: number[]): number[] {
  return override.length ? override : (QUALITY_SEEDS[dataset] ?? DEFAULT_QUALITY_SEEDS);
}

interface QualityRow {
  label: string;
  /** The PyTorch row it is compared with. */
  torch: string;
  /** Not one of the seven rows (sets an option away from fitwell's defaults). */
  extra?: boolean;
  hidden: Record<string, unknown>;
  regularization?: Record<string, unknown>;
}

/**
 * The seven rows, in fitwell's defaults for everything the row does not set, plus one:
 * l1-subgradient, the same L1 penalty applied as PyTorch applies it (α·sign(w) in the gradient,
 * through Adam) rather than by fitwell's default proximal step, to show how much of the L1 row's
 * difference is that choice.
 */
export const QUALITY_ROWS: Record<string, QualityRow> = {
  none: { label: 'none', torch: 'none', hidden: {} },
  l2: { label: 'L2 1e-3', torch: 'l2', hidden: {}, regularization: { l2: 1e-3 } },
  l1: { label: 'L1 1e-4', torch: 'l1', hidden: {}, regularization: { l1: 1e-4 } },
  'l1-subgradient': {
    label: 'L1 1e-4 subgradient',
    torch: 'l1',
    extra: true,
    hidden: {},
    regularization: { l1: 1e-4, l1Mode: 'subgradient' },
  },
  dropout: { label: 'dropout 0.5', torch: 'dropout', hidden: { dropout: 0.5 } },
  'batch-norm': { label: 'batch norm', torch: 'batch-norm', hidden: { normalization: 'batch' } },
  'batch-norm-dropout': {
    label: 'batch norm + dropout 0.3',
    torch: 'batch-norm-dropout',
    hidden: { normalization: 'batch', dropout: 0.3 },
  },
  'layer-norm': { label: 'layer norm', torch: 'layer-norm', hidden: { normalization: 'layer' } },
};

export interface Spread {
  values: number[];
  mean: number;
  /** Population standard deviation over the seeds. */
  std: number;
}

interface DatasetFigures {
  metric: 'accuracy' | 'r2';
  /** The seeds run (older reference files have one list for all datasets instead). */
  seeds?: number[];
  rows: Record<string, Spread>;
}

export interface QualityResults {
  /** `--quality-seeds`, when given (it replaces every dataset's own seeds). */
  seeds: number[];
  /** "default" is the schema's default model.init. */
  byInit: Record<string, Record<string, DatasetFigures>>;
  torch?: TorchReference;
  seconds: number;
}

export interface TorchReference {
  torch: string;
  init: string;
  seeds: number[];
  datasets: Record<string, DatasetFigures>;
}

export function spread(values: number[]): Spread {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const std = Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / values.length);
  return { values, mean, std };
}

/** The standard error of a mean difference of two independent samples (sample variances). */
export function differenceStdError(a: Spread, b: Spread): number {
  const variance = (s: Spread) => (s.values.length > 1 ? (s.std ** 2 * s.values.length) / (s.values.length - 1) : 0);
  return Math.sqrt(variance(a) / a.values.length + variance(b) / b.values.length);
}

const LIMITS = { maxRows: 1_000_000, maxColumns: 10_000 };

function readTable(name: string, part: 'train' | 'test'): Table {
  return parseCsv(readFileSync(join(QUALITY_DIR, 'data', `${name}.${part}.csv`), 'utf8'), LIMITS);
}

export function qualityRequest(
  task: 'classification' | 'regression',
  row: QualityRow,
  seed: number,
  init: Initializer | undefined,
): TrainingRequestInput {
  const layer = { units: 256, activation: 'relu' as const, ...row.hidden };
  return {
    datasetId: 'quality-bench',
    target: 'target',
    task,
    model: { hidden: [layer, layer], ...(init ? { init } : {}) },
    regularization: row.regularization ?? {},
    training: { epochs: 60, batchSize: 32, optimizer: 'adam', learningRate: 1e-3, validationSplit: 0, seed },
  };
}

/** One run: train on the training CSV, then the test metric of the frozen model. */
async function runOnce(
  train: Table,
  test: Table,
  task: 'classification' | 'regression',
  row: QualityRow,
  seed: number,
  init: Initializer | undefined,
): Promise<number> {
  const request = trainingRequestSchema.parse(qualityRequest(task, row, seed, init));
  const outcome = await trainFromRequest(request, train, seed);
  if (outcome.rows.train !== train.rowCount || outcome.rows.validation !== 0) {
    throw new Error(
      `expected every one of the ${train.rowCount} rows in training, got ${JSON.stringify(outcome.rows)}`,
    );
  }
  const rows = Int32Array.from({ length: test.rowCount }, (_, i) => i);
  const x = encodeFeatures(outcome.preprocessing, test, rows);
  const executor = new FrozenExecutor(outcome.frozen);
  const out = executor.run(x, test.rowCount);
  executor.dispose();
  const truth = columnValues(test, 'target');
  const k = outcome.frozen.outputSize;
  if (task === 'classification') {
    let correct = 0;
    for (let r = 0; r < test.rowCount; r++) {
      let best = 0;
      for (let c = 1; c < k; c++) if (out[r * k + c] > out[r * k + best]) best = c;
      if (decodeClass(outcome.preprocessing, best) === truth[r]) correct++;
    }
    return correct / test.rowCount;
  }
  const y = truth.map(Number);
  const mean = y.reduce((a, b) => a + b, 0) / y.length;
  let residual = 0;
  let total = 0;
  for (let r = 0; r < test.rowCount; r++) {
    residual += (y[r] - decodeRegression(outcome.preprocessing, out[r])) ** 2;
    total += (y[r] - mean) ** 2;
  }
  return 1 - residual / total;
}

function loadTorchReference(): TorchReference | undefined {
  const file = join(QUALITY_DIR, 'torch-reference.json');
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as TorchReference) : undefined;
}

export async function benchQuality(options: BenchOptions, log: (line: string) => void): Promise<QualityResults> {
  const started = Date.now();
  const results: QualityResults = { seeds: options.qualitySeeds, byInit: {}, torch: loadTorchReference(), seconds: 0 };
  const inits: (Initializer | undefined)[] = options.qualityInits.length ? options.qualityInits : [undefined];
  for (const name of options.qualityDatasets) {
    const task = QUALITY_DATASETS[name];
    const train = readTable(name, 'train');
    const test = readTable(name, 'test');
    const seeds = qualitySeeds(name, options.qualitySeeds);
    for (const init of inits) {
      const key = init ?? 'default';
      const byDataset = (results.byInit[key] ??= {});
      const entry: DatasetFigures = { metric: task === 'classification' ? 'accuracy' : 'r2', seeds, rows: {} };
      byDataset[name] = entry;
      for (const rowName of options.qualityRows) {
        const row = QUALITY_ROWS[rowName];
        const values: number[] = [];
        for (const seed of seeds) values.push(await runOnce(train, test, task, row, seed, init));
        entry.rows[rowName] = spread(values);
        log(
          `quality: ${name} ${rowName} init ${key}: ${spread(values).mean.toFixed(4)} ` +
            `(${Math.round((Date.now() - started) / 1000)} s)`,
        );
      }
    }
  }
  results.seconds = Math.round((Date.now() - started) / 100) / 10;
  return results;
}

/** The goal's tolerance: 1 point of accuracy or 0.01 of R², both 0.01 in the metric's units. */
export const QUALITY_TOLERANCE = 0.01;

export interface QualitySummary {
  /** (dataset, row) pairs of the seven rows with a PyTorch figure. */
  compared: number;
  /** Of those, the ones where fitwell − PyTorch ≥ −0.01. */
  withinGoal: number;
  /** The mean of fitwell − PyTorch over those pairs. */
  meanDifference: number;
  /** The worst pair. */
  worst?: { dataset: string; row: string; difference: number };
  /** The noisy set's best row on each side (fitwell's over its seven rows, PyTorch's over its). */
  noisyBest?: { fitwell: Spread & { row: string }; torch: Spread & { row: string } };
}

export function qualitySummary(results: QualityResults): Record<string, QualitySummary> {
  const out: Record<string, QualitySummary> = {};
  const torch = results.torch;
  for (const [init, byDataset] of Object.entries(results.byInit)) {
    const summary: QualitySummary = { compared: 0, withinGoal: 0, meanDifference: 0 };
    let total = 0;
    for (const [dataset, entry] of Object.entries(byDataset)) {
      for (const [rowName, fitwell] of Object.entries(entry.rows)) {
        const row = QUALITY_ROWS[rowName];
        const reference = torch?.datasets[dataset]?.rows[row.torch];
        if (row.extra || !reference) continue;
        const difference = fitwell.mean - reference.mean;
        summary.compared++;
        total += difference;
        if (difference >= -QUALITY_TOLERANCE - 1e-9) summary.withinGoal++;
        if (!summary.worst || difference < summary.worst.difference)
          summary.worst = { dataset, row: rowName, difference };
      }
      if (dataset === 'noisy' && torch?.datasets.noisy) {
        const best = (rows: Record<string, Spread>, keep: (name: string) => boolean) =>
          Object.entries(rows)
            .filter(([name]) => keep(name))
            .map(([row, s]) => ({ ...s, row }))
            .sort((a, b) => b.mean - a.mean)[0];
        const fitwellBest = best(entry.rows, (name) => !QUALITY_ROWS[name].extra);
        const torchBest = best(torch.datasets.noisy.rows, () => true);
        if (fitwellBest && torchBest) summary.noisyBest = { fitwell: fitwellBest, torch: torchBest };
      }
    }
    summary.meanDifference = summary.compared ? total / summary.compared : 0;
    out[init] = summary;
  }
  return out;
}

type TableFn = (header: string[], rows: (string | number)[][]) => string;

const withSpread = (s: Spread | undefined) => (s ? `${s.mean.toFixed(3)} ± ${s.std.toFixed(3)}` : '—');
const signed = (v: number) => `${v >= 0 ? '+' : '−'}${Math.abs(v).toFixed(3)}`;

/** The side-by-side tables (one per init), then, with several inits, their comparison. */
export function qualityReport(results: QualityResults, table: TableFn): string {
  const parts: string[] = [];
  const torch = results.torch;
  const summaries = qualitySummary(results);
  const source = torch
    ? `PyTorch ${torch.torch} from bench/quality/torch-reference.json (nn.Linear init)`
    : 'no PyTorch figures: bench/quality/torch-reference.json is missing (bench/quality/quality_reference.py writes it)';
  for (const [init, byDataset] of Object.entries(results.byInit)) {
    const rows: (string | number)[][] = [];
    for (const [dataset, entry] of Object.entries(byDataset)) {
      for (const [rowName, fitwell] of Object.entries(entry.rows)) {
        const row = QUALITY_ROWS[rowName];
        const reference = torch?.datasets[dataset]?.rows[row.torch];
        const difference = reference ? fitwell.mean - reference.mean : undefined;
        rows.push([
          `${dataset} (${entry.metric === 'r2' ? 'R²' : 'accuracy'})`,
          row.extra ? `${row.label} (extra; PyTorch: ${row.torch})` : row.label,
          `${fitwell.values.length} / ${reference ? reference.values.length : '—'}`,
          withSpread(fitwell),
          withSpread(reference),
          difference === undefined ? '—' : signed(difference),
          reference ? differenceStdError(fitwell, reference).toFixed(3) : '—',
          difference === undefined || row.extra ? '' : difference >= -QUALITY_TOLERANCE - 1e-9 ? 'yes' : 'NO',
        ]);
      }
    }
    parts.push(
      `\nQuality, model.init ${init}: mean test metric over each dataset's seeds (± population std over ` +
        `the seeds; SE: standard error of the difference); ${source}\n` +
        table(['dataset', 'row', 'seeds', 'fitwell', 'PyTorch', 'fitwell − PyTorch', 'SE', 'within 0.01'], rows),
    );
    const s = summaries[init];
    if (s.compared) {
      const worst = s.worst ? `; worst ${s.worst.dataset} / ${s.worst.row} ${signed(s.worst.difference)}` : '';
      const noisy = s.noisyBest
        ? `; noisy best row: fitwell ${s.noisyBest.fitwell.mean.toFixed(3)} (${s.noisyBest.fitwell.row}) vs ` +
          `PyTorch ${s.noisyBest.torch.mean.toFixed(3)} (${s.noisyBest.torch.row})`
        : '';
      parts.push(
        `${s.withinGoal} of ${s.compared} rows within 0.01 of PyTorch or better; ` +
          `mean fitwell − PyTorch ${signed(s.meanDifference)}${worst}${noisy}`,
      );
    }
  }
  const inits = Object.keys(results.byInit);
  if (inits.length > 1) {
    const datasets = [...new Set(inits.flatMap((init) => Object.keys(results.byInit[init])))];
    const meanOver = (rows: Record<string, Spread>) => {
      const seven = Object.entries(rows).filter(([name]) => !QUALITY_ROWS[name].extra);
      return seven.reduce((a, [, s]) => a + s.mean, 0) / seven.length;
    };
    const rows = inits.map((init) => [
      init,
      ...datasets.map((d) => (results.byInit[init][d] ? meanOver(results.byInit[init][d].rows).toFixed(3) : '—')),
      torch ? `${summaries[init].withinGoal}/${summaries[init].compared}` : '—',
      torch ? signed(summaries[init].meanDifference) : '—',
    ]);
    if (torch) {
      rows.push([
        'PyTorch (nn.Linear)',
        ...datasets.map((d) => (torch.datasets[d] ? meanOver(torch.datasets[d].rows).toFixed(3) : '—')),
        '',
        '',
      ]);
    }
    parts.push(
      '\nInitializers compared: mean test metric over the seven rows and the seeds\n' +
        table(['model.init', ...datasets, 'rows within 0.01', 'mean − PyTorch'], rows),
    );
  }
  return parts.join('\n');
}
