import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { EarlyStopping } from '../../src/ml/early-stopping';
import { Trainer, type TrainingData } from '../../src/ml/trainer';
import { Rng } from '../../src/random';
import {
  earlyStoppingSchema,
  hiddenLayerSchema,
  regularizationSchema,
} from '../../src/schemas/training-request.schema';
import { useWasmBackend } from '../helpers/tf';

describe('EarlyStopping', () => {
  test('stops after `patience` epochs in a row without an improvement larger than minDelta', () => {
    const es = new EarlyStopping(earlyStoppingSchema.parse({ patience: 2, minDelta: 0.01 }));
    const losses = [1.0, 0.8, 0.795, 0.9];
    const seen = losses.map((loss, i) => es.update(i + 1, loss));
    // 0.795 is not 0.01 better than 0.8: no improvement; 0.9 neither → stop at epoch 4.
    assert.deepEqual(
      seen.map((s) => [s.improved, s.stop]),
      [
        [true, false],
        [true, false],
        [false, false],
        [false, true],
      ],
    );
    assert.equal(es.state.bestEpoch, 2);
    assert.equal(es.state.stoppedEpoch, 4);
  });

  test('valAccuracy counts higher as better', () => {
    const es = new EarlyStopping(earlyStoppingSchema.parse({ monitor: 'valAccuracy', patience: 1 }));
    assert.equal(es.update(1, 0.5).improved, true);
    assert.equal(es.update(2, 0.6).improved, true);
    assert.deepEqual(es.update(3, 0.55), { improved: false, stop: true });
    assert.equal(es.state.bestEpoch, 2);
  });
});

/** Few rows, many noise features, a wide network: validation loss turns up early. */
function overfitData(): TrainingData {
  const rng = new Rng(4);
  const rows = 80;
  const d = 30;
  const x = new Float32Array(rows * d);
  const y = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < d; c++) x[r * d + c] = rng.next() * 2 - 1;
    y[r] = x[r * d] + 0.8 * (rng.next() - 0.5) > 0 ? 1 : 0;
  }
  return {
    task: 'classification',
    x,
    y,
    inputSize: d,
    outputSize: 2,
    trainRows: Int32Array.from({ length: 48 }, (_, i) => i),
    validationRows: Int32Array.from({ length: 32 }, (_, i) => 48 + i),
  };
}

describe('early stopping in the trainer', () => {
  before(useWasmBackend);

  test('stops before `epochs` and restores the best epoch weights', async () => {
    const trainer = new Trainer(overfitData(), {
      hidden: [hiddenLayerSchema.parse({ units: 256 }), hiddenLayerSchema.parse({ units: 256 })],
      regularization: regularizationSchema.parse({}),
      epochs: 200,
      batchSize: 16,
      optimizer: 'adam',
      learningRate: 0.01,
      seed: 8,
      earlyStopping: earlyStoppingSchema.parse({ patience: 5 }),
    });
    while (!trainer.done) await trainer.runEpoch();
    const stopped = trainer.stoppedEpoch!;
    const best = trainer.bestEpoch!;
    assert.ok(stopped < 200, `stopped at ${stopped}`);
    assert.equal(stopped, best + 5, 'five epochs without improvement after the best');
    const valLosses = trainer.metrics.map((m) => m.valLoss!);
    assert.equal(Math.min(...valLosses), valLosses[best - 1], 'the best epoch has the lowest validation loss');
    assert.equal(trainer.restoreBestWeights(), true);
    const restored = trainer.evaluate(trainer.data.validationRows).loss;
    assert.ok(Math.abs(restored - valLosses[best - 1]) < 1e-5, `restored ${restored} vs best ${valLosses[best - 1]}`);
    trainer.dispose();
  });
});
