import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeFeatures, encodeTargets, fitPreprocessing } from '../src/data/preprocessing';
import { parseCsv } from '../src/data/parse-dataset';
import { initBackend } from '../src/ml/backend';
import { runFrozen } from '../src/ml/frozen-model';
import { Network } from '../src/ml/network';
import { Trainer } from '../src/ml/trainer';
import { Rng } from '../src/random';
import { trainingRequestSchema } from '../src/schemas/training-request.schema';
import { QUALITY_DATASETS, QUALITY_ROWS, qualityRequest, type QualityDataset } from './quality';

/**
 * A diagnostic for the quality benchmark: are fitwell's and PyTorch's training paths the same
 * computation? For each seed it trains one row of the protocol with fitwell's Trainer and writes
 * what PyTorch needs to repeat that very run (the encoded rows, the initial weights, the batch
 * order of every epoch) and fitwell's outcome to <out>/<dataset>-<row>-<seed>.json;
 * bench/quality/paired_replay.py then trains PyTorch from the same start in the same order and
 * prints both test metrics side by side. Rows without dropout only (dropout draws masks from the
 * same stream as the batch order).
 *
 *   npm run build && node dist/bench/quality-replay.js diabetes none 1,2,3 /tmp/replay
 *   /usr/bin/python3 bench/quality/paired_replay.py /tmp/replay
 */

const DATA = join(__dirname, '..', '..', 'bench', 'quality', 'data');

async function main(): Promise<void> {
  const [name, rowName, seedList, out] = process.argv.slice(2) as [QualityDataset, string, string, string];
  const task = QUALITY_DATASETS[name];
  const row = QUALITY_ROWS[rowName];
  if (!task || !row || !out || row.hidden.dropout) {
    throw new Error('usage: quality-replay.js <dataset> <row without dropout> <seeds, e.g. 1,2,3> <out dir>');
  }
  await initBackend('wasm');
  mkdirSync(out, { recursive: true });
  const limits = { maxRows: 1_000_000, maxColumns: 10_000 };
  const train = parseCsv(readFileSync(join(DATA, `${name}.train.csv`), 'utf8'), limits);
  const test = parseCsv(readFileSync(join(DATA, `${name}.test.csv`), 'utf8'), limits);
  const rows = Int32Array.from({ length: train.rowCount }, (_, i) => i);
  const testRows = Int32Array.from({ length: test.rowCount }, (_, i) => i);
  for (const seed of seedList.split(',').map(Number)) {
    const request = trainingRequestSchema.parse(qualityRequest(task, row, seed, undefined));
    const prep = fitPreprocessing(train, 'target', task, rows);
    const outputSize = prep.target.task === 'classification' ? prep.target.classes.length : 1;
    const x = encodeFeatures(prep, train, rows);
    const options = {
      hidden: request.model.hidden,
      init: request.model.init,
      regularization: request.regularization,
      epochs: request.training.epochs,
      batchSize: request.training.batchSize,
      optimizer: request.training.optimizer,
      learningRate: request.training.learningRate,
      seed,
    };
    // The trainer's stream draws the initial weights, then one shuffle per epoch (no dropout):
    // a twin stream gives the same weights and orders without reaching into the trainer.
    const twin = new Rng(seed);
    const output = task === 'classification' ? 'softmax' : 'identity';
    const shadow = new Network(
      { inputSize: prep.inputSize, hidden: options.hidden, init: options.init, outputSize, output },
      twin,
    );
    const initial = shadow.getWeights();
    shadow.dispose();
    const orders: number[][] = [];
    for (let e = 0; e < options.epochs; e++) {
      const order = Int32Array.from(rows);
      twin.shuffle(order);
      orders.push(Array.from(order));
    }
    const trainer = new Trainer(
      {
        task,
        x,
        y: encodeTargets(prep, train, rows),
        inputSize: prep.inputSize,
        outputSize,
        trainRows: rows,
        validationRows: new Int32Array(0),
      },
      options,
    );
    for (const [key, value] of Object.entries(trainer.network.getWeights())) {
      if (value.some((v, i) => v !== initial[key][i])) throw new Error(`the twin stream drew other weights for ${key}`);
    }
    while (!trainer.done) await trainer.runEpoch();
    const xt = encodeFeatures(prep, test, testRows);
    const predicted = runFrozen(trainer.network.freeze(), xt, test.rowCount);
    trainer.dispose();
    writeFileSync(
      join(out, `${name}-${rowName}-${seed}.json`),
      JSON.stringify({
        dataset: name,
        row: rowName,
        seed,
        task,
        request,
        preprocessing: prep,
        inputSize: prep.inputSize,
        outputSize,
        x: Array.from(x),
        y: Array.from(encodeTargets(prep, train, rows)),
        xTest: Array.from(xt),
        yTest: test.data.target,
        initial: Object.fromEntries(Object.entries(initial).map(([k, v]) => [k, Array.from(v)])),
        orders,
        fitwellOutputs: Array.from(predicted),
      }),
    );
    console.log(`${name} ${rowName} seed ${seed}: written`);
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
