/**
 * The labelled diagnosis suite: trains each case below for real, through trainFromRequest (the
 * path jobs take), and writes what the diagnosis takes — the request, the per-epoch metrics and
 * the context (best and stopped epochs, warnings, baseline, rows, target facts) — to
 * test/fixtures/diagnosis-suite/<case>.json. test/training/diagnosis-suite.test.ts reads them
 * and checks every verdict and suggestion; nothing there trains.
 *
 *     npm run build && node dist/scripts/diagnosis-suite.js [case names…]
 *
 * With names, only those cases are regenerated. The sklearn sets come from
 * scripts/diagnosis-suite/sklearn_data.py (committed CSVs). Synthetic sets are drawn with fixed
 * seeds, and each has an oracle: 2000 fresh rows from the same distribution, scored after every
 * epoch with that epoch's frozen weights. The oracle is what makes a label true independently of
 * the diagnosis (an overfit run's oracle loss turned; a still-improving one's was still
 * falling), and the test checks those facts too. Runs on the wasm backend, deterministic.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseCsv } from '../src/data/parse-dataset';
import { encodeFeatures, encodeTargets, fitPreprocessing, rowsWithTarget } from '../src/data/preprocessing';
import type { Table } from '../src/data/table';
import { initBackend } from '../src/ml/backend';
import { runFrozen } from '../src/ml/frozen-model';
import { Rng } from '../src/random';
import {
  trainingRequestSchema,
  type TrainingRequest,
  type TrainingRequestInput,
} from '../src/schemas/training-request.schema';
import { diagnose } from '../src/training/diagnosis';
import { trainFromRequest } from '../src/training/train-from-request';

const ROOT = join(__dirname, '..', '..');
const OUT = join(ROOT, 'test', 'fixtures', 'diagnosis-suite');
const ORACLE_ROWS = 2000;
const LIMITS = { maxRows: 1_000_000, maxColumns: 1000 };

export const LABELS = [
  'overfit',
  'underfit',
  'good-fit',
  'still-improving',
  'too-small-validation',
  'wrong-task',
] as const;
type Label = (typeof LABELS)[number];

interface SuiteCase {
  name: string;
  label: Label;
  /** What makes the run what its label says, by construction. */
  why: string;
  /** CSV text of the rows to train on, and for synthetic data the oracle's fresh rows. */
  data: () => { csv: string; oracleCsv?: string };
  request: Omit<TrainingRequestInput, 'datasetId'>;
  /** A second run of the same request with more epochs: did it keep improving? (cases without an oracle) */
  rerunEpochs?: number;
  /** The remedy the label calls for, run for real: it must do better (the test checks it). */
  remedy?: { note: string; request: Partial<Omit<TrainingRequestInput, 'datasetId'>> };
}

// --- data ----------------------------------------------------------------------------------

function normal(rng: Rng): number {
  return Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
}

/** `rows` rows and ORACLE_ROWS more from the same draw, as two CSVs with one header. */
function withOracle(header: string[], row: (rng: Rng) => (number | string)[], rows: number, seed: number) {
  const rng = new Rng(seed);
  const line = () =>
    row(rng)
      .map((v) => (typeof v === 'number' ? Number(v.toPrecision(6)) : v))
      .join(',');
  const head = header.join(',');
  const train = Array.from({ length: rows }, line);
  const oracle = Array.from({ length: ORACLE_ROWS }, line);
  return { csv: [head, ...train].join('\n') + '\n', oracleCsv: [head, ...oracle].join('\n') + '\n' };
}

const noiseNames = (k: number) => Array.from({ length: k }, (_, i) => `noise${i}`);

/** label = yes when x0 + x1 + labelNoise·ε > 0; `noise` pure-noise columns. */
function twoInformative(rows: number, noise: number, labelNoise: number, seed: number) {
  return withOracle(
    ['x0', 'x1', ...noiseNames(noise), 'label'],
    (rng) => {
      const x0 = normal(rng);
      const x1 = normal(rng);
      const extra = Array.from({ length: noise }, () => normal(rng));
      return [x0, x1, ...extra, x0 + x1 + labelNoise * normal(rng) > 0 ? 'yes' : 'no'];
    },
    rows,
    seed,
  );
}

