import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { EpochMetrics } from '../../src/ml/trainer';
import {
  trainingRequestSchema,
  type TrainingRequestInput,
} from '../../src/schemas/training-request.schema';
import { DIAGNOSIS_THRESHOLDS, diagnose, type DiagnosisInput } from '../../src/training/diagnosis';

/**
 * The diagnosis rules on hand-made curves. Each case states the numbers that decide it; the
 * thresholds are those of DIAGNOSIS_THRESHOLDS (README, "Diagnosis").
 */

const LN2 = Math.log(2); // entropy of a balanced two-class target: the classification baseline

function request(overrides: Partial<TrainingRequestInput> = {}) {
  return trainingRequestSchema.parse({
    datasetId: 'ds_1',
    target: 'label',
    task: 'classification',
    model: { hidden: [{ units: 256 }] },
    training: { epochs: 30 },
    ...overrides,
  });
}

/** Epoch metrics from train and validation loss curves (validation omitted when null). */
function curves(train: number[], val: (number | null)[] | null, extra: Partial<EpochMetrics> = {}): EpochMetrics[] {
  return train.map((trainLoss, i) => {
    const m = {
      epoch: i + 1,
      trainingModeLoss: trainLoss * 1.1,
      trainLoss,
      penalty: 0,
      kernelL2: 1,
      zeroShare: 0,
      durationMs: 1,
      ...extra,
    } as EpochMetrics & { trainLoss: number };
    const v = val?.[i];
    if (v !== undefined && v !== null) {
      m.valLoss = v;
      (m as { gap?: number }).gap = v - trainLoss;
    }
    return m;
  });
}

/** n values from a to b, geometrically (a loss that keeps falling). */
function falling(a: number, b: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => a * (b / a) ** (i / (n - 1)));
}

function run(input: Partial<DiagnosisInput> & Pick<DiagnosisInput, 'metrics'>) {
  return diagnose({ request: request(), warnings: [], baselineLoss: LN2, ...input });
}

const has = (list: string[], pattern: RegExp) => list.some((s) => pattern.test(s));

