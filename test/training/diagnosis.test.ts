import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { trainingRequestSchema, type TrainingRequestInput } from '../../src/schemas/training-request.schema';
import { DIAGNOSIS_THRESHOLDS, diagnose, type DiagnosisEpoch, type DiagnosisInput } from '../../src/training/diagnosis';

/**
 * The diagnosis rules on hand-made curves. Each case states the numbers that decide it; the
 * thresholds are those of DIAGNOSIS_THRESHOLDS (README, "Diagnosis"). Real runs, labelled:
 * diagnosis-suite.test.ts.
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
function curves(
  train: number[],
  val: (number | null)[] | null,
  extra: Partial<DiagnosisEpoch> & { valLossStdError?: number } = {},
): DiagnosisEpoch[] {
  return train.map((trainLoss, i) => {
    const m: DiagnosisEpoch = {
      epoch: i + 1,
      trainingModeLoss: trainLoss * 1.1,
      trainLoss,
      penalty: 0,
      kernelL2: 1,
      zeroShare: 0,
      durationMs: 1,
      ...extra,
    };
    const v = val?.[i];
    if (v !== undefined && v !== null) {
      m.valLoss = v;
      m.gap = v - trainLoss;
    } else {
      delete m.valLossStdError;
    }
    return m;
  });
}

/** n values from a to b, geometrically (a loss that keeps falling). */
function falling(a: number, b: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => a * (b / a) ** (i / (n - 1)));
}

/** Falls from a to b over `fall` epochs, then stays at b for `flat` more: a converged curve. */
function converged(a: number, b: number, fall: number, flat: number): number[] {
  return [...falling(a, b, fall), ...Array<number>(flat).fill(b)];
}

/** A flat curve at `level` that alternates ± `noise` (epoch-to-epoch jitter, no trend). */
function jittery(level: number, noise: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => level + (i % 2 ? noise : -noise));
}

function run(input: Partial<DiagnosisInput> & Pick<DiagnosisInput, 'metrics'>) {
  return diagnose({ request: request(), warnings: [], baselineLoss: LN2, ...input });
}

const has = (list: string[], pattern: RegExp) => list.some((s) => pattern.test(s));

/** Train → 0.01; validation falls to 0.45 at epoch 6, then rises linearly to 1.2 at epoch 30. */
function turnedCurves(extra: Partial<DiagnosisEpoch> & { valLossStdError?: number } = {}) {
  const train = falling(0.69, 0.01, 30);
  return curves(
    train,
    train.map((_, i) => (i < 6 ? 0.69 - 0.048 * i : 0.45 + (0.75 * (i - 5)) / 24)),
    extra,
  );
}

