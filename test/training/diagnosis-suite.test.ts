import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { EpochMetrics } from '../../src/ml/trainer';
import { trainingRequestSchema, type TrainingRequest } from '../../src/schemas/training-request.schema';
import { diagnose, type Diagnosis, type DiagnosisInput, type Verdict } from '../../src/training/diagnosis';

/**
 * The labelled suite (issue 10, item 6): real runs written by scripts/diagnosis-suite.ts to
 * test/fixtures/diagnosis-suite/. For every case:
 * 1. the label is true of the run, by facts the diagnosis does not see — the oracle (2000 fresh
 *    rows scored after every epoch), a longer rerun, or the label's remedy run for real;
 * 2. the diagnosis gives the label's verdict;
 * 3. no suggestion contradicts the run: each contradiction is an explicit predicate below.
 * It prints the confusion table of labels × verdicts.
 */

const DIR = join(__dirname, '..', '..', '..', 'test', 'fixtures', 'diagnosis-suite');

type Label = 'overfit' | 'underfit' | 'good-fit' | 'still-improving' | 'too-small-validation' | 'wrong-task';

interface Fixture {
  name: string;
  label: Label;
  why: string;
  request: TrainingRequest;
  input: Omit<DiagnosisInput, 'request' | 'metrics' | 'rows'> & {
    metrics: EpochMetrics[];
    rows: { train: number; validation: number; test: number };
  };
  oracle?: { rows: number; loss: number[] };
  rerun?: { epochs: number; valLoss: number[] };
  remedy?: { note: string; keptEpoch: number; valLoss?: number; trainLoss: number; oracleLoss?: number };
}

const EXPECTED: Record<Label, Verdict> = {
  overfit: 'overfit',
  underfit: 'underfit',
  'good-fit': 'good-fit',
  'still-improving': 'still-improving',
  'too-small-validation': 'inconclusive',
  'wrong-task': 'wrong-task',
};

const fixtures: Fixture[] = readdirSync(DIR)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((f) => JSON.parse(readFileSync(join(DIR, f), 'utf8')) as Fixture);

