import type { EvaluationResult } from '../schemas/evaluation.schema';
import { renderSvg, type ChartSpec } from './vega';

/**
 * The evaluation's charts on the report page, each a Vega-Lite spec rendered to SVG like the
 * curves: the confusion matrix as a heatmap, the ROC curves, the reliability diagram (of the
 * served probabilities: calibrated ones when the model has a temperature) and the permutation
 * importance bars with their spread over the repeats. The metrics of the held-out
 * rows are drawn: test rows when there are any, else validation rows.
 */
export interface EvaluationSvgs {
  /** Which rows the charts are of. */
  rows: 'test' | 'validation';
  confusion?: string;
  roc?: string;
  reliability?: string;
  importance?: string;
}

const BASE = {
  $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
  background: 'white',
  padding: 12,
  config: { font: 'sans-serif', axis: { labelFontSize: 11, titleFontSize: 12 }, legend: { labelFontSize: 12 } },
} as const;

type ClassificationSet = Extract<NonNullable<EvaluationResult['test']>, { confusionMatrix: unknown }>;

function isClassification(set: EvaluationResult['test']): set is ClassificationSet {
  return set !== undefined && 'confusionMatrix' in set;
}

export async function evaluationSvgs(evaluation: EvaluationResult | undefined): Promise<EvaluationSvgs | undefined> {
  if (!evaluation) return undefined;
  const rows = evaluation.test ? 'test' : 'validation';
  const set = evaluation[rows];
  const out: EvaluationSvgs = { rows };
  if (isClassification(set)) {
    const classes = (evaluation.classes ?? set.confusionMatrix.map((_, i) => i)).map(String);
    out.confusion = await renderSvg(confusionSpec(set.confusionMatrix, classes, rows));
    if (set.rocCurves?.length) out.roc = await renderSvg(rocSpec(set.rocCurves, classes, rows));
    out.reliability = await renderSvg(reliabilitySpec(set.reliability, rows, evaluation.calibration?.temperature));
  }
  if (evaluation.importance) out.importance = await renderSvg(importanceSpec(evaluation.importance));
  return out;
}

export function confusionSpec(matrix: number[][], classes: string[], rows: string): ChartSpec {
  const cells = matrix.flatMap((row, t) =>
    row.map((count, p) => {
      const total = row.reduce((a, b) => a + b, 0);
      return { truth: classes[t], predicted: classes[p], count, share: total > 0 ? count / total : 0 };
    }),
  );
  const size = Math.min(420, Math.max(160, 48 * classes.length));
  return {
    ...BASE,
    // eslint-disable-next-line @typescript-eslint/no-deprecated -- vega-lite's title anchor (see src/report/vega.ts)
    title: { text: `Confusion matrix (${rows} rows)`, subtitle: 'colour: share of the true class', anchor: 'start' },
    width: size,
    height: size,
    data: { values: cells },
    encoding: {
      x: { field: 'predicted', type: 'nominal', sort: classes, title: 'predicted' },
      y: { field: 'truth', type: 'nominal', sort: classes, title: 'true' },
    },
    layer: [
      {
        mark: 'rect',
        encoding: {
          color: { field: 'share', type: 'quantitative', scale: { domain: [0, 1], scheme: 'blues' }, title: 'share' },
          tooltip: [{ field: 'truth' }, { field: 'predicted' }, { field: 'count', type: 'quantitative' }],
        },
      },
      {
        mark: { type: 'text', fontSize: 12 },
        encoding: {
          text: { field: 'count', type: 'quantitative' },
          color: { condition: { test: 'datum.share > 0.5', value: 'white' }, value: 'black' },
        },
      },
    ],
  };
}