describe('diagnose: verdicts', () => {
  test('overfit: training loss near zero, validation loss turned at epoch 6 and climbed', () => {
    // train 0.69 → 0.01; val falls to 0.45 at epoch 6, then rises linearly to 1.2 at epoch 30.
    const train = falling(0.69, 0.01, 30);
    const val = train.map((_, i) => (i < 6 ? 0.69 - 0.048 * i : 0.45 + (0.75 * (i - 5)) / 24));
    const d = run({ metrics: curves(train, val) });
    assert.equal(d.verdict, 'overfit');
    assert.equal(d.evidence.valLossBestEpoch, 6);
    assert.ok(Math.abs(d.evidence.gap! - (1.2 - 0.01)) < 1e-9, `gap ${d.evidence.gap}`);
    assert.ok(d.evidence.relativeGap! > 0.99);
    assert.ok(Math.abs(d.evidence.valLossRise! - (1.2 - 0.45) / 0.45) < 1e-9);
    assert.equal(d.evidence.trainLossSource, 'trainLoss');
    assert.equal(d.evidence.baselineSource, 'given');
    assert.ok(has(d.evidence.reasons, /stopped improving at epoch 6/));
  });

  test('overfit by the gap alone: validation 1.5× training, no turn', () => {
    // train 0.20, val 0.31 at the end, both still falling: relative gap 0.11/0.31 = 0.355 ≥ 1/3,
    // gap 0.11 ≥ 0.1·ln 2 = 0.069.
    const d = run({ metrics: curves(falling(0.5, 0.2, 10), falling(0.6, 0.31, 10)) });
    assert.equal(d.verdict, 'overfit');
    assert.equal(d.evidence.valLossBestEpoch, 10);
    assert.equal(d.evidence.valLossRise, 0);
  });

  test('good fit just under the relative-gap threshold', () => {
    // val 0.29 vs train 0.20: relative gap 0.09/0.29 = 0.31 < 1/3; still falling, no turn.
    const d = run({ metrics: curves(falling(0.5, 0.2, 10), falling(0.6, 0.29, 10)) });
    assert.equal(d.verdict, 'good-fit');
    assert.ok(d.evidence.relativeGap! < DIAGNOSIS_THRESHOLDS.overfitRelativeGap);
  });

  test('a large ratio on tiny losses is no alarm: the gap must be ≥ 10 % of the baseline', () => {
    // train 0.01, val 0.05: 5× but the gap 0.04 < 0.069.
    const d = run({ metrics: curves(falling(0.3, 0.01, 10), falling(0.3, 0.05, 10)) });
    assert.equal(d.verdict, 'good-fit');
  });

  test('overfit by the turn alone: validation loss rose 20 % since its best epoch', () => {
    // val best 0.30 at epoch 4, last 0.36: rise 0.2 ≥ 0.1; train ends at 0.25, so the gap
    // 0.11 ≥ 0.069 counts, but the relative gap 0.11/0.36 = 0.31 is under 1/3.
    const train = falling(0.5, 0.25, 12);
    const val = [0.6, 0.45, 0.35, 0.3, 0.31, 0.32, 0.33, 0.33, 0.34, 0.35, 0.35, 0.36];
    const d = run({ metrics: curves(train, val) });
    assert.ok(d.evidence.relativeGap! < DIAGNOSIS_THRESHOLDS.overfitRelativeGap);
    assert.equal(d.verdict, 'overfit');
    assert.equal(d.evidence.valLossBestEpoch, 4);
    assert.ok(Math.abs(d.evidence.valLossRise! - 0.2) < 1e-9);
  });

  test('underfit: training loss stays at 90 % of the baseline', () => {
    // train 0.69 → 0.62 = 0.895·ln 2 ≥ 0.6·ln 2.
    const d = run({ metrics: curves(falling(0.69, 0.62, 20), falling(0.69, 0.63, 20)) });
    assert.equal(d.verdict, 'underfit');
    assert.ok(d.evidence.trainLossVsBaseline > 0.89 && d.evidence.trainLossVsBaseline < 0.9);
    assert.ok(has(d.suggestions, /Add capacity: more units or layers \(now 1 hidden layer, the widest with 256 units\)/));
    assert.ok(has(d.suggestions, /more informative features/));
    assert.ok(has(d.suggestions, /Train longer/), 'the loss was still falling');
  });

  test('underfit wins over overfit when even the training loss is high', () => {
    // train 0.5 (72 % of baseline), val 1.0: both rules fire; capacity comes first.
    const d = run({ metrics: curves(falling(0.69, 0.5, 10), falling(0.8, 1.0, 10)) });
    assert.equal(d.verdict, 'underfit');
  });

  test('regression: baseline 1.0 (variance of the standardized target)', () => {
    const req = request({ task: 'regression' });
    const good = diagnose({ request: req, metrics: curves(falling(1, 0.1, 10), falling(1, 0.12, 10)), warnings: [], baselineLoss: 1 });
    assert.equal(good.verdict, 'good-fit');
    const under = diagnose({ request: req, metrics: curves(falling(1, 0.7, 10), falling(1, 0.72, 10)), warnings: [], baselineLoss: 1 });
    assert.equal(under.verdict, 'underfit');
    assert.ok(Math.abs(under.evidence.trainLossVsBaseline - 0.7) < 1e-9);
  });

  test('no validation: the verdict rests on training error only, and says so', () => {
    const low = run({ metrics: curves(falling(0.69, 0.05, 10), null), request: request({ training: { validationSplit: 0 } }) });
    assert.equal(low.evidence.hasValidation, false);
    assert.equal(low.verdict, 'good-fit');
    assert.equal(low.evidence.gap, undefined);
    assert.ok(has(low.evidence.reasons, /no validation data.*training error only/));
    assert.ok(has(low.suggestions, /training\.validationSplit/));
    const high = run({ metrics: curves(falling(0.69, 0.6, 10), null) });
    assert.equal(high.verdict, 'underfit');
  });

  test('restored best weights: the gap is the kept epoch\'s, not the last\'s', () => {
    // Early stopping with patience 4: best epoch 6, stopped at 10, weights of epoch 6 kept.
    const train = falling(0.6, 0.1, 10);
    const val = [0.62, 0.55, 0.5, 0.46, 0.44, 0.43, 0.45, 0.48, 0.52, 0.56];
    const req = request({ training: { epochs: 30, earlyStopping: { patience: 4 } } });
    const d = diagnose({
      request: req,
      metrics: curves(train, val),
      bestEpoch: 6,
      stoppedEpoch: 10,
      restoredBestWeights: true,
      warnings: [],
      baselineLoss: LN2,
    });
    assert.equal(d.evidence.modelEpoch, 6);
    assert.ok(Math.abs(d.evidence.gap! - (0.43 - train[5])) < 1e-9);
    assert.ok(Math.abs(d.evidence.lastEpochGap! - (0.56 - train[9])) < 1e-9);
    assert.ok(d.evidence.gap! < d.evidence.lastEpochGap!);
    assert.equal(d.evidence.valLossRise, 0, 'the kept epoch is the best one');
    assert.equal(d.evidence.stoppedEpoch, 10);
    // Without restoredBestWeights given, it is inferred from the request.
    const inferred = diagnose({ request: req, metrics: curves(train, val), bestEpoch: 6, warnings: [], baselineLoss: LN2 });
    assert.equal(inferred.evidence.modelEpoch, 6);
  });

  test('without trainLoss (older metrics) the training-mode loss is used, and the baseline falls back to epoch 1', () => {
    const metrics = curves(falling(0.6, 0.05, 10), falling(0.6, 0.5, 10)).map(({ trainLoss: _t, ...m }: EpochMetrics & { trainLoss?: number }) => m);
    const d = diagnose({ request: request(), metrics, warnings: [] });
    assert.equal(d.evidence.trainLossSource, 'loss');
    assert.equal(d.evidence.baselineSource, 'first-epoch');
    assert.ok(Math.abs(d.evidence.baselineLoss - 0.66) < 1e-9);
    assert.equal(d.verdict, 'overfit');
  });
});

