import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildApp } from '../src/app';
import { configToEnv, type Config } from '../src/config';
import type { BenchOptions } from './options';

/**
 * `npm run bench -- search` (issue 13): the same 32-trial grid over dropout, L2 and the learning
 * rate on the noisy quality dataset (150 training rows, 256 columns, three quarters pure noise),
 * searched (a) without pruning and (b) with ASHA (grace 1 epoch, η = 3), by two worker processes
 * (`node dist/src/main.js worker`). Reported: total epochs trained, wall time from POST to the
 * search's end, and the best trial's accuracy on the dataset's 1000 held-out test rows.
 */

const DATA = join(__dirname, '..', '..', 'bench', 'quality', 'data');
const MAIN = join(__dirname, '..', 'src', 'main.js');

export interface SearchVariantResult {
  name: string;
  trials: number;
  completed: number;
  pruned: number;
  epochs: number;
  wallS: number;
  bestTrial?: number;
  bestSettings?: Record<string, unknown>;
  bestValLoss?: number;
  /** Accuracy of the best trial's model on the test rows, in %. */
  bestTestAccuracy?: number;
}

export interface SearchResults {
  epochsPerTrial: number;
  workers: number;
  variants: SearchVariantResult[];
}

const SPACE = {
  'model.hidden.*.dropout': { type: 'choice', values: [0, 0.5] },
  'regularization.l2': { type: 'choice', values: [0, 1e-4, 1e-3, 1e-2] },
  'training.learningRate': { type: 'choice', values: [3e-4, 1e-3, 3e-3, 1e-2] },
};

export async function benchSearch(
  config: Config,
  options: BenchOptions,
  log: (line: string) => void,
): Promise<SearchResults> {
  const epochs = options.searchEpochs;
  const app = await buildApp(config);
  await app.ready();
  const workers: ChildProcess[] = [];
  try {
    // The app's Redis clients connect in the background: wait until it answers.
    for (let i = 0; (await app.inject({ method: 'GET', url: '/readyz' })).statusCode !== 200; i++) {
      if (i > 100) throw new Error('Redis did not become ready');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const upload = await app.inject({
      method: 'POST',
      url: '/v1/datasets',
      headers: { 'content-type': 'text/csv' },
      payload: readFileSync(join(DATA, 'noisy.train.csv'), 'utf8'),
    });
    if (upload.statusCode !== 201) throw new Error(`dataset upload: ${upload.statusCode} ${upload.body}`);
    const datasetId = upload.json<{ id: string }>().id;
    const test = testRows(readFileSync(join(DATA, 'noisy.test.csv'), 'utf8'));
    const env = { ...process.env, ...configToEnv(config) };
    for (let i = 0; i < 2; i++) {
      const child = spawn(process.execPath, [MAIN, 'worker'], { env, stdio: 'ignore' });
      workers.push(child);
    }
    const base = {
      datasetId,
      target: 'target',
      task: 'classification',
      model: { hidden: [{ units: 64 }] },
      training: { epochs, batchSize: 16, validationSplit: 0.2 },
    };
    const variants: SearchVariantResult[] = [];
    for (const [name, pruner] of [
      ['(a) grid, no pruning', { type: 'none' }],
      ['(b) grid + ASHA (grace 1, η 3)', { type: 'asha', gracePeriod: 1, reductionFactor: 3 }],
    ] as const) {
      log(`search: ${name}, 32 trials × ${epochs} epochs at most`);
      const started = Date.now();
      const created = await app.inject({
        method: 'POST',
        url: '/v1/searches',
        payload: { base, space: SPACE, strategy: 'grid', budget: { maxTrials: 32, maxParallel: 2 }, pruner, seed: 1 },
      });
      if (created.statusCode !== 202) throw new Error(`search: ${created.statusCode} ${created.body}`);
      const id = created.json<{ searchId: string }>().searchId;
      let view: SearchViewBody;
      for (;;) {
        view = (await app.inject({ method: 'GET', url: `/v1/searches/${id}` })).json<SearchViewBody>();
        if (view.state !== 'running') break;
        if (workers.some((w) => w.exitCode !== null)) throw new Error('a worker process exited');
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      const wallS = (Date.now() - started) / 1000;
      const result: SearchVariantResult = {
        name,
        trials: view.trials.length,
        completed: view.progress.completed,
        pruned: view.progress.pruned,
        epochs: view.progress.epochs,
        wallS: Math.round(wallS * 10) / 10,
      };
      if (view.best) {
        result.bestTrial = view.best.trial;
        result.bestSettings = view.best.settings;
        result.bestValLoss = view.best.value;
        const predictions: (string | number)[] = [];
        for (let i = 0; i < test.rows.length; i += 100) {
          const predicted = await app.inject({
            method: 'POST',
            url: `/v1/models/${view.best.modelId}/predict`,
            payload: { rows: test.rows.slice(i, i + 100) },
          });
          if (predicted.statusCode !== 200)
            throw new Error(`predict: ${predicted.statusCode} ${predicted.body.slice(0, 300)}`);
          predictions.push(...predicted.json<{ predictions: (string | number)[] }>().predictions);
        }
        const correct = predictions.filter((p, i) => String(p) === test.labels[i]).length;
        result.bestTestAccuracy = Math.round((1000 * correct) / test.labels.length) / 10;
      }
      log(
        `search: ${name}: ${result.epochs} epochs, ${result.wallS} s, best test accuracy ${result.bestTestAccuracy} %`,
      );
      variants.push(result);
    }
    return { epochsPerTrial: epochs, workers: 2, variants };
  } finally {
    for (const w of workers) w.kill('SIGTERM');
    await Promise.all(
      workers.map((w) => new Promise((resolve) => (w.exitCode !== null ? resolve(null) : w.once('exit', resolve)))),
    );
    await app.close();
  }
}

interface SearchViewBody {
  state: string;
  progress: { completed: number; pruned: number; epochs: number };
  trials: unknown[];
  best?: { trial: number; modelId: string; value: number; settings: Record<string, unknown> };
}

function testRows(csv: string): { rows: Record<string, number>[]; labels: string[] } {
  const [header, ...lines] = csv.trim().split('\n');
  const names = header.split(',');
  const target = names.indexOf('target');
  const rows: Record<string, number>[] = [];
  const labels: string[] = [];
  for (const line of lines) {
    const cells = line.split(',');
    labels.push(cells[target]);
    rows.push(Object.fromEntries(names.flatMap((n, i) => (i === target ? [] : [[n, Number(cells[i])]]))));
  }
  return { rows, labels };
}

export function searchReport(
  results: SearchResults,
  table: (head: string[], rows: (string | number)[][]) => string,
): string {
  return (
    `\nSearch (issue 13): 32-trial grid on the noisy dataset, ${results.epochsPerTrial} epochs per trial at most, ` +
    `${results.workers} worker processes\n` +
    table(
      ['', 'trials', 'completed', 'pruned', 'epochs', 'wall s', 'best trial', 'best val loss', 'best test acc %'],
      results.variants.map((v) => [
        v.name,
        v.trials,
        v.completed,
        v.pruned,
        v.epochs,
        v.wallS,
        v.bestTrial ?? '—',
        v.bestValLoss?.toFixed(4) ?? '—',
        v.bestTestAccuracy ?? '—',
      ]),
    )
  );
}