/** The facts of a run that the predicates below read. */
function facts(f: Fixture) {
  const { metrics, rows } = f.input;
  const last = metrics.length;
  const window = Math.max(2, Math.ceil(last * 0.1));
  const kept = f.input.restoredBestWeights ? f.input.bestEpoch! : last;
  const baseline = f.input.baselineLoss!;
  const train = metrics.map((m) => m.trainLoss);
  const val = metrics.map((m) => m.valLoss);
  const es = f.request.training.earlyStopping;
  const hidden = f.request.model.hidden;
  const lowestValEpoch = rows.validation > 0 ? val.indexOf(Math.min(...(val as number[]))) + 1 : undefined;
  return {
    last,
    window,
    kept,
    baseline,
    train,
    val,
    es,
    hidden,
    stopped: f.input.stoppedEpoch !== undefined,
    restored: f.input.restoredBestWeights === true,
    validationRows: rows.validation,
    lowestValEpoch,
    trainShare: train[kept - 1] / baseline,
    /** Fell by more than 1 % over the last window (the run's own curve, noise and all). */
    fellAtEnd: (series: (number | undefined)[]) =>
      series[last - 1] !== undefined && series[last - 1]! < 0.99 * series[last - 1 - window]!,
    maxDropout: Math.max(0, ...hidden.map((h) => h.dropout.rate)),
    l2: f.request.regularization.l2,
  };
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** The label is true of the run, by the oracle, a rerun or the remedy (each label's own test). */
const TRUTH: Record<Label, (f: Fixture) => string | null> = {
  overfit: (f) => {
    const { kept, window, train, baseline } = facts(f);
    const o = f.oracle!.loss;
    const lowest = o.slice(0, kept).indexOf(Math.min(...o.slice(0, kept))) + 1;
    const turned = lowest <= kept - window && o[kept - 1] >= 1.1 * o[lowest - 1];
    const gap = o[kept - 1] - train[kept - 1];
    const largeGap = gap >= 0.1 * baseline && gap / o[kept - 1] >= 1 / 3;
    const remedied = f.remedy!.oracleLoss! <= 0.9 * o[kept - 1];
    if (!(turned || largeGap))
      return `oracle loss neither turned nor far above training (${o[kept - 1]} vs ${train[kept - 1]})`;
    return remedied
      ? null
      : `the remedy (${f.remedy!.note}) did not help: oracle ${f.remedy!.oracleLoss} vs ${o[kept - 1]}`;
  },
  underfit: (f) => {
    const { kept, trainShare, train, last, window } = facts(f);
    const o = f.oracle!.loss;
    if (trainShare < 0.6) return `training loss is only ${trainShare} of the baseline`;
    if (train[last - 1] < 0.99 * train[last - 1 - window]) return 'the training loss was still falling';
    return f.remedy!.oracleLoss! <= 0.5 * o[kept - 1]
      ? null
      : `the remedy (${f.remedy!.note}) did not halve the oracle loss`;
  },
  'good-fit': (f) => {
    const { kept, window, last, train, baseline, trainShare, stopped } = facts(f);
    const o = f.oracle!.loss;
    const gap = o[kept - 1] - train[kept - 1];
    if (trainShare >= 0.6) return `training loss is ${trainShare} of the baseline`;
    if (o[kept - 1] > 1.05 * Math.min(...o)) return 'the kept model is past the oracle minimum';
    if (gap >= 0.1 * baseline && gap / o[kept - 1] >= 1 / 3)
      return `oracle loss ${o[kept - 1]} far above training ${train[kept - 1]}`;
    const converged = stopped || mean(o.slice(last - window)) >= 0.98 * mean(o.slice(last - 2 * window, last - window));
    return converged ? null : 'the oracle loss was still falling';
  },
  'still-improving': (f) => {
    const { last, window, stopped } = facts(f);
    if (stopped) return 'early stopping ended the run';
    if (f.oracle) {
      const o = f.oracle.loss;
      return mean(o.slice(last - window)) < 0.98 * mean(o.slice(last - 2 * window, last - window))
        ? null
        : 'the oracle loss was flat';
    }
    const v = f.rerun!.valLoss;
    return Math.min(...v.slice(last)) < 0.95 * v[last - 1] ? null : 'a longer rerun did not improve';
  },
  'too-small-validation': (f) => (f.input.rows.validation < 20 ? null : `${f.input.rows.validation} validation rows`),
  'wrong-task': (f) => {
    if (f.request.task !== 'classification' || f.input.target?.type !== 'numeric')
      return 'not classification on a numeric target';
    // As regression the same inputs explain at least a fifth of the target's variance.
    return f.remedy!.valLoss! <= 0.8 ? null : `as regression, validation loss ${f.remedy!.valLoss}`;
  },
};

/**
 * Suggestions that would contradict the run's own facts. Each is a pattern a suggestion may
 * match and the predicate that makes it wrong for this run.
 */
const CONTRADICTIONS: { name: string; pattern: RegExp; wrong: (f: Fixture, d: Diagnosis, s: string) => boolean }[] = [
  {
    name: 'lower patience (only helps a run that early stopping ended, and keeping the last weights)',
    pattern: /lower .*patience/i,
    wrong: (f) => !facts(f).es || !facts(f).stopped || facts(f).restored,
  },
  {
    name: 'raise patience when early stopping never fired',
    pattern: /raise .*patience/i,
    wrong: (f) => !facts(f).stopped,
  },
  {
    name: 'add early stopping when it is on, or when validation loss was lowest in the last window',
    pattern: /^Add early stopping/,
    wrong: (f) => {
      const x = facts(f);
      return !!x.es || x.lowestValEpoch === undefined || x.lowestValEpoch > x.kept - x.window;
    },
  },
  {
    name: 'restoreBestWeights when early stopping is off or already restores',
    pattern: /restoreBestWeights to true/,
    wrong: (f) => !facts(f).es || facts(f).es!.restoreBestWeights,
  },
  {
    name: 'train longer after early stopping ended the run, or with both curves flat',
    pattern: /train longer|more epochs|raise training\.epochs/i,
    wrong: (f) => {
      const x = facts(f);
      return x.stopped || (!x.fellAtEnd(x.val) && !x.fellAtEnd(x.train));
    },
  },
  {
    name: 'add capacity to a model that fits its training rows',
    pattern: /add capacity|more units or layers/i,
    wrong: (f) => facts(f).trainShare < 0.6,
  },
  {
    name: 'a smaller model for one that cannot fit its training rows, or has no hidden layer',
    pattern: /fewer units or layers/i,
    wrong: (f) => facts(f).trainShare >= 0.6 || facts(f).hidden.length === 0,
  },
  { name: 'add L2 when L2 is on', pattern: /^Add L2/, wrong: (f) => facts(f).l2 > 0 },
  { name: 'increase L2 when L2 is off', pattern: /^Increase L2/, wrong: (f) => facts(f).l2 === 0 },
  { name: 'add dropout when dropout is on', pattern: /^Add dropout/, wrong: (f) => facts(f).maxDropout > 0 },
  {
    name: "raise dropout naming another rate than the request's",
    pattern: /^Raise dropout/,
    wrong: (f, _d, s) => !s.includes(`now ${facts(f).maxDropout})`),
  },
  {
    name: 'regularize less without regularization',
    pattern: /^Regularize less/,
    wrong: (f) =>
      facts(f).l2 === 0 &&
      f.request.regularization.l1 === 0 &&
      facts(f).maxDropout === 0 &&
      !f.request.augmentation.gaussianNoise,
  },
  {
    name: 'hold out validation rows when there are some',
    pattern: /^Hold out validation rows/,
    wrong: (f) => facts(f).validationRows > 0,
  },
  {
    name: "a validation-loss minimum at another epoch than the curve's",
    pattern: /lowest at epoch \d+/,
    wrong: (f, _d, s) => Number(/lowest at epoch (\d+)/.exec(s)![1]) !== facts(f).lowestValEpoch,
  },
  {
    name: 'use task regression for a regression run or a non-numeric target',
    pattern: /use task "regression"/i,
    wrong: (f) => f.request.task === 'regression' || f.input.target?.type !== 'numeric',
  },
  {
    name: 'bring back dropped features when none are dropped',
    pattern: /features\.drop \(/,
    wrong: (f) => f.request.features.drop.length === 0,
  },
  {
    name: 'overfitting remedies for a run that is not overfit',
    pattern: /^(More data helps most|Use a model of fitting complexity|Add L2|Increase L2|Add dropout|Raise dropout)/,
    wrong: (_f, d) => d.verdict !== 'overfit',
  },
];

function run(f: Fixture): Diagnosis {
  return diagnose({ ...f.input, request: trainingRequestSchema.parse(f.request) });
}

describe('diagnosis suite: labelled real runs', () => {
  test('the suite has at least three cases of every label', () => {
    for (const label of Object.keys(EXPECTED) as Label[]) {
      const n = fixtures.filter((f) => f.label === label).length;
      assert.ok(n >= 3, `${n} cases labelled ${label}`);
    }
  });

  for (const f of fixtures) {
    test(`${f.name} (${f.label}): ${f.why}`, () => {
      const truth = TRUTH[f.label](f);
      assert.equal(truth, null, `the label ${f.label} is not true of the run: ${truth}`);
      const d = run(f);
      assert.equal(d.verdict, EXPECTED[f.label], `verdict ${d.verdict}; reasons: ${d.evidence.reasons.join(' | ')}`);
      assert.ok(d.evidence.reasons.length > 0);
      if (d.verdict !== 'good-fit')
        assert.ok(d.suggestions.length > 0, 'a verdict other than good-fit says what to do');
      for (const s of d.suggestions) {
        for (const c of CONTRADICTIONS) {
          assert.ok(!(c.pattern.test(s) && c.wrong(f, d, s)), `"${s}" contradicts the run: ${c.name}`);
        }
      }
    });
  }

  test('the confusion table of labels × verdicts is diagonal', () => {
    const verdicts = [...new Set(Object.values(EXPECTED))];
    const table = new Map<Label, Map<Verdict, number>>();
    for (const f of fixtures) {
      const row = table.get(f.label) ?? new Map<Verdict, number>();
      const v = run(f).verdict;
      row.set(v, (row.get(v) ?? 0) + 1);
      table.set(f.label, row);
    }
    const width = Math.max(...verdicts.map((v) => v.length)) + 2;
    const lines = [
      'label \\ verdict'.padEnd(24) + verdicts.map((v) => v.padStart(width)).join(''),
      ...[...table].map(
        ([label, row]) => label.padEnd(24) + verdicts.map((v) => String(row.get(v) ?? 0).padStart(width)).join(''),
      ),
    ];
    console.log(`diagnosis suite, ${fixtures.length} runs\n${lines.join('\n')}`);
    for (const [label, row] of table) {
      for (const [verdict, n] of row)
        assert.ok(verdict === EXPECTED[label] || n === 0, `${n} ${label} run(s) got ${verdict}`);
    }
  });
});
