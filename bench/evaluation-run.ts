import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseCsv } from '../src/data/parse-dataset';
import { initBackend } from '../src/ml/backend';
import { trainingRequestSchema, type TrainingRequestInput } from '../src/schemas/training-request.schema';
import { crossValidate } from '../src/training/cross-validate';
import { trainFromRequest } from '../src/training/train-from-request';

/**
 * One real run of the evaluation (README, "Evaluation") on two small datasets of the quality
 * benchmark, on the job path the worker runs (trainFromRequest), printing the figures the README
 * quotes. Not a benchmark: no timing. Run after `npm run build`:
 *
 *     node dist/bench/evaluation-run.js
 */
const DATA = join(__dirname, '..', '..', 'bench', 'quality', 'data');

async function run(file: string, input: Omit<TrainingRequestInput, 'datasetId'>) {
  const table = parseCsv(readFileSync(join(DATA, file), 'utf8'), { maxRows: 100_000, maxColumns: 1000 });
  const request = trainingRequestSchema.parse({ datasetId: file, ...input });
  const outcome = await trainFromRequest(request, table, 7);
  const e = outcome.evaluation!;
  const round = (v: unknown): unknown =>
    typeof v === 'number'
      ? Number(v.toPrecision(4))
      : Array.isArray(v)
        ? v.map(round)
        : v && typeof v === 'object'
          ? Object.fromEntries(
              Object.entries(v)
                .filter(([k]) => k !== 'reliability' && k !== 'rocCurves')
                .map(([k, x]) => [k, round(x)]),
            )
          : v;
  const importance = e.importance?.columns
    .slice()
    .sort((a, b) => b.mean - a.mean)
    .slice(0, 5);
  console.log(
    JSON.stringify(
      {
        file,
        rows: outcome.rows,
        epochsRun: outcome.metrics.length,
        ...(round({ ...e, importance: undefined }) as object),
        topImportance: round(importance),
      },
      null,
      1,
    ),
  );
}

async function crossValidation(file: string, input: Omit<TrainingRequestInput, 'datasetId'>) {
  const table = parseCsv(readFileSync(join(DATA, file), 'utf8'), { maxRows: 100_000, maxColumns: 1000 });
  const cv = (await crossValidate(trainingRequestSchema.parse({ datasetId: file, ...input }), table, 7))!;
  const r = (v: number) => Number(v.toPrecision(4));
  const summary = Object.fromEntries(Object.entries(cv.summary).map(([k, s]) => [k, `${r(s.mean)} ± ${r(s.sd)}`]));
  const oof = cv.outOfFold as Record<string, unknown>;
  console.log(
    JSON.stringify(
      {
        file,
        folds: cv.folds,
        rows: cv.rows,
        summary,
        outOfFold: Object.fromEntries(
          ['logLoss', 'accuracy', 'balancedAccuracy', 'f1Macro', 'rocAuc', 'prAuc', 'brier', 'ece'].map((k) => [
            k,
            r(oof[k] as number),
          ]),
        ),
      },
      null,
      1,
    ),
  );
}

async function main() {
  await initBackend('wasm');
  await run('breast-cancer.train.csv', {
    target: 'target',
    task: 'classification',
    model: { hidden: [{ units: 32 }] },
    training: { epochs: 60, seed: 7, validationSplit: 0.25, testSplit: 0.2 },
    evaluation: { calibration: 'temperature', threshold: 'f1', importance: { repeats: 5 } },
  });
  await crossValidation('breast-cancer.train.csv', {
    target: 'target',
    task: 'classification',
    model: { hidden: [{ units: 32 }] },
    training: { epochs: 60, seed: 7, validationSplit: 0.25, testSplit: 0.2 },
    validation: { folds: 5 },
  });
  await run('diabetes.train.csv', {
    target: 'target',
    task: 'regression',
    model: { hidden: [{ units: 32 }] },
    training: { epochs: 80, seed: 7, validationSplit: 0.25, testSplit: 0.2 },
    evaluation: { importance: { repeats: 5 } },
  });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