/** y = x0 − 0.5·x1 + sin(2·x2) + σ·ε; `noise` pure-noise columns. */
function smoothRegression(rows: number, noise: number, sigma: number, seed: number) {
  return withOracle(
    ['x0', 'x1', 'x2', ...noiseNames(noise), 'y'],
    (rng) => {
      const [x0, x1, x2] = [normal(rng), normal(rng), normal(rng)];
      const extra = Array.from({ length: noise }, () => normal(rng));
      return [x0, x1, x2, ...extra, x0 - 0.5 * x1 + Math.sin(2 * x2) + sigma * normal(rng)];
    },
    rows,
    seed,
  );
}

/** label = yes when x0·x1 > 0: no line separates it. */
function xor(rows: number, seed: number) {
  return withOracle(
    ['x0', 'x1', 'label'],
    (rng) => {
      const x0 = rng.next() * 2 - 1;
      const x1 = rng.next() * 2 - 1;
      return [x0, x1, x0 * x1 > 0 ? 'yes' : 'no'];
    },
    rows,
    seed,
  );
}

/** y = sin(3·x0)·cos(3·x1) on [−1, 1]², small noise: a bumpy surface. */
function bumps(rows: number, seed: number) {
  return withOracle(
    ['x0', 'x1', 'y'],
    (rng) => {
      const x0 = rng.next() * 2 - 1;
      const x1 = rng.next() * 2 - 1;
      return [x0, x1, Math.sin(3 * x0) * Math.cos(3 * x1) + 0.05 * normal(rng)];
    },
    rows,
    seed,
  );
}

/** Three Gaussian blobs in 2-D (centres 3 apart, σ 1), a share `flip` of labels replaced at random, `noise` columns. */
function threeBlobs(rows: number, noise: number, flip: number, seed: number) {
  const centres = [
    [0, 0],
    [3, 0],
    [1.5, 2.6],
  ];
  return withOracle(
    ['x0', 'x1', ...noiseNames(noise), 'label'],
    (rng) => {
      const k = rng.int(3);
      const x0 = centres[k][0] + normal(rng);
      const x1 = centres[k][1] + normal(rng);
      const extra = Array.from({ length: noise }, () => normal(rng));
      const label = rng.next() < flip ? rng.int(3) : k;
      return [x0, x1, ...extra, `c${label}`];
    },
    rows,
    seed,
  );
}

/** A measured quantity: y = round(100·(x0 + x1)) + 200 (integers), or with `decimals`, y to two decimals. */
function continuousTarget(rows: number, decimals: boolean, seed: number) {
  return withOracle(
    ['x0', 'x1', 'y'],
    (rng) => {
      const x0 = rng.next();
      const x1 = rng.next();
      const y = decimals ? Math.round(100 * (x0 + x1 + 0.1 * normal(rng))) / 100 : Math.round(100 * (x0 + x1)) + 200;
      return [x0, x1, y];
    },
    rows,
    seed,
  );
}

const sklearn = (name: string) => () => ({ csv: readFileSync(join(OUT, 'data', `${name}.csv`), 'utf8') });

// --- the cases -----------------------------------------------------------------------------

const big = { hidden: [{ units: 256 }, { units: 256 }] };

