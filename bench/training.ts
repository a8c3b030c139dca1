import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { Trainer } from '../src/ml/trainer';
import { trainingRequestSchema } from '../src/schemas/training-request.schema';
import { randomRows, REFERENCE_CLASSES, REFERENCE_INPUTS, referenceRequest } from './environment';
import type { BenchOptions } from './options';
import { median } from './stats';

export interface TrainingRun {
  /** Samples per second of the training step, from the median timed epoch. */
  samplesPerSecond: number;
  /** The timed epochs' step times in ms. */
  epochMs: number[];
}

export interface TorchRuns {
  available: boolean;
  note?: string;
  version?: string;
  python?: string;
  /** By thread count, then by batch size. */
  byThreads: Record<string, Record<string, TrainingRun>>;
}

export interface TrainingResults {
  rows: number;
  /** By batch size. */
  fitwell: Record<string, TrainingRun & { epochWithMetricsMs: number[] }>;
  layersFit: Record<string, TrainingRun>;
  torch: TorchRuns;
}

const TORCH_SCRIPT = join(__dirname, '..', '..', 'bench', 'torch_reference.py');

/**
 * fitwell's training step: the real Trainer, with the spec built through the real schema, on
 * the active backend. The epoch's step time runs from runEpoch's start to its last per-batch
 * `shouldStop` call (shuffle, every batch's forward, backward, optimizer step, running-statistics
 * update and the loss read back); the end-of-epoch metrics pass (inference-mode loss over all
 * rows, norms, zero counts) is timed apart as `epochWithMetricsMs`.
 */
async function benchFitwell(options: BenchOptions, batchSize: number): Promise<TrainingResults['fitwell'][string]> {
  const { x, labels } = randomRows(options.rows);
  const epochs = options.warmupEpochs + options.timedEpochs;
  const request = trainingRequestSchema.parse(referenceRequest('bench', batchSize, epochs));
  const trainer = new Trainer(
    {
      task: 'classification',
      x,
      y: Float32Array.from(labels),
      inputSize: REFERENCE_INPUTS,
      outputSize: REFERENCE_CLASSES,
      trainRows: Int32Array.from({ length: options.rows }, (_, i) => i),
      validationRows: new Int32Array(0),
    },
    {
      hidden: request.model.hidden,
      regularization: request.regularization,
      epochs,
      batchSize,
      optimizer: request.training.optimizer,
      learningRate: request.training.learningRate,
      seed: 1,
    },
  );
  const epochMs: number[] = [];
  const epochWithMetricsMs: number[] = [];
  try {
    for (let epoch = 0; epoch < epochs; epoch++) {
      const started = performance.now();
      let lastBatch = started;
      const metrics = await trainer.runEpoch(() => {
        lastBatch = performance.now();
        return false;
      });
      const ended = performance.now();
      if (!metrics) throw new Error('the epoch did not finish');
      if (epoch >= options.warmupEpochs) {
        epochMs.push(lastBatch - started);
        epochWithMetricsMs.push(ended - started);
      }
    }
  } finally {
    trainer.dispose();
  }
  return { samplesPerSecond: options.rows / (median(epochMs) / 1000), epochMs, epochWithMetricsMs };
}

