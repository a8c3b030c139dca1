import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Trainer, type TrainingData } from '../../src/ml/trainer';
import { Rng } from '../../src/random';
import { hiddenLayerSchema, regularizationSchema } from '../../src/schemas/training-request.schema';
import { useWasmBackend } from '../helpers/tf';

/** Two classes split by x0 + 2·x1 = 0.2 in [−1, 1]², with a margin of 0.1 (as in trainer.test). */
function separable(rows: number, validation: number): TrainingData {
  const rng = new Rng(17);
  const x = new Float32Array(rows * 2);
  const y = new Float32Array(rows);
  for (let i = 0; i < rows; i++) {
    let a: number;
    let b: number;
    do {
      a = rng.next() * 2 - 1;
      b = rng.next() * 2 - 1;
    } while (Math.abs(a + 2 * b - 0.2) < 0.1);
    x[i * 2] = a;
    x[i * 2 + 1] = b;
    y[i] = a + 2 * b > 0.2 ? 1 : 0;
  }
  return {
    task: 'classification',
    x,
    y,
    inputSize: 2,
    outputSize: 2,
    trainRows: Int32Array.from({ length: rows - validation }, (_, i) => i),
    validationRows: Int32Array.from({ length: validation }, (_, i) => rows - validation + i),
  };
}

/** Every normalization and dropout kind, each as the only special thing in a two-layer net. */
const CATALOGUE: Record<string, { normalization?: unknown; dropout?: unknown }> = {
  none: { normalization: 'none' },
  batch: { normalization: 'batch' },
  'batch after-activation': { normalization: { type: 'batch', placement: 'after-activation' } },
  layer: { normalization: 'layer' },
  weight: { normalization: 'weight' },
  cosine: { normalization: 'cosine' },
  'cosine, fixed scale 4': { normalization: { type: 'cosine', scale: 4, learnScale: false } },
  'sync-batch, 1 pass': { normalization: { type: 'sync-batch', replicas: 4, passes: 1 } },
  'sync-batch, 2 passes': { normalization: { type: 'sync-batch', replicas: 4, passes: 2 } },
  'ghost-batch': { normalization: { type: 'ghost-batch', replicas: 4 } },
  'inverted dropout': { dropout: { rate: 0.2, kind: 'inverted' } },
  'gaussian dropout': { dropout: { rate: 0.2, kind: 'gaussian' } },
};

describe('training through the Trainer, every catalogue entry', () => {
  before(useWasmBackend);
  const data = separable(300, 60);

  for (const [name, layer] of Object.entries(CATALOGUE)) {
    test(`${name}: the training loss goes down and the validation accuracy is high`, async () => {
      // 240 training rows, batch 50: the last batch holds 40 rows, which 4 replicas split 10 each;
      // batches of 50 split 13, 13, 12, 12 (uneven shards).
      const trainer = new Trainer(data, {
        hidden: [hiddenLayerSchema.parse({ units: 16, ...layer }), hiddenLayerSchema.parse({ units: 8, ...layer })],
        regularization: regularizationSchema.parse({}),
        epochs: 8,
        batchSize: 50,
        optimizer: 'adam',
        learningRate: 0.03,
        seed: 7,
      });
      try {
        while (!trainer.done) await trainer.runEpoch();
        const losses = trainer.metrics.map((m) => m.trainingModeLoss);
        const last = trainer.metrics[trainer.metrics.length - 1];
        assert.ok(losses.every(Number.isFinite), `non-finite loss: ${losses}`);
        assert.ok(
          last.trainingModeLoss < 0.7 * losses[0],
          `loss ${losses[0]} → ${last.trainingModeLoss}: not down by 30 %`,
        );
        assert.ok(last.valAccuracy! >= 0.85, `validation accuracy ${last.valAccuracy} (losses ${losses})`);
      } finally {
        trainer.dispose();
      }
    });
  }

  test('sync-batch trains exactly as full-batch batch norm (same seed): losses equal to 1e-4', async () => {
    const run = async (normalization: unknown) => {
      const trainer = new Trainer(data, {
        hidden: [hiddenLayerSchema.parse({ units: 16, normalization })],
        regularization: regularizationSchema.parse({}),
        epochs: 3,
        batchSize: 50,
        optimizer: 'adam',
        learningRate: 0.03,
        seed: 7,
      });
      try {
        while (!trainer.done) await trainer.runEpoch();
        return trainer.metrics.map((m) => [m.trainingModeLoss, m.valLoss!]).flat();
      } finally {
        trainer.dispose();
      }
    };
    const batch = await run('batch');
    // Float32 rounding differs (sums per shard), and Adam carries it over three epochs: 1e-4.
    for (const passes of [1, 2]) {
      const sync = await run({ type: 'sync-batch', replicas: 4, passes });
      sync.forEach((v, i) => assert.ok(Math.abs(v - batch[i]) <= 1e-4, `passes ${passes} [${i}]: ${v} vs ${batch[i]}`));
    }
    const ghost = await run({ type: 'ghost-batch', replicas: 4 });
    assert.ok(
      ghost.some((v, i) => Math.abs(v - batch[i]) > 1e-3),
      'ghost-batch should train differently',
    );
  });
});
