import type { ApiJobState, TrainingJobResult } from '../training-jobs/contract';
import type { SweepRow } from '../training-jobs/sweep-contract';

/** A row from a run's finished result (or its state and error while it has none). */
export function sweepRow(
  run: { jobId: string; settings: Record<string, unknown> },
  state: ApiJobState,
  result?: TrainingJobResult,
  error?: string,
): SweepRow {
  const row: SweepRow = { jobId: run.jobId, settings: run.settings, state };
  if (error) row.error = error;
  if (!result) return row;
  const e = result.diagnosis?.evidence;
  Object.assign(
    row,
    defined({
      modelId: result.modelId,
      verdict: result.diagnosis?.verdict,
      valLoss: e?.valLoss,
      trainLoss: e?.trainLoss,
      gap: e?.gap,
      accuracy: e?.accuracy,
      valAccuracy: e?.valAccuracy,
      mae: e?.mae,
      valMae: e?.valMae,
      testMetrics: result.testMetrics,
      epochsRun: result.epochsRun,
      bestEpoch: result.bestEpoch,
      stoppedEpoch: result.stoppedEpoch,
      diagnosis: result.diagnosis,
    }),
  );
  return row;
}

/**
 * Best first: completed runs by the validation loss of the kept model, ties (equal to 6
 * significant digits) by the smaller gap; completed runs without validation by training loss
 * after them; unfinished and failed runs last, in grid order. Ranks number the completed runs.
 */
export function rankRows(rows: SweepRow[]): SweepRow[] {
  const group = (r: SweepRow) => (r.state !== 'completed' ? 2 : r.valLoss === undefined ? 1 : 0);
  const round = (v: number | undefined) => (v === undefined ? Infinity : Number(v.toPrecision(6)));
  const ranked = rows
    .map((row, order) => ({ row, order }))
    .sort((a, b) => {
      const ga = group(a.row);
      const gb = group(b.row);
      if (ga !== gb) return ga - gb;
      if (ga === 0) {
        const byVal = round(a.row.valLoss) - round(b.row.valLoss);
        if (byVal !== 0) return byVal;
        const byGap = round(a.row.gap) - round(b.row.gap);
        if (byGap !== 0 && Number.isFinite(byGap)) return byGap;
      }
      if (ga === 1) {
        const byTrain = round(a.row.trainLoss) - round(b.row.trainLoss);
        if (byTrain !== 0 && Number.isFinite(byTrain)) return byTrain;
      }
      return a.order - b.order;
    })
    .map(({ row }) => ({ ...row }));
  let rank = 0;
  for (const row of ranked) {
    if (row.state === 'completed') row.rank = ++rank;
    else delete row.rank;
  }
  return ranked;
}

/** "l2=0.001 · dropout=0.3": the last part of each path, the full path where two would clash. */
export function settingsLabel(settings: Record<string, unknown>): string {
  const keys = Object.keys(settings);
  const short = (k: string) =>
    k
      .split('.')
      .filter((p) => p !== '*' && !/^\d+$/.test(p))
      .pop() ?? k;
  const counts = new Map<string, number>();
  for (const k of keys) counts.set(short(k), (counts.get(short(k)) ?? 0) + 1);
  return keys
    .map((k) => {
      const name = counts.get(short(k))! > 1 ? k : short(k);
      return `${name}=${formatValue(settings[k])}`;
    })
    .join(' · ');
}

function formatValue(value: unknown): string {
  if (value === null) return 'off';
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

function defined<T extends Record<string, unknown>>(values: T): Partial<T> {
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined)) as Partial<T>;
}