export function rocSpec(
  curves: NonNullable<ClassificationSet['rocCurves']>,
  classes: string[],
  rows: string,
): ChartSpec {
  const points = curves.flatMap((curve) =>
    curve.fpr.map((fpr, i) => ({
      class: classes[curve.class] ?? String(curve.class),
      fpr,
      tpr: curve.tpr[i],
      order: i,
    })),
  );
  const binary = curves.length === 1 && classes.length === 2;
  return {
    ...BASE,
    title: {
      text: `ROC curve${binary ? ` of ${classes[1]}` : 's, one class against the rest'} (${rows} rows)`,
      // eslint-disable-next-line @typescript-eslint/no-deprecated -- vega-lite's title anchor (see src/report/vega.ts)
      anchor: 'start',
    },
    width: 320,
    height: 320,
    layer: [
      {
        data: {
          values: [
            { x: 0, y: 0 },
            { x: 1, y: 1 },
          ],
        },
        mark: { type: 'line', color: '#999', strokeDash: [4, 4] },
        encoding: { x: { field: 'x', type: 'quantitative' }, y: { field: 'y', type: 'quantitative' } },
      },
      {
        data: { values: points },
        mark: { type: 'line', strokeWidth: 2, interpolate: 'linear' },
        encoding: {
          x: { field: 'fpr', type: 'quantitative', title: 'false positive rate', scale: { domain: [0, 1] } },
          y: { field: 'tpr', type: 'quantitative', title: 'true positive rate', scale: { domain: [0, 1] } },
          order: { field: 'order', type: 'quantitative' },
          color: { field: 'class', type: 'nominal', title: 'class', legend: binary ? null : { orient: 'bottom' } },
        },
      },
    ],
  };
}

export function reliabilitySpec(bins: ClassificationSet['reliability'], rows: string, temperature?: number): ChartSpec {
  const filled = bins.filter((b) => b.count > 0);
  return {
    ...BASE,
    title: {
      text: `Reliability (${rows} rows)`,
      subtitle: `top-class confidence against accuracy, 10 bins${temperature !== undefined ? `; calibrated, T = ${temperature.toPrecision(3)}` : ''}`,
      // eslint-disable-next-line @typescript-eslint/no-deprecated -- vega-lite's title anchor (see src/report/vega.ts)
      anchor: 'start',
    },
    width: 320,
    height: 320,
    layer: [
      {
        data: {
          values: [
            { x: 0, y: 0 },
            { x: 1, y: 1 },
          ],
        },
        mark: { type: 'line', color: '#999', strokeDash: [4, 4] },
        encoding: { x: { field: 'x', type: 'quantitative' }, y: { field: 'y', type: 'quantitative' } },
      },
      {
        data: { values: filled },
        mark: { type: 'line', point: true, color: '#d62728' },
        encoding: {
          x: { field: 'meanConfidence', type: 'quantitative', title: 'mean confidence', scale: { domain: [0, 1] } },
          y: { field: 'accuracy', type: 'quantitative', title: 'accuracy', scale: { domain: [0, 1] } },
          size: { field: 'count', type: 'quantitative', title: 'rows' },
          tooltip: [
            { field: 'lower' },
            { field: 'upper' },
            { field: 'count' },
            { field: 'meanConfidence', format: '.3f' },
            { field: 'accuracy', format: '.3f' },
          ],
        },
      },
    ],
  };
}

export function importanceSpec(importance: NonNullable<EvaluationResult['importance']>): ChartSpec {
  const bars = importance.columns.map((c) => ({ ...c, low: c.mean - c.std, high: c.mean + c.std }));
  const order = [...bars].sort((a, b) => b.mean - a.mean).map((b) => b.column);
  return {
    ...BASE,
    title: {
      text: `Permutation importance (${importance.rows} rows)`,
      subtitle: `increase of ${importance.loss === 'mse' ? 'MSE' : 'log loss'} with the column shuffled; ± sd over ${importance.repeats} repeats`,
      // eslint-disable-next-line @typescript-eslint/no-deprecated -- vega-lite's title anchor (see src/report/vega.ts)
      anchor: 'start',
    },
    width: 480,
    height: Math.max(60, 22 * bars.length),
    data: { values: bars },
    encoding: { y: { field: 'column', type: 'nominal', sort: order, title: null } },
    layer: [
      {
        mark: { type: 'bar', color: '#1f77b4' },
        encoding: { x: { field: 'mean', type: 'quantitative', title: 'loss increase' } },
      },
      {
        mark: { type: 'rule', color: '#333' },
        encoding: { x: { field: 'low', type: 'quantitative' }, x2: { field: 'high' } },
      },
    ],
  };
}
