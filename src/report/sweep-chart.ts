import type { ChartedEpoch } from './curves-chart';
import type { ChartSpec } from './vega';

export interface SweepCurve {
  /** The run's settings as a legend label ("l2=0.001 · dropout=0.3"). */
  label: string;
  /** 1 = best; undefined while unranked. */
  rank?: number;
  metrics: readonly ChartedEpoch[];
}

/**
 * The validation loss of every run of a sweep on one chart, the legend in rank order and the
 * best run drawn thicker. Runs without validation rows are drawn with their training loss,
 * and the axis says so.
 */
export function sweepChart(curves: SweepCurve[], options: { title: string; subtitle?: string }): ChartSpec {
  const points: { run: string; order: number; width: number; epoch: number; value: number }[] = [];
  let allValidation = true;
  const ordered = [...curves].sort((a, b) => (a.rank ?? Infinity) - (b.rank ?? Infinity));
  ordered.forEach((curve, order) => {
    const run = curve.rank !== undefined ? `#${curve.rank} ${curve.label}` : curve.label;
    for (const m of curve.metrics) {
      const value = m.valLoss ?? m.trainLoss;
      if (value === undefined) continue;
      if (m.valLoss === undefined) allValidation = false;
      points.push({ run, order, width: curve.rank === 1 ? 3.5 : 1.5, epoch: m.epoch, value });
    }
  });
  const lastEpoch = Math.max(2, ...points.map((p) => p.epoch));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    // eslint-disable-next-line @typescript-eslint/no-deprecated -- vega-lite's title anchor (see src/report/vega.ts)
    title: { text: options.title, ...(options.subtitle ? { subtitle: options.subtitle } : {}), anchor: 'start' },
    background: 'white',
    padding: 12,
    width: 620,
    height: 300,
    config: { font: 'sans-serif', legend: { labelLimit: 420, labelFontSize: 11 } },
    data: { values: points },
    mark: { type: 'line', strokeCap: 'round' },
    encoding: {
      x: {
        field: 'epoch',
        type: 'quantitative',
        scale: { domain: [1, lastEpoch], nice: false },
        axis: { tickMinStep: 1, format: 'd' },
      },
      y: {
        field: 'value',
        type: 'quantitative',
        title: allValidation ? 'validation loss' : 'validation loss (training loss where a run has no validation rows)',
        scale: { zero: false },
      },
      color: {
        field: 'run',
        type: 'nominal',
        title: 'run (best first)',
        sort: { field: 'order' },
        // Ten clearly different colours while they suffice; tableau20 pairs light and dark shades.
        scale: { scheme: curves.length <= 10 ? 'tableau10' : 'tableau20' },
        legend: { orient: 'bottom', columns: 1, symbolType: 'stroke' },
      },
      // Pixel widths straight from the data (scale null): the best run thicker.
      strokeWidth: { field: 'width', type: 'quantitative', scale: null, legend: null },
      order: { field: 'epoch', type: 'quantitative' },
      tooltip: [
        { field: 'run', type: 'nominal' },
        { field: 'epoch', type: 'quantitative' },
        { field: 'value', type: 'quantitative', format: '.4f' },
      ],
    },
  };
}