/** The same network with the stock tfjs Layers API and model.fit, on the same backend. */
async function benchLayersFit(options: BenchOptions, batchSize: number): Promise<TrainingRun> {
  const { x, labels } = randomRows(options.rows);
  const model = tf.sequential({
    layers: [
      tf.layers.dense({
        inputShape: [REFERENCE_INPUTS],
        units: 256,
        useBias: false,
        kernelInitializer: 'heUniform',
        kernelRegularizer: tf.regularizers.l2({ l2: 1e-4 }),
      }),
      tf.layers.batchNormalization({ momentum: 0.99, epsilon: 1e-3 }),
      tf.layers.activation({ activation: 'relu' }),
      tf.layers.dropout({ rate: 0.3 }),
      tf.layers.dense({ units: 256, kernelInitializer: 'heUniform' }),
      tf.layers.layerNormalization({ epsilon: 1e-3 }),
      tf.layers.activation({ activation: 'relu' }),
      tf.layers.dropout({ rate: 0.3 }),
      tf.layers.dense({ units: REFERENCE_CLASSES, activation: 'softmax' }),
    ],
  });
  model.compile({ optimizer: tf.train.adam(1e-3), loss: 'categoricalCrossentropy' });
  const xs = tf.tensor2d(x, [options.rows, REFERENCE_INPUTS]);
  const ys = tf.oneHot(tf.tensor1d(labels, 'int32'), REFERENCE_CLASSES);
  const epochMs: number[] = [];
  try {
    for (let epoch = 0; epoch < options.warmupEpochs + options.timedEpochs; epoch++) {
      const started = performance.now();
      await model.fit(xs, ys, { batchSize, epochs: 1, shuffle: true, verbose: 0 });
      if (epoch >= options.warmupEpochs) epochMs.push(performance.now() - started);
    }
  } finally {
    tf.dispose([xs, ys]);
    model.dispose();
  }
  return { samplesPerSecond: options.rows / (median(epochMs) / 1000), epochMs };
}

/**
 * The first Python that imports torch: BENCH_PYTHON, then python3 on the PATH, then Debian's
 * /usr/bin/python3 (where python3-torch installs; a pyenv or venv python3 may come first on the
 * PATH without it).
 */
function findTorchPython(): { python: string; version: string } | { reason: string } {
  const candidates = [process.env.BENCH_PYTHON, 'python3', '/usr/bin/python3'].filter((c): c is string => !!c);
  const reasons: string[] = [];
  for (const python of [...new Set(candidates)]) {
    const probe = spawnSync(python, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
    if (probe.status === 0) return { python, version: probe.stdout.trim() };
    reasons.push(`${python}: ${probe.error ? 'not found' : 'cannot import torch'}`);
  }
  return { reason: reasons.join('; ') };
}

/** bench/torch_reference.py, once per thread count; skipped with a note when torch is absent. */
function benchTorch(options: BenchOptions, log: (line: string) => void): TorchRuns {
  const found = findTorchPython();
  if ('reason' in found) {
    return {
      available: false,
      note: `PyTorch column skipped: ${found.reason} (Debian: apt-get install python3-torch)`,
      byThreads: {},
    };
  }
  const runs: TorchRuns = { available: true, version: found.version, python: found.python, byThreads: {} };
  for (const threads of options.torchThreads) {
    log(`training: PyTorch ${runs.version}, ${threads} thread(s)`);
    const result = spawnSync(
      found.python,
      [
        TORCH_SCRIPT,
        `--rows=${options.rows}`,
        `--batch-sizes=${options.batchSizes.join(',')}`,
        `--warmup-epochs=${options.warmupEpochs}`,
        `--epochs=${options.timedEpochs}`,
        `--threads=${threads}`,
      ],
      { encoding: 'utf8', maxBuffer: 1 << 20 },
    );
    if (result.status !== 0) throw new Error(`torch_reference.py failed: ${result.stderr}`);
    const parsed = JSON.parse(result.stdout) as { byBatchSize: Record<string, { epochMs: number[] }> };
    runs.byThreads[threads] = Object.fromEntries(
      Object.entries(parsed.byBatchSize).map(([size, run]) => [
        size,
        { epochMs: run.epochMs, samplesPerSecond: options.rows / (median(run.epochMs) / 1000) },
      ]),
    );
  }
  return runs;
}

export async function benchTraining(options: BenchOptions, log: (line: string) => void): Promise<TrainingResults> {
  const results: TrainingResults = { rows: options.rows, fitwell: {}, layersFit: {}, torch: { available: false, byThreads: {} } };
  for (const batchSize of options.batchSizes) {
    log(`training: fitwell Trainer, batch ${batchSize}`);
    results.fitwell[batchSize] = await benchFitwell(options, batchSize);
    log(`training: tfjs Layers model.fit, batch ${batchSize}`);
    results.layersFit[batchSize] = await benchLayersFit(options, batchSize);
  }
  results.torch = benchTorch(options, log);
  return results;
}
