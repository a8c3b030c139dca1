import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { applyTemperature, fitTemperature } from '../../src/evaluation/calibration';
import { classificationMetrics, reliability } from '../../src/evaluation/classification-metrics';
import { chooseThreshold } from '../../src/evaluation/decision-threshold';
import { permutationImportance } from '../../src/evaluation/permutation-importance';
import { Rng } from '../../src/random';

/**
 * Rows whose probabilities are calibrated by construction (each row's class drawn from its own
 * probabilities), then made overconfident by sharpening: p^4, renormalized (temperature 1/4).
 */
function overconfident(
  rows: number,
  classes: number,
  seed: number,
): { labels: Int32Array; calibrated: Float64Array; sharp: Float64Array } {
  const rng = new Rng(seed);
  const labels = new Int32Array(rows);
  const calibrated = new Float64Array(rows * classes);
  for (let r = 0; r < rows; r++) {
    let sum = 0;
    for (let c = 0; c < classes; c++) sum += calibrated[r * classes + c] = Math.exp(1.5 * (rng.next() * 2 - 1));
    for (let c = 0; c < classes; c++) calibrated[r * classes + c] /= sum;
    let u = rng.next();
    let c = 0;
    while (c < classes - 1 && (u -= calibrated[r * classes + c]) > 0) c++;
    labels[r] = c;
  }
  return { labels, calibrated, sharp: applyTemperature(calibrated, classes, 0.25) };
}

describe('temperature scaling', () => {
  test('T = 1 changes nothing; the top class never changes', () => {
    const { sharp } = overconfident(50, 3, 1);
    applyTemperature(sharp, 3, 1).forEach((p, i) => assert.ok(Math.abs(p - sharp[i]) < 1e-12));
    const soft = applyTemperature(sharp, 3, 3);
    const top = (p: ArrayLike<number>, r: number) =>
      [0, 1, 2].reduce((b, c) => (p[r * 3 + c] > p[r * 3 + b] ? c : b), 0);
    for (let r = 0; r < 50; r++) assert.equal(top(soft, r), top(sharp, r));
  });

  test('fitted on an overconfident model it finds T near 4 and lowers the ECE', () => {
    const { labels, sharp } = overconfident(4000, 3, 2);
    const t = fitTemperature(labels, sharp, 3);
    // The sharpening was by 1/4; the estimate from 4000 rows lands near 4.
    assert.ok(t > 3.3 && t < 4.8, `temperature ${t}`);
    const before = reliability(labels, sharp, 3).ece;
    const after = reliability(labels, applyTemperature(sharp, 3, t), 3).ece;
    assert.ok(before > 0.1, `the sharpened model is overconfident: ECE ${before}`);
    assert.ok(after < before / 3, `ECE ${before} → ${after}`);
  });

  test('the fitted temperature minimizes the log loss', () => {
    const { labels, sharp } = overconfident(500, 4, 3);
    const t = fitTemperature(labels, sharp, 4);
    const loss = (temperature: number) =>
      classificationMetrics(labels, applyTemperature(sharp, 4, temperature), 4).logLoss;
    assert.ok(loss(t) <= loss(t * 1.05) && loss(t) <= loss(t / 1.05));
  });
});

describe('decision threshold', () => {
  test('chosen for F1 on imbalanced scores it is below 0.5 and beats 0.5; balanced accuracy too', () => {
    // 1 positive in 10; positives score around 0.35, negatives around 0.1: 0.5 predicts no positive.
    const rng = new Rng(4);
    const rows = 400;
    const labels = Int32Array.from({ length: rows }, (_, i) => (i % 10 === 0 ? 1 : 0));
    const p = new Float64Array(rows * 2);
    labels.forEach((y, r) => {
      const s = Math.min(0.99, Math.max(0.01, (y ? 0.35 : 0.1) + 0.1 * (rng.next() - 0.5)));
      p[r * 2] = 1 - s;
      p[r * 2 + 1] = s;
    });
    const atHalf = classificationMetrics(labels, p, 2, 0.5);
    for (const objective of ['f1', 'balancedAccuracy'] as const) {
      const t = chooseThreshold(labels, p, objective);
      assert.ok(t < 0.5, `${objective}: threshold ${t}`);
      const chosen = classificationMetrics(labels, p, 2, t);
      const score = (m: typeof chosen) => (objective === 'f1' ? m.perClass[1].f1 : m.balancedAccuracy);
      assert.ok(score(chosen) > score(atHalf), `${objective}: ${score(atHalf)} at 0.5 → ${score(chosen)} at ${t}`);
    }
  });
});

describe('permutation importance', () => {
  test('a column the loss ignores scores 0, one it uses a positive increase; one-hot groups move together; seeded', () => {
    const rows = 200;
    const inputSize = 3;
    const rng = new Rng(5);
    const x = new Float32Array(rows * inputSize);
    for (let r = 0; r < rows; r++) {
      x[r * 3] = rng.next();
      const hot = rng.next() < 0.5 ? 1 : 2;
      x[r * 3 + hot] = 1;
    }
    const truth = Float64Array.from({ length: rows }, (_, r) => 3 * x[r * 3] + x[r * 3 + 1]);
    // The "model" is the truth itself: a loss of 0 until a used column is shuffled.
    const loss = (m: Float32Array) => {
      let s = 0;
      for (let r = 0; r < rows; r++) s += (3 * m[r * 3] + m[r * 3 + 1] - truth[r]) ** 2;
      return s / rows;
    };
    const groups = [
      { column: 'a', start: 0, width: 1 },
      { column: 'colour', start: 1, width: 2 },
    ];
    const first = permutationImportance({ x, rows, inputSize, groups, loss, repeats: 4, seed: 9 });
    assert.equal(first.baselineLoss, 0);
    const [a, colour] = first.columns;
    assert.ok(a.mean > colour.mean && colour.mean > 0, `a ${a.mean}, colour ${colour.mean}`);
    assert.ok(a.std > 0, 'the repeats differ');
    // A loss that ignores every column: importance exactly 0.
    const ignoring = permutationImportance({ x, rows, inputSize, groups, loss: () => 1, repeats: 3, seed: 9 });
    for (const column of ignoring.columns) assert.equal(column.mean, 0);
    // Shuffling a group together keeps each row one-hot.
    let rowsOneHot = true;
    permutationImportance({
      x,
      rows,
      inputSize,
      groups: [groups[1]],
      repeats: 1,
      seed: 1,
      loss: (m) => {
        for (let r = 0; r < rows; r++) if (m[r * 3 + 1] + m[r * 3 + 2] !== 1) rowsOneHot = false;
        return 0;
      },
    });
    assert.ok(rowsOneHot);
    const again = permutationImportance({ x, rows, inputSize, groups, loss, repeats: 4, seed: 9 });
    assert.deepEqual(again, first);
  });
});
