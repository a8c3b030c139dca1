import type { EpochMetrics } from '../schemas/api.schema';
import type { ChartSpec } from './vega';

/** The per-epoch numbers the chart reads; `trainLoss` is absent in metrics of older jobs. */
export type ChartedEpoch = Omit<EpochMetrics, 'trainLoss'> & { trainLoss?: number };

export interface EpochMarks {
  /** The epoch whose weights the model keeps or the lowest validation loss: drawn as a rule. */
  bestEpoch?: number;
  /** What the best-epoch rule means, e.g. "best (restored)". */
  bestLabel?: string;
  /** Set when early stopping ended the run: drawn as a dashed rule. */
  stoppedEpoch?: number;
}

const SERIES_COLORS = { training: '#1f77b4', validation: '#d62728' } as const;
const WIDTH = 680;
const PANEL_HEIGHT = 220;

interface Point {
  epoch: number;
  set: 'training' | 'validation';
  value: number;
}

/**
 * Training and validation loss per epoch, and below it accuracy (classification) or MAE
 * (regression), with the best and stopping epochs marked. Both sides of each panel are
 * inference-mode figures (no dropout, running batch-norm statistics, the weights at the end of
 * the epoch): `trainLoss`, `accuracy` and `mae` against their validation twins. The
 * training-mode `trainingModeLoss` is never drawn beside them; epochs of older jobs that lack an
 * inference-mode training figure have no training point.
 */
export function curvesChart(
  metrics: readonly ChartedEpoch[],
  options: { title: string; subtitle?: string; marks?: EpochMarks },
): ChartSpec {
  const marks = options.marks ?? {};
  const lossPoints: Point[] = [];
  const secondPoints: Point[] = [];
  const classification = metrics.some((m) => m.accuracy !== undefined || m.valAccuracy !== undefined);
  for (const m of metrics) {
    if (m.trainLoss !== undefined) lossPoints.push({ epoch: m.epoch, set: 'training', value: m.trainLoss });
    if (m.valLoss !== undefined) lossPoints.push({ epoch: m.epoch, set: 'validation', value: m.valLoss });
    const [train, val] = classification ? [m.accuracy, m.valAccuracy] : [m.mae, m.valMae];
    if (train !== undefined) secondPoints.push({ epoch: m.epoch, set: 'training', value: train });
    if (val !== undefined) secondPoints.push({ epoch: m.epoch, set: 'validation', value: val });
  }
  const lastEpoch = metrics.length ? metrics[metrics.length - 1].epoch : 1;
  const rules = epochRules(marks);
  const panels = [panel(lossPoints, 'loss', lastEpoch, rules, false)];
  if (secondPoints.length) {
    panels.push(panel(secondPoints, classification ? 'accuracy' : 'MAE (target units)', lastEpoch, rules, true));
  }
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    // eslint-disable-next-line @typescript-eslint/no-deprecated -- vega-lite's title anchor (see src/report/vega.ts)
    title: { text: options.title, ...(options.subtitle ? { subtitle: options.subtitle } : {}), anchor: 'start' },
    background: 'white',
    padding: 12,
    config: { font: 'sans-serif', axis: { labelFontSize: 11, titleFontSize: 12 }, legend: { labelFontSize: 12 } },
    vconcat: panels,
    resolve: { scale: { color: 'shared' } },
  } as ChartSpec;
}

/** A curves chart with nothing to draw yet: the same frame, with a message in it. */
export function emptyChart(title: string, message: string): ChartSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    // eslint-disable-next-line @typescript-eslint/no-deprecated -- vega-lite's title anchor (see src/report/vega.ts)
    title: { text: title, anchor: 'start' },
    background: 'white',
    padding: 12,
    width: WIDTH,
    height: 80,
    data: { values: [{ message }] },
    mark: { type: 'text', fontSize: 14, color: '#555' },
    encoding: { text: { field: 'message', type: 'nominal' } },
    config: { font: 'sans-serif', view: { stroke: '#ddd' } },
  };
}

interface Rule {
  epoch: number;
  label: string;
  dashed: boolean;
}

function epochRules(marks: EpochMarks): Rule[] {
  const rules: Rule[] = [];
  if (marks.bestEpoch !== undefined) {
    rules.push({
      epoch: marks.bestEpoch,
      label: `${marks.bestLabel ?? 'best'}: epoch ${marks.bestEpoch}`,
      dashed: false,
    });
  }
  if (marks.stoppedEpoch !== undefined) {
    rules.push({ epoch: marks.stoppedEpoch, label: `stopped: epoch ${marks.stoppedEpoch}`, dashed: true });
  }
  return rules;
}

function panel(points: Point[], yTitle: string, lastEpoch: number, rules: Rule[], lower: boolean) {
  const x = {
    field: 'epoch',
    type: 'quantitative',
    title: 'epoch',
    scale: { domain: [1, Math.max(2, lastEpoch)], nice: false },
    axis: { tickMinStep: 1, format: 'd' },
  };
  const layers: unknown[] = [
    {
      data: { values: points },
      mark: { type: 'line', point: points.length <= 120 ? { size: 18 } : false, strokeWidth: 2 },
      encoding: {
        x,
        y: { field: 'value', type: 'quantitative', title: yTitle, scale: { zero: false } },
        color: {
          field: 'set',
          type: 'nominal',
          title: null,
          scale: { domain: ['training', 'validation'], range: [SERIES_COLORS.training, SERIES_COLORS.validation] },
          legend: { orient: 'top', direction: 'horizontal' },
        },
        tooltip: [
          { field: 'epoch', type: 'quantitative' },
          { field: 'set', type: 'nominal' },
          { field: 'value', type: 'quantitative', format: '.4f' },
        ],
      },
    },
  ];
  if (rules.length) {
    layers.push({
      data: { values: rules },
      mark: { type: 'rule', color: '#2ca02c', strokeWidth: 1.5 },
      encoding: {
        x: { field: 'epoch', type: 'quantitative' },
        strokeDash: {
          field: 'dashed',
          type: 'nominal',
          scale: {
            domain: [false, true],
            range: [
              [1, 0],
              [6, 4],
            ],
          },
          legend: null,
        },
      },
    });
    if (!lower) {
      layers.push({
        data: { values: rules.map((r, i) => ({ ...r, labelY: 4 + 14 * i })) },
        mark: { type: 'text', align: 'left', dx: 4, baseline: 'top', color: '#2ca02c', fontSize: 11 },
        encoding: {
          x: { field: 'epoch', type: 'quantitative' },
          // Pixel positions (scale null): labels stacked at the top of the panel.
          y: { field: 'labelY', type: 'quantitative', scale: null },
          text: { field: 'label', type: 'nominal' },
        },
      });
    }
  }
  return { width: WIDTH, height: PANEL_HEIGHT, layer: layers };
}