export const CASES: SuiteCase[] = [
  {
    name: 'overfit-binary-noise-columns',
    label: 'overfit',
    why: '120 rows, 2 informative and 40 pure-noise columns, two layers of 256 units, 60 epochs: the network memorizes the noise',
    data: () => twoInformative(120, 40, 0.5, 101),
    request: {
      target: 'label',
      task: 'classification',
      model: big,
      training: { epochs: 60, batchSize: 16, validationSplit: 0.3, seed: 1 },
    },
    remedy: {
      note: 'L2 0.01 and dropout 0.5',
      request: {
        regularization: { l2: 0.01 },
        model: {
          hidden: [
            { units: 256, dropout: 0.5 },
            { units: 256, dropout: 0.5 },
          ],
        },
      },
    },
  },
  {
    name: 'overfit-regression-noise-columns',
    label: 'overfit',
    why: '100 rows, 3 informative and 30 pure-noise columns, noise σ 0.5, two layers of 256 units, 150 epochs',
    data: () => smoothRegression(100, 30, 0.5, 102),
    request: {
      target: 'y',
      task: 'regression',
      model: big,
      training: { epochs: 150, batchSize: 16, validationSplit: 0.3, seed: 2 },
    },
    remedy: { note: 'fewer features: the 30 noise columns dropped', request: { features: { drop: noiseNames(30) } } },
  },
  {
    name: 'overfit-three-class-label-noise',
    label: 'overfit',
    why: '150 rows of three overlapping blobs, 20 % of labels random, 20 noise columns, two layers of 256 units, 100 epochs',
    data: () => threeBlobs(150, 20, 0.2, 103),
    request: {
      target: 'label',
      task: 'classification',
      model: big,
      training: { epochs: 100, batchSize: 16, validationSplit: 0.3, seed: 3 },
    },
    remedy: {
      note: 'L2 0.01 and dropout 0.5',
      request: {
        regularization: { l2: 0.01 },
        model: {
          hidden: [
            { units: 256, dropout: 0.5 },
            { units: 256, dropout: 0.5 },
          ],
        },
      },
    },
  },
  {
    name: 'overfit-early-stopping-too-patient',
    label: 'overfit',
    why: 'as the first case with 150 rows, and early stopping whose patience (100) never fires and which keeps the last weights',
    data: () => twoInformative(150, 30, 0.5, 104),
    request: {
      target: 'label',
      task: 'classification',
      model: big,
      training: {
        epochs: 60,
        batchSize: 16,
        validationSplit: 0.3,
        seed: 4,
        earlyStopping: { patience: 100, restoreBestWeights: false },
      },
    },
    remedy: {
      note: 'L2 0.01 and dropout 0.5',
      request: {
        regularization: { l2: 0.01 },
        model: {
          hidden: [
            { units: 256, dropout: 0.5 },
            { units: 256, dropout: 0.5 },
          ],
        },
      },
    },
  },
  {
    name: 'underfit-linear-xor',
    label: 'underfit',
    why: 'no hidden layer (a linear model) on XOR, which no line separates; 40 epochs at learning rate 0.01 converge',
    data: () => xor(600, 201),
    request: {
      target: 'label',
      task: 'classification',
      model: { hidden: [] },
      training: { epochs: 40, learningRate: 0.01, seed: 5 },
    },
    remedy: { note: 'a hidden layer of 32 units', request: { model: { hidden: [{ units: 32 }] } } },
  },
  {
    name: 'underfit-one-unit-bumps',
    label: 'underfit',
    why: 'one hidden unit for a bumpy surface sin(3x0)·cos(3x1); 60 epochs at learning rate 0.01 converge',
    data: () => bumps(600, 202),
    request: {
      target: 'y',
      task: 'regression',
      model: { hidden: [{ units: 1 }] },
      training: { epochs: 60, learningRate: 0.01, seed: 6 },
    },
    remedy: { note: 'two hidden layers of 64 units', request: { model: { hidden: [{ units: 64 }, { units: 64 }] } } },
  },
  {
    name: 'underfit-heavy-l2',
    label: 'underfit',
    why: 'a learnable binary target (2 informative columns) under L2 0.5, which holds the weights near zero',
    data: () => twoInformative(600, 3, 0.3, 203),
    request: {
      target: 'label',
      task: 'classification',
      model: { hidden: [{ units: 32 }] },
      regularization: { l2: 0.5 },
      training: { epochs: 40, learningRate: 0.01, seed: 7 },
    },
    remedy: { note: 'no L2', request: { regularization: { l2: 0 } } },
  },
  {
    name: 'good-fit-binary-early-stopping',
    label: 'good-fit',
    why: '1000 rows, 2 informative and 3 noise columns, 32 units, early stopping (patience 5) keeps the best epoch',
    data: () => twoInformative(1000, 3, 0.5, 301),
    request: {
      target: 'label',
      task: 'classification',
      model: { hidden: [{ units: 32 }] },
      training: { epochs: 100, seed: 8, earlyStopping: { patience: 5 } },
    },
  },
  {
    name: 'good-fit-regression-early-stopping',
    label: 'good-fit',
    why: '1000 rows, 3 informative and 2 noise columns, noise σ 0.3, 32 units, learning rate 0.01, early stopping (patience 8)',
    data: () => smoothRegression(1000, 2, 0.3, 302),
    request: {
      target: 'y',
      task: 'regression',
      model: { hidden: [{ units: 32 }] },
      training: { epochs: 150, learningRate: 0.01, seed: 9, earlyStopping: { patience: 8 } },
    },
  },
  {
    name: 'good-fit-three-class-converged',
    label: 'good-fit',
    why: '1500 rows of three blobs, 5 % random labels, 2 noise columns, 8 units, 60 epochs at learning rate 0.003: converged, no early stopping',
    data: () => threeBlobs(1500, 2, 0.05, 303),
    request: {
      target: 'label',
      task: 'classification',
      model: { hidden: [{ units: 8 }] },
      training: { epochs: 60, learningRate: 0.003, seed: 10 },
    },
  },
  {
    name: 'overfit-issue-10-protocol-regression',
    label: 'overfit',
    why: "issue 10's protocol on a regression set of our own: 220 training rows, 10 features (3 informative), noise σ 0.5, MLP 256-256, Adam 1e-3, batch 32, 60 epochs; the training loss goes to ~0 while fresh rows stay near 0.5 (the oracle, not the validation curve, makes the label)",
    data: () => smoothRegression(275, 7, 0.5, 304),
    request: { target: 'y', task: 'regression', model: big, training: { epochs: 60, seed: 21 } },
    remedy: { note: 'fewer features: the 7 noise columns dropped', request: { features: { drop: noiseNames(7) } } },
  },
  {
    name: 'still-improving-binary-slow-sgd',
    label: 'still-improving',
    why: 'plain SGD at learning rate 0.01 for 15 epochs: far from converged',
    data: () => twoInformative(600, 5, 0.5, 401),
    request: {
      target: 'label',
      task: 'classification',
      model: { hidden: [{ units: 32 }] },
      training: { epochs: 15, optimizer: 'sgd', learningRate: 0.01, seed: 11 },
    },
  },
  {
    name: 'still-improving-regression-short',
    label: 'still-improving',
    why: 'Adam at learning rate 3e-4 for 15 epochs on a smooth target: still descending',
    data: () => smoothRegression(600, 5, 0.3, 402),
    request: {
      target: 'y',
      task: 'regression',
      model: { hidden: [{ units: 64 }] },
      training: { epochs: 15, learningRate: 3e-4, seed: 12 },
    },
  },
  {
    name: 'still-improving-early-stopping-never-fired',
    label: 'still-improving',
    why: 'early stopping on (patience 5) but 12 epochs at learning rate 3e-4 end before validation stops improving',
    data: () => twoInformative(600, 5, 0.5, 403),
    request: {
      target: 'label',
      task: 'classification',
      model: { hidden: [{ units: 32 }] },
      training: { epochs: 12, learningRate: 3e-4, seed: 13, earlyStopping: { patience: 5 } },
    },
  },
  {
    name: 'still-improving-wine',
    label: 'still-improving',
    why: 'scikit-learn wine (178 rows, 3 classes), 32 units, Adam 3e-4 for 30 epochs; a rerun with 90 epochs checks it went on improving',
    data: sklearn('wine'),
    request: {
      target: 'cultivar',
      task: 'classification',
      model: { hidden: [{ units: 32 }] },
      training: { epochs: 30, learningRate: 3e-4, seed: 14 },
    },
    rerunEpochs: 90,
  },
  {
    name: 'too-small-validation-8-rows',
    label: 'too-small-validation',
    why: '200 rows with validationSplit 0.04: 8 validation rows',
    data: () => twoInformative(200, 5, 0.5, 501),
    request: {
      target: 'label',
      task: 'classification',
      model: { hidden: [{ units: 32 }] },
      training: { epochs: 40, validationSplit: 0.04, seed: 15 },
    },
  },
  {
    name: 'too-small-validation-overfit-net-6-rows',
    label: 'too-small-validation',
    why: '60 rows, 20 noise columns, two layers of 256 units, validationSplit 0.1: 6 validation rows cannot show the overfitting the oracle sees',
    data: () => twoInformative(60, 20, 0.5, 502),
    request: {
      target: 'label',
      task: 'classification',
      model: big,
      training: { epochs: 60, batchSize: 16, validationSplit: 0.1, seed: 16 },
    },
  },
  {
    name: 'too-small-validation-noisy-regression-15-rows',
    label: 'too-small-validation',
    why: '300 rows of a noisy target (σ 1), validationSplit 0.05: 15 validation rows, a loss known to ± half the baseline; learning rate 0.01 and early stopping let it converge',
    data: () => smoothRegression(300, 5, 1, 503),
    request: {
      target: 'y',
      task: 'regression',
      model: { hidden: [{ units: 16 }] },
      training: { epochs: 100, learningRate: 0.01, validationSplit: 0.05, seed: 17, earlyStopping: { patience: 10 } },
    },
  },
  {
    name: 'wrong-task-diabetes',
    label: 'wrong-task',
    why: 'scikit-learn diabetes: the target is disease progression, an integer from 25 to 346 (214 distinct in 442 rows), trained as classes',
    data: sklearn('diabetes'),
    request: {
      target: 'progression',
      task: 'classification',
      model: { hidden: [{ units: 64 }] },
      training: { epochs: 30, seed: 18 },
    },
    remedy: { note: 'task regression', request: { task: 'regression' } },
  },
  {
    name: 'wrong-task-integer-quantity',
    label: 'wrong-task',
    why: 'y = round(100·(x0 + x1)) + 200 over 400 rows: a quantity with about 200 integer values, trained as classes',
    data: () => continuousTarget(400, false, 601),
    request: {
      target: 'y',
      task: 'classification',
      model: { hidden: [{ units: 64 }] },
      training: { epochs: 30, seed: 19 },
    },
    remedy: { note: 'task regression', request: { task: 'regression' } },
  },
  {
    name: 'wrong-task-decimal-quantity',
    label: 'wrong-task',
    why: 'y = x0 + x1 + noise to two decimals over 300 rows, trained as classes',
    data: () => continuousTarget(300, true, 602),
    request: {
      target: 'y',
      task: 'classification',
      model: { hidden: [{ units: 64 }] },
      training: { epochs: 30, seed: 20 },
    },
    remedy: { note: 'task regression', request: { task: 'regression' } },
  },
];

