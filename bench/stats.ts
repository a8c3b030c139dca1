/** The middle value (the mean of the two middle ones for an even count). */
export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** The nearest-rank percentile: the smallest value with at least p % of the values at or below it. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1];
}

/** A figure rounded for the table: 3 significant digits, integers as they are. */
export function fmt(value: number | undefined, digits = 3): string {
  if (value === undefined || !Number.isFinite(value)) return '—';
  if (Math.abs(value) >= 10 ** digits) return Math.round(value).toLocaleString('en-US');
  return Number(value.toPrecision(digits)).toString();
}

/** Turns whose figures differ by more than this (largest ÷ smallest − 1) get a warning. */
export const MOVE_WARNING = 0.25;

/** The turns of one peer: their median and range, and how far apart the extremes are. */
export interface Spread {
  median: number;
  min: number;
  max: number;
  /** max ÷ min − 1: how much the figure moved between its slowest and fastest turn. */
  move: number;
  turns: number[];
}

export function spread(turns: readonly number[]): Spread {
  const min = Math.min(...turns);
  const max = Math.max(...turns);
  return { median: median(turns), min, max, move: min > 0 ? max / min - 1 : NaN, turns: [...turns] };
}

/** "12,058 (11,500–12,300)": the median and the range of the turns. */
export function fmtSpread(s: Spread | undefined): string {
  if (!s) return '—';
  return `${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)})`;
}

/**
 * A warning line when a peer's figure moved by more than MOVE_WARNING between turns (its
 * slowest and fastest turn), or undefined.
 */
export function moveWarning(name: string, s: Spread): string | undefined {
  if (!(s.move > MOVE_WARNING)) return undefined;
  return `${name}: moved ${Math.round(s.move * 100)} % between turns (${fmt(s.min)} to ${fmt(s.max)}): the machine was not quiet`;
}

/** A markdown table, the first column left-aligned and the others right-aligned. */
export function table(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, c) => Math.max(3, ...cells.map((r) => r[c].length)));
  const line = (r: string[]) =>
    `| ${r.map((v, c) => (c === 0 ? v.padEnd(widths[c]) : v.padStart(widths[c]))).join(' | ')} |`;
  const rule = `| ${widths.map((w, c) => (c === 0 ? '-'.repeat(w) : `${'-'.repeat(w - 1)}:`)).join(' | ')} |`;
  return [line(header), rule, ...cells.slice(1).map(line)].join('\n');
}