describe('diagnose: verdicts', () => {
  test('overfit: the validation curve turned at epoch 6 and climbed while training loss kept falling', () => {
    const d = run({ metrics: turnedCurves({ valLossStdError: 0.2 }) });
    assert.equal(d.verdict, 'overfit');
    assert.equal(d.evidence.valLossBestEpoch, 6);
    assert.equal(d.evidence.valLossTurned, true);
    assert.ok(Math.abs(d.evidence.gap! - (1.2 - 0.01)) < 1e-9, `gap ${d.evidence.gap}`);
    assert.ok(Math.abs(d.evidence.valLossRise! - (1.2 - 0.45) / 0.45) < 1e-9);
    assert.equal(d.evidence.trainLossSource, 'trainLoss');
    assert.equal(d.evidence.baselineSource, 'given');
    assert.equal(d.evidence.uncertaintySource, 'rows');
    assert.equal(d.evidence.valLossStdError, 0.2);
    assert.ok(has(d.evidence.reasons, /validation loss turned: lowest at epoch 6/));
  });

  test('a large gap counts only beyond the noise of the validation estimate', () => {
    // Converged: train 0.2, validation 0.35 (relative gap 0.43 ≥ 1/3, gap 0.15 ≥ 0.1·ln 2).
    const train = converged(0.6, 0.2, 5, 10);
    const val = converged(0.7, 0.35, 5, 10);
    // Standard error 0.05: the gap is 3 standard errors → overfit.
    const beyond = run({ metrics: curves(train, val, { valLossStdError: 0.05 }) });
    assert.equal(beyond.verdict, 'overfit');
    assert.ok(Math.abs(beyond.evidence.gapStdErrors! - 3) < 1e-9);
    assert.equal(beyond.evidence.valLossTurned, false);
    // 0.08: 1.9 standard errors, within the noise; ±0.16 is under 25 % of ln 2 (0.173) → good fit.
    const within = run({ metrics: curves(train, val, { valLossStdError: 0.08 }) });
    assert.equal(within.verdict, 'good-fit');
    assert.ok(has(within.evidence.reasons, /within the noise \(1\.87 standard errors/));
    // 0.1: ±0.2 is more than 25 % of ln 2 → the validation set cannot tell.
    const unsure = run({ metrics: curves(train, val, { valLossStdError: 0.1 }) });
    assert.equal(unsure.verdict, 'inconclusive');
    assert.ok(
      has(unsure.suggestions, /^Hold out more validation rows.*± 0\.2; raise training\.validationSplit \(now 0\.2\)/),
    );
  });

  test('a curve still falling at the last epoch is not overfit, whatever the gap (issue 10, second example)', () => {
    // Validation 1.5× training at the end, but both still falling: the run ended too early.
    const d = run({ metrics: curves(falling(0.5, 0.02, 30), falling(0.6, 0.1, 30), { valLossStdError: 0.01 }) });
    assert.ok(d.evidence.relativeGap! > DIAGNOSIS_THRESHOLDS.overfitRelativeGap);
    assert.equal(d.evidence.valStillImproving, true);
    assert.equal(d.verdict, 'still-improving');
    assert.deepEqual(d.suggestions, [
      'Train longer: the validation loss was still falling at epoch 30; raise training.epochs (now 30), or add ' +
        'training.earlyStopping to end the run once validation stops improving.',
    ]);
  });

  test('a validation curve that fell to its lowest two epochs before the end is never overfit (issue 10, first example)', () => {
    // Regression, 60 epochs: validation falls to 0.398 at epoch 58, then 0.399, 0.4; training 0.384.
    const val = [...falling(1, 0.398, 58), 0.399, 0.4];
    const train = [...falling(1, 0.384, 58), 0.383, 0.382];
    const d = diagnose({
      request: request({ task: 'regression', training: { epochs: 60 } }),
      metrics: curves(train, val, { valLossStdError: 0.06 }),
      warnings: [],
      baselineLoss: 1,
    });
    assert.equal(d.evidence.valLossBestEpoch, 58);
    assert.equal(d.evidence.valLossTurned, false, 'the lowest is within the last window (6 epochs)');
    // 0.425 at epoch 54 → 0.4 at 60: still falling over the window.
    assert.equal(d.verdict, 'still-improving');
    assert.ok(!has(d.suggestions, /early stopping \{/i), 'no "add early stopping"');
  });

  test('jitter is not a trend: a flat curve that ends 1.7 % lower is not still improving', () => {
    // 0.3 ± 0.01 alternating: second differences of 0.04, a jitter of 0.024; the last drop
    // (0.005 below the value 3 epochs earlier) is far under 2.5 of those.
    const val = [...jittery(0.3, 0.01, 29), 0.295];
    const d = run({ metrics: curves(Array(30).fill(0.25), val, { valLossStdError: 0.02 }) });
    assert.equal(d.evidence.valStillImproving, false);
    assert.equal(d.verdict, 'good-fit');
  });

  test('jitter is not a turn: a flat curve whose last epoch is 12 % above its lowest did not turn', () => {
    const train = falling(0.3, 0.25, 30);
    const val = [...jittery(0.3, 0.015, 29), 0.321]; // lowest 0.285, last 0.321: +12.6 %, under 5 jitters (5 × 0.036)
    const d = run({ metrics: curves(train, val, { valLossStdError: 0.02 }) });
    assert.ok(d.evidence.valLossRise! > DIAGNOSIS_THRESHOLDS.overfitValRise);
    assert.equal(d.evidence.valLossTurned, false);
    assert.notEqual(d.verdict, 'overfit');
  });

  test('a turn needs the training loss to have kept falling', () => {
    // Validation rises 30 % after epoch 5, but training rose with it (e.g. an unstable learning rate).
    const train = [0.5, 0.3, 0.2, 0.17, 0.15, ...Array.from({ length: 15 }, (_, i) => 0.15 + 0.005 * (i + 1))];
    const val = [0.55, 0.45, 0.4, 0.36, 0.34, ...Array.from({ length: 15 }, (_, i) => 0.34 + 0.007 * (i + 1))];
    const d = run({ metrics: curves(train, val, { valLossStdError: 0.02 }) });
    assert.ok(d.evidence.valLossRise! > 0.3);
    assert.equal(d.evidence.valLossTurned, false);
  });

  test('underfit: the training loss stopped at 90 % of the baseline', () => {
    const d = run({
      metrics: curves(converged(0.69, 0.62, 5, 15), converged(0.69, 0.63, 5, 15), { valLossStdError: 0.02 }),
    });
    assert.equal(d.verdict, 'underfit');
    assert.ok(d.evidence.trainLossVsBaseline > 0.89 && d.evidence.trainLossVsBaseline < 0.9);
    assert.ok(
      has(d.suggestions, /Add capacity: more units or layers \(now 1 hidden layer, the widest with 256 units\)/),
    );
    assert.ok(has(d.suggestions, /more informative features/));
    assert.ok(!has(d.suggestions, /Train longer/), 'the loss had stopped falling');
  });

  test('a high training loss that is still falling: still improving, not underfit', () => {
    const d = run({ metrics: curves(falling(0.69, 0.5, 10), falling(0.69, 0.52, 10), { valLossStdError: 0.02 }) });
    assert.equal(d.verdict, 'still-improving');
    assert.match(d.suggestions[0], /^Train longer: the validation loss was still falling at epoch 10/);
  });

  test('underfit wins over overfit when even the training loss is high', () => {
    const d = run({ metrics: curves(Array(10).fill(0.5), Array(10).fill(1.0), { valLossStdError: 0.02 }) });
    assert.equal(d.verdict, 'underfit');
  });

  test('regression: baseline 1.0 (variance of the standardized target)', () => {
    const req = request({ task: 'regression' });
    const good = diagnose({
      request: req,
      metrics: curves(converged(1, 0.1, 6, 6), converged(1, 0.12, 6, 6), { valLossStdError: 0.01 }),
      warnings: [],
      baselineLoss: 1,
    });
    assert.equal(good.verdict, 'good-fit');
    const under = diagnose({
      request: req,
      metrics: curves(converged(1, 0.7, 4, 8), converged(1, 0.72, 4, 8)),
      warnings: [],
      baselineLoss: 1,
    });
    assert.equal(under.verdict, 'underfit');
    assert.ok(Math.abs(under.evidence.trainLossVsBaseline - 0.7) < 1e-9);
  });

  test('no validation: the verdict rests on training error only, and says so', () => {
    const noValidation = request({ training: { validationSplit: 0 } });
    const low = run({ metrics: curves(converged(0.69, 0.05, 5, 5), null), request: noValidation });
    assert.equal(low.evidence.hasValidation, false);
    assert.equal(low.verdict, 'good-fit');
    assert.equal(low.evidence.gap, undefined);
    assert.ok(has(low.evidence.reasons, /no validation data.*training error only/));
    assert.ok(has(low.suggestions, /^Hold out validation rows \(training\.validationSplit/));
    const falls = run({ metrics: curves(falling(0.69, 0.05, 10), null), request: noValidation });
    assert.equal(falls.verdict, 'still-improving');
    assert.match(falls.suggestions[0], /^Train longer: the training loss was still falling at epoch 10/);
    const high = run({ metrics: curves(Array(10).fill(0.6), null), request: noValidation });
    assert.equal(high.verdict, 'underfit');
  });

  test('too few validation rows: inconclusive, whatever the curves', () => {
    const d = run({ metrics: turnedCurves({ valLossStdError: 0.3 }), rows: { train: 100, validation: 9 } });
    assert.equal(d.verdict, 'inconclusive');
    assert.equal(d.evidence.validationRows, 9);
    assert.ok(has(d.evidence.reasons, /only 9 validation rows \(fewer than 10\)/));
    assert.ok(has(d.suggestions, /^Hold out more validation rows: 9 rows give a validation loss of 1\.2 ± 0\.6/));
    assert.equal(
      run({ metrics: turnedCurves({ valLossStdError: 0.3 }), rows: { train: 100, validation: 10 } }).verdict,
      'overfit',
    );
  });

  test('wrong task: classification of a target that looks continuous', () => {
    const target = { type: 'numeric' as const, rows: 442, distinct: 214, nonInteger: false };
    const d = run({
      metrics: curves(Array(10).fill(0.9 * Math.log(214)), Array(10).fill(5)),
      target,
      baselineLoss: Math.log(214),
    });
    assert.equal(d.verdict, 'wrong-task');
    assert.deepEqual(d.evidence.target, target);
    assert.match(
      d.suggestions[0],
      /^Use task "regression": target "label" has 214 distinct numeric values in 442 rows/,
    );
    assert.ok(!has(d.suggestions, /capacity|L2|dropout|early stopping/i));
    // Integer codes, a few dozen of them over many rows, are classes; so is any regression target.
    const codes = { type: 'numeric' as const, rows: 10_000, distinct: 30, nonInteger: false };
    assert.notEqual(
      run({ metrics: curves(converged(1, 0.2, 5, 5), converged(1, 0.22, 5, 5)), target: codes }).verdict,
      'wrong-task',
    );
    const regression = request({ task: 'regression' });
    assert.notEqual(
      run({ request: regression, metrics: curves(converged(1, 0.2, 5, 5), converged(1, 0.22, 5, 5)), target }).verdict,
      'wrong-task',
    );
    // Decimals with more than 20 distinct values look continuous however many rows there are.
    const decimals = { type: 'numeric' as const, rows: 100_000, distinct: 25, nonInteger: true };
    assert.equal(
      run({ metrics: curves(converged(1, 0.2, 5, 5), converged(1, 0.22, 5, 5)), target: decimals }).verdict,
      'wrong-task',
    );
  });

  test('folds, when there are some, give the uncertainty: their spread / √folds', () => {
    const train = converged(0.6, 0.2, 5, 10);
    const val = converged(0.7, 0.35, 5, 10);
    // Folds 0.30, 0.35, 0.40: sd 0.05, standard error 0.0289; the gap 0.15 is 5.2 of them.
    const tight = run({ metrics: curves(train, val, { valLossStdError: 0.1 }), foldValLosses: [0.3, 0.35, 0.4] });
    assert.equal(tight.evidence.uncertaintySource, 'folds');
    assert.ok(Math.abs(tight.evidence.valLossStdError! - 0.05 / Math.sqrt(3)) < 1e-12);
    assert.equal(tight.verdict, 'overfit');
    // Folds 0.1 … 0.6: standard error 0.144; the gap is 1 of them.
    const spread = run({ metrics: curves(train, val, { valLossStdError: 0.01 }), foldValLosses: [0.1, 0.35, 0.6] });
    assert.notEqual(spread.verdict, 'overfit');
  });

  test("restored best weights: the gap is the kept epoch's, not the last's", () => {
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
    assert.equal(d.evidence.valLossTurned, false);
    assert.equal(d.evidence.stoppedEpoch, 10);
    assert.ok(!has(d.suggestions, /patience|restoreBestWeights|Add early stopping/), JSON.stringify(d.suggestions));
    // Without restoredBestWeights given, it is inferred from the request.
    const inferred = diagnose({
      request: req,
      metrics: curves(train, val),
      bestEpoch: 6,
      warnings: [],
      baselineLoss: LN2,
    });
    assert.equal(inferred.evidence.modelEpoch, 6);
  });

  test('older metrics: without trainLoss the training-mode loss is read (trainingModeLoss, or the old loss), the baseline from epoch 1', () => {
    const plain = turnedCurves();
    const renamed = plain.map(({ trainLoss: _t, ...m }) => m);
    const old = plain.map(({ trainLoss: _t, trainingModeLoss, ...m }) => ({ ...m, loss: trainingModeLoss }));
    for (const metrics of [renamed, old]) {
      const d = diagnose({ request: request(), metrics, warnings: [] });
      assert.equal(d.evidence.trainLossSource, 'trainingModeLoss');
      assert.equal(d.evidence.baselineSource, 'first-epoch');
      assert.ok(Math.abs(d.evidence.baselineLoss - 0.69 * 1.1) < 1e-9);
      assert.equal(d.evidence.uncertaintySource, 'none');
      assert.equal(d.verdict, 'overfit');
      assert.ok(has(d.evidence.reasons, /no standard error in these metrics/));
    }
  });

  test('no epoch at all: inconclusive, with a reason', () => {
    const d = run({ metrics: [] });
    assert.equal(d.verdict, 'inconclusive');
    assert.equal(d.evidence.epochsRun, 0);
  });
});

describe('diagnose: suggestions follow from the run', () => {
  test('an unregularized run whose curve turned gets augmentation, a smaller model, fewer features, L2, dropout, early stopping', () => {
    const d = run({ metrics: turnedCurves({ valLossStdError: 0.1 }) });
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
    assert.deepEqual(
      [...order].sort((a, b) => a - b),
      order,
    );
  });

  test('overfit by the gap alone (no turn): no early stopping, which would not change the kept model', () => {
    const d = run({
      metrics: curves(converged(0.6, 0.05, 5, 10), converged(0.7, 0.35, 5, 10), { valLossStdError: 0.03 }),
    });
    assert.equal(d.verdict, 'overfit');
    assert.equal(d.evidence.valLossTurned, false);
    assert.ok(has(d.suggestions, /^Add L2/));
    assert.ok(!has(d.suggestions, /early stopping/i), JSON.stringify(d.suggestions));
  });

  test('an overfit run that has L2, dropout, early stopping and augmentation is told to strengthen them, never to lower patience', () => {
    const req = request({
      model: { hidden: [{ units: 256, dropout: 0.2 }] },
      regularization: { l2: 1e-4 },
      augmentation: { gaussianNoise: 0.1 },
      training: { epochs: 30, earlyStopping: { patience: 10, restoreBestWeights: true } },
    });
    const d = run({ request: req, metrics: turnedCurves({ valLossStdError: 0.1 }) });
    assert.ok(has(d.suggestions, /Increase L2 \(regularization\.l2 is 0\.0001\)/));
    assert.ok(has(d.suggestions, /Raise dropout \(the largest rate is now 0\.2\), e\.g\. to 0\.4/));
    assert.ok(has(d.suggestions, /Augmentation is on \(gaussianNoise 0\.1\)/));
    assert.ok(!has(d.suggestions, /patience/), 'patience does not change which weights are kept');
    assert.ok(!has(d.suggestions, /^Add (L2|dropout|early stopping)/));
  });

  test('early stopping that keeps the last weights of a turned curve is told to restore the best', () => {
    const req = request({ training: { epochs: 30, earlyStopping: { restoreBestWeights: false } } });
    const d = run({ request: req, metrics: turnedCurves({ valLossStdError: 0.1 }) });
    assert.ok(has(d.suggestions, /restoreBestWeights to true .*lowest at epoch 6\), not those of epoch 30/));
  });

  test('a linear model is not told to shrink or take dropout when overfit, and is told it has no hidden layer when underfit', () => {
    const linear = request({ model: { hidden: [] } });
    const over = run({ request: linear, metrics: turnedCurves({ valLossStdError: 0.1 }) });
    assert.ok(!has(over.suggestions, /fewer units|dropout/), JSON.stringify(over.suggestions));
    const under = run({ request: linear, metrics: curves(Array(10).fill(0.68), Array(10).fill(0.69)) });
    assert.ok(has(under.suggestions, /^Add capacity: more units or layers \(now no hidden layer: a linear model\)/));
  });

  test('dropout before batch norm gets the reordering advice, whatever the verdict', () => {
    const warning = 'hidden layer 0 applies dropout … ("variance shift"). Remedies: …';
    const d = run({
      metrics: curves(converged(0.6, 0.1, 5, 5), converged(0.6, 0.12, 5, 5), { valLossStdError: 0.01 }),
      warnings: [warning],
    });
    assert.equal(d.verdict, 'good-fit');
    assert.ok(has(d.suggestions, /move dropout after the last batch-norm layer, or use Gaussian dropout/));
  });

  test('an underfit, heavily regularized model is told to regularize less', () => {
    // Penalty 0.3 vs training loss 0.55: 55 % ≥ 25 %; dropout 0.5 ≥ 0.4.
    const req = request({ model: { hidden: [{ units: 8, dropout: 0.5 }] }, regularization: { l2: 0.05 } });
    const d = run({ request: req, metrics: curves(Array(10).fill(0.55), Array(10).fill(0.56), { penalty: 0.3 }) });
    assert.equal(d.verdict, 'underfit');
    assert.ok(
      has(
        d.suggestions,
        /Regularize less: the L1\/L2 penalty \(0\.3\) is 55 % of the training loss.*lower dropout \(the largest rate is 0\.5\)/,
      ),
    );
    assert.ok(!has(d.suggestions, /Train longer/), 'flat curves are not still improving');
  });

  test('an underfit run that early stopping ended is told to raise patience; one it did not end is not', () => {
    const req = request({ training: { epochs: 50, earlyStopping: { patience: 2 } } });
    const metrics = curves(falling(0.69, 0.6, 8), falling(0.69, 0.61, 8));
    const stopped = run({ request: req, metrics, bestEpoch: 6, stoppedEpoch: 8 });
    assert.equal(stopped.verdict, 'underfit');
    assert.ok(
      has(
        stopped.suggestions,
        /Early stopping ended the run at epoch 8.*raise training\.earlyStopping\.patience \(now 2\)/,
      ),
    );
    const flat = run({ request: req, metrics: curves(Array(8).fill(0.6), Array(8).fill(0.61)), bestEpoch: 8 });
    assert.equal(flat.verdict, 'underfit');
    assert.ok(!has(flat.suggestions, /patience/));
  });

  test('an underfit model with dropped features is told to bring them back', () => {
    const req = request({ features: { drop: ['a', 'b'] } });
    const d = run({ request: req, metrics: curves(Array(5).fill(0.6), Array(5).fill(0.6)) });
    assert.ok(has(d.suggestions, /2 column\(s\) are dropped by features\.drop \(a, b\)/));
  });

  test('still improving with early stopping on: more epochs, and early stopping will end the run', () => {
    const req = request({ training: { epochs: 12, earlyStopping: { patience: 5 } } });
    const d = run({
      request: req,
      metrics: curves(falling(0.6, 0.2, 12), falling(0.6, 0.25, 12), { valLossStdError: 0.02 }),
      bestEpoch: 12,
    });
    assert.equal(d.verdict, 'still-improving');
    assert.match(d.suggestions[0], /raise training\.epochs \(now 12\) — early stopping, which is on, will end the run/);
    assert.ok(!has(d.suggestions, /patience/));
  });

  test('a good fit that converged suggests nothing', () => {
    const d = run({
      metrics: curves(converged(0.6, 0.1, 5, 10), converged(0.6, 0.12, 5, 10), { valLossStdError: 0.01 }),
    });
    assert.equal(d.verdict, 'good-fit');
    assert.deepEqual(d.suggestions, []);
  });
});