// --- running -------------------------------------------------------------------------------

/** One real training run, with the oracle's loss after every epoch when there is an oracle. */
async function train(request: TrainingRequest, table: Table, oracle: Table | undefined) {
  const oracleLoss: number[] = [];
  let encoded: { x: Float32Array; y: Float32Array } | undefined;
  let oraclePrep: unknown;
  const outcome = await trainFromRequest(request, table, request.training.seed!, {
    onEpoch: async (_metrics, trainer) => {
      if (!oracle) return;
      if (!encoded) {
        // The trainer's training rows are table rows here (every row has a target): fit the same
        // preprocessing on them, as trainFromRequest did; checked against its own below.
        if (rowsWithTarget(table, request.target).length !== table.rowCount) throw new Error('missing targets');
        const prep = fitPreprocessing(
          table,
          request.target,
          request.task,
          trainer.data.trainRows,
          request.features.drop,
        );
        oraclePrep = prep;
        const all = Int32Array.from({ length: oracle.rowCount }, (_, i) => i);
        encoded = { x: encodeFeatures(prep, oracle, all), y: encodeTargets(prep, oracle, all) };
      }
      oracleLoss.push(lossOf(request.task, runFrozen(trainer.network.freeze(), encoded.x, oracle.rowCount), encoded.y));
    },
  });
  if (oracle && JSON.stringify(oraclePrep) !== JSON.stringify(outcome.preprocessing)) {
    throw new Error("the oracle's preprocessing differs from the run's");
  }
  const keptEpoch = outcome.restoredBestWeights ? outcome.bestEpoch! : outcome.metrics.length;
  return { outcome, oracleLoss, keptEpoch };
}

