import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { classificationMetrics, type ReliabilityBin } from '../../src/evaluation/classification-metrics';
import { regressionMetrics } from '../../src/evaluation/regression-metrics';

/**
 * Every metric against scikit-learn 1.2 on the committed fixtures
 * (scripts/reference/make_evaluation_fixtures.py says which sklearn function each one is), to
 * 1e-6. The cases include tied scores, a class never predicted, a class absent from the labels
 * (ROC AUC undefined: omitted) and constant predictions.
 */

interface ClassificationCase {
  name: string;
  labels: number[];
  probabilities: number[][];
  threshold?: number;
  expected: {
    logLoss: number;
    accuracy: number;
    balancedAccuracy: number;
    f1Macro: number;
    f1Weighted: number;
    precision: number[];
    recall: number[];
    support: number[];
    confusionMatrix: number[][];
    rocAuc: number | null;
    prAuc: number | null;
    brier: number;
    ece: number;
    reliability: ReliabilityBin[];
    rocCurve?: { fpr: number[]; tpr: number[] };
  };
}

interface RegressionCase {
  name: string;
  targets: number[];
  predictions: number[];
  expected: { mse: number; rmse: number; mae: number; r2: number };
}

const fixtures = JSON.parse(
  readFileSync(join(__dirname, '..', '..', '..', 'test', 'fixtures', 'evaluation-reference.json'), 'utf8'),
) as { classification: ClassificationCase[]; regression: RegressionCase[] };

function close(actual: number | undefined, expected: number, what: string): void {
  assert.ok(actual !== undefined, `${what}: missing, expected ${expected}`);
  assert.ok(Math.abs(actual - expected) <= 1e-6, `${what}: ${actual}, expected ${expected}`);
}

describe('classification metrics equal scikit-learn', () => {
  for (const c of fixtures.classification) {
    test(c.name, () => {
      const classes = c.probabilities[0].length;
      const m = classificationMetrics(c.labels, c.probabilities.flat(), classes, c.threshold);
      const e = c.expected;
      for (const key of ['logLoss', 'accuracy', 'balancedAccuracy', 'f1Macro', 'f1Weighted', 'brier', 'ece'] as const) {
        close(m[key], e[key], key);
      }
      for (const [key, value] of [
        ['rocAuc', e.rocAuc],
        ['prAuc', e.prAuc],
      ] as const) {
        if (value === null) assert.equal(m[key], undefined, `${key} is undefined here, so omitted`);
        else close(m[key], value, key);
      }
      assert.deepEqual(m.confusionMatrix, e.confusionMatrix);
      if (e.rocCurve) {
        const curve = m.rocCurves![0];
        assert.equal(curve.fpr.length, e.rocCurve.fpr.length, 'one point per distinct score, as roc_curve');
        curve.fpr.forEach((v, i) => close(v, e.rocCurve!.fpr[i], `fpr[${i}]`));
        curve.tpr.forEach((v, i) => close(v, e.rocCurve!.tpr[i], `tpr[${i}]`));
      }
      m.perClass.forEach((k, i) => {
        close(k.precision, e.precision[i], `precision[${i}]`);
        close(k.recall, e.recall[i], `recall[${i}]`);
        assert.equal(k.support, e.support[i]);
      });
      assert.equal(m.reliability.length, 10);
      m.reliability.forEach((bin, i) => {
        const want = e.reliability[i];
        close(bin.lower, want.lower, `bin ${i} lower`);
        assert.equal(bin.count, want.count, `bin ${i} count`);
        if (want.meanConfidence === undefined) assert.equal(bin.meanConfidence, undefined);
        else {
          close(bin.meanConfidence, want.meanConfidence, `bin ${i} confidence`);
          close(bin.accuracy, want.accuracy!, `bin ${i} accuracy`);
        }
      });
    });
  }

  test('the fixtures hold the edge cases they are meant to', () => {
    const byName = new Map(fixtures.classification.map((c) => [c.name, c]));
    const ties = byName.get('binary ties')!.probabilities.map((p) => p[1]);
    assert.ok(new Set(ties).size < ties.length / 3, 'many tied scores');
    const never = byName.get('multiclass class never predicted')!.expected.confusionMatrix;
    assert.equal(
      never.reduce((s, row) => s + row[2], 0),
      0,
      'class 2 never predicted',
    );
    assert.equal(byName.get('multiclass class absent from labels')!.expected.support[3], 0);
    assert.equal(new Set(byName.get('binary constant')!.probabilities.map((p) => p[1])).size, 1);
  });
});

describe('regression metrics equal scikit-learn', () => {
  for (const c of fixtures.regression) {
    test(c.name, () => {
      const m = regressionMetrics(c.targets, c.predictions);
      for (const key of ['mse', 'rmse', 'mae', 'r2'] as const) close(m[key], c.expected[key], key);
    });
  }
});