describe('diagnose: suggestions fit the request', () => {
  const overfitCurves = () => {
    const train = falling(0.69, 0.01, 30);
    return curves(train, train.map((_, i) => (i < 6 ? 0.69 - 0.048 * i : 0.45 + (0.75 * (i - 5)) / 24)));
  };

  test('an unregularized overfit model gets augmentation, a smaller model, fewer features, L2, dropout, early stopping', () => {
    const d = run({ metrics: overfitCurves() });
    assert.ok(has(d.suggestions, /augmentation\.gaussianNoise/));
    assert.ok(has(d.suggestions, /fewer units or layers \(now 1 hidden layer, the widest with 256 units\)/));
    assert.ok(has(d.suggestions, /features\.drop.*regularization\.l1/));
    assert.ok(has(d.suggestions, /^Add L2: regularization\.l2/));
    assert.ok(has(d.suggestions, /^Add dropout/));
    assert.ok(has(d.suggestions, /^Add early stopping.*lowest at epoch 6 of 30/));
    // In the order of concepts.md: data, complexity, features, L1/L2, dropout, early stopping.
    const order = [/augment/, /fitting complexity/, /fewer features/, /L2/, /dropout/, /early stopping/].map((p) =>
      d.suggestions.findIndex((s) => p.test(s)),
    );
    assert.deepEqual([...order].sort((a, b) => a - b), order);
  });

  test('an overfit model that already has L2, dropout, early stopping and augmentation is told to strengthen them', () => {
    const req = request({
      model: { hidden: [{ units: 256, dropout: 0.2 }] },
      regularization: { l2: 1e-4 },
      augmentation: { gaussianNoise: 0.1 },
      training: { epochs: 30, earlyStopping: { patience: 10, restoreBestWeights: true } },
    });
    const d = run({ request: req, metrics: overfitCurves() });
    assert.ok(has(d.suggestions, /Increase L2 \(regularization\.l2 is 0\.0001\)/));
    assert.ok(has(d.suggestions, /Raise dropout \(the largest rate is now 0\.2\), e\.g\. to 0\.4/));
    assert.ok(has(d.suggestions, /Augmentation is on \(gaussianNoise 0\.1\)/));
    assert.ok(has(d.suggestions, /Lower training\.earlyStopping\.patience \(now 10\)/));
    assert.ok(!has(d.suggestions, /^Add (L2|dropout|early stopping)/));
  });

  test('early stopping that does not restore the best weights is told to', () => {
    const req = request({ training: { epochs: 30, earlyStopping: { restoreBestWeights: false } } });
    const d = run({ request: req, metrics: overfitCurves() });
    assert.ok(has(d.suggestions, /restoreBestWeights to true/));
  });

  test('dropout before batch norm gets the reordering advice, whatever the verdict', () => {
    const warning = 'hidden layer 0 applies dropout … ("variance shift"). Remedies: …';
    const d = run({ metrics: curves(falling(0.6, 0.1, 10), falling(0.6, 0.12, 10)), warnings: [warning] });
    assert.equal(d.verdict, 'good-fit');
    assert.ok(has(d.suggestions, /move dropout after the last batch-norm layer, or use Gaussian dropout/));
  });

  test('an underfit, heavily regularized model is told to regularize less', () => {
    // Penalty 0.3 vs training loss 0.55: 55 % ≥ 25 %; dropout 0.5 ≥ 0.4.
    const req = request({ model: { hidden: [{ units: 8, dropout: 0.5 }] }, regularization: { l2: 0.05 } });
    const d = run({ request: req, metrics: curves(Array(10).fill(0.55), Array(10).fill(0.56), { penalty: 0.3 }) });
    assert.equal(d.verdict, 'underfit');
    assert.ok(has(d.suggestions, /Regularize less: the L1\/L2 penalty \(0\.3\) is 55 % of the training loss.*lower dropout \(the largest rate is 0\.5\)/));
    assert.ok(!has(d.suggestions, /Train longer/), 'flat curves are not still improving');
  });

  test('an underfit model stopped early is told to raise patience', () => {
    const req = request({ training: { epochs: 50, earlyStopping: { patience: 2 } } });
    const d = run({ request: req, metrics: curves(falling(0.69, 0.6, 8), falling(0.69, 0.61, 8)), bestEpoch: 6, stoppedEpoch: 8 });
    assert.equal(d.verdict, 'underfit');
    assert.ok(has(d.suggestions, /Early stopping ended the run at epoch 8.*raise training\.earlyStopping\.patience \(now 2\)/));
  });

  test('an underfit model with dropped features is told to bring them back', () => {
    const req = request({ features: { drop: ['a', 'b'] } });
    const d = run({ request: req, metrics: curves(Array(5).fill(0.6), Array(5).fill(0.6)) });
    assert.ok(has(d.suggestions, /2 column\(s\) are dropped by features\.drop \(a, b\)/));
  });

  test('a good fit that was still improving suggests more epochs; one that converged suggests nothing', () => {
    const improving = run({ metrics: curves(falling(0.6, 0.1, 10), falling(0.6, 0.12, 10)) });
    assert.deepEqual(improving.suggestions.length, 1);
    assert.match(improving.suggestions[0], /still falling at epoch 10/);
    const flat = run({ metrics: curves([...falling(0.6, 0.1, 5), ...Array(10).fill(0.1)], [...falling(0.6, 0.12, 5), ...Array(10).fill(0.12)]) });
    assert.deepEqual(flat.suggestions, []);
  });

  test('no epoch at all: underfit, with a reason', () => {
    const d = run({ metrics: [] });
    assert.equal(d.verdict, 'underfit');
    assert.equal(d.evidence.epochsRun, 0);
  });
});