async function runCase(c: SuiteCase): Promise<Record<string, unknown>> {
  const { csv, oracleCsv } = c.data();
  const table = parseCsv(csv, LIMITS);
  const request = trainingRequestSchema.parse({ datasetId: `suite:${c.name}`, ...c.request });
  // A wrong-task run has no oracle: as classes, fresh rows bring values the training rows never had.
  const oracle = oracleCsv && c.label !== 'wrong-task' ? parseCsv(oracleCsv, LIMITS) : undefined;
  const started = Date.now();
  const { outcome, oracleLoss } = await train(request, table, oracle);
  const fixture: Record<string, unknown> = {
    name: c.name,
    label: c.label,
    why: c.why,
    generatedBy: 'scripts/diagnosis-suite.ts (npm run build && node dist/scripts/diagnosis-suite.js)',
    request,
    input: {
      // Wall-clock time is the one figure that differs between runs; zeroed so a rerun rewrites
      // the same files.
      metrics: outcome.metrics.map((m) => ({ ...m, durationMs: 0 })),
      ...(outcome.bestEpoch !== undefined ? { bestEpoch: outcome.bestEpoch } : {}),
      ...(outcome.stoppedEpoch !== undefined ? { stoppedEpoch: outcome.stoppedEpoch } : {}),
      restoredBestWeights: outcome.restoredBestWeights,
      warnings: outcome.warnings,
      baselineLoss: outcome.baselineLoss,
      rows: outcome.rows,
      target: outcome.target,
    },
  };
  if (oracle) fixture.oracle = { rows: oracle.rowCount, loss: oracleLoss };
  if (c.rerunEpochs) {
    const longer = trainingRequestSchema.parse({
      ...request,
      training: { ...request.training, epochs: c.rerunEpochs },
    });
    const rerun = await train(longer, table, oracle);
    fixture.rerun = { epochs: c.rerunEpochs, valLoss: rerun.outcome.metrics.map((m) => m.valLoss!) };
  }
  if (c.remedy) {
    const remedied = trainingRequestSchema.parse({ ...request, ...c.remedy.request });
    // Regression's oracle has no unseen classes, so a wrong-task case's remedy gets one.
    const remedyOracle = oracleCsv && remedied.task === 'regression' ? parseCsv(oracleCsv, LIMITS) : oracle;
    const run = await train(remedied, table, remedyOracle);
    const kept = run.outcome.metrics[run.keptEpoch - 1];
    fixture.remedy = {
      note: c.remedy.note,
      request: c.remedy.request,
      keptEpoch: run.keptEpoch,
      valLoss: kept.valLoss,
      trainLoss: kept.trainLoss,
      baselineLoss: run.outcome.baselineLoss,
      ...(remedyOracle ? { oracleLoss: run.oracleLoss[run.keptEpoch - 1] } : {}),
    };
  }
  console.log(
    `${c.name}: ${outcome.metrics.length} epochs, with reruns ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
  return fixture;
}

/** Mean cross-entropy of softmax outputs against class indices, or mean squared error (standardized). */
function lossOf(task: 'classification' | 'regression', output: Float32Array, y: Float32Array): number {
  const n = y.length;
  let sum = 0;
  if (task === 'classification') {
    const k = output.length / n;
    for (let i = 0; i < n; i++) sum -= Math.log(Math.max(output[i * k + y[i]], 1e-12));
  } else {
    for (let i = 0; i < n; i++) sum += (output[i] - y[i]) ** 2;
  }
  return sum / n;
}

async function main(): Promise<void> {
  const backend = await initBackend('wasm');
  if (backend.name !== 'wasm') throw new Error(`expected wasm, got ${backend.name}`);
  const wanted = process.argv.slice(2);
  const unknown = wanted.filter((n) => !CASES.some((c) => c.name === n));
  if (unknown.length) throw new Error(`no case ${unknown.join(', ')}; cases: ${CASES.map((c) => c.name).join(', ')}`);
  mkdirSync(OUT, { recursive: true });
  for (const c of CASES) {
    if (wanted.length && !wanted.includes(c.name)) continue;
    const fixture = await runCase(c);
    writeFileSync(join(OUT, `${c.name}.json`), JSON.stringify(fixture, null, 1) + '\n');
    const input = fixture.input as Parameters<typeof diagnose>[0];
    const d = diagnose({ ...input, request: fixture.request as Parameters<typeof diagnose>[0]['request'] });
    console.log(`  label ${c.label} → verdict ${d.verdict}\n  ${d.evidence.reasons.join('\n  ')}`);
  }
}

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
