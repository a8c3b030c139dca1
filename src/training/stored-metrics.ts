import { forEachBlock } from '../data/slices';
import { epochMetricsSchema, upgradeStoredEpochMetrics, type EpochMetrics } from '../schemas/api.schema';

/**
 * Per-epoch metrics as the worker stores them (one JSON entry per epoch), read back for every
 * view of a job: GET, its events, report, curves and sweeps. JSON has no NaN or Infinity
 * (JSON.stringify writes null), and versions before the divergence check (train-model.processor)
 * stored such epochs, so a value that is not a number is left out of its epoch, and an epoch
 * left without one of the numbers every epoch has is left out: the job stays readable. Entries
 * of versions before `trainingModeLoss` are upgraded first (upgradeStoredEpochMetrics).
 */

/** The fields every epoch has (the schema's required ones). */
const REQUIRED = Object.entries(epochMetricsSchema.shape)
  .filter(([, field]) => !field.safeParse(undefined).success)
  .map(([name]) => name);

export function readStoredEpoch(raw: string): EpochMetrics | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (parsed === null || typeof parsed !== 'object') return undefined;
  const fields = upgradeStoredEpochMetrics(parsed) as unknown as Record<string, unknown>;
  // Most entries hold only finite numbers: they are returned as parsed, without a copy. Else the
  // finite numbers are copied in the same order (what Object.fromEntries of the filtered entries
  // gave: an own "__proto__" key stays an own key).
  const keys = Object.keys(fields);
  let numbers: Record<string, unknown> = fields;
  for (let i = 0; i < keys.length; i++) {
    const value = fields[keys[i]];
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      numbers = finiteNumbers(fields, keys);
      break;
    }
  }
  for (let i = 0; i < REQUIRED.length; i++) if (!(REQUIRED[i] in numbers)) return undefined;
  return numbers as unknown as EpochMetrics;
}

function finiteNumbers(fields: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  const numbers: Record<string, unknown> = {};
  for (const key of keys) {
    const value = fields[key];
    if (typeof value !== 'number' || !Number.isFinite(value)) continue;
    if (key === '__proto__') {
      Object.defineProperty(numbers, key, { value, enumerable: true, writable: true, configurable: true });
    } else numbers[key] = value;
  }
  return numbers;
}

export function readStoredMetrics(raw: string[]): EpochMetrics[] {
  const metrics: EpochMetrics[] = [];
  for (const entry of raw) {
    const epoch = readStoredEpoch(entry);
    if (epoch !== undefined) metrics.push(epoch);
  }
  return metrics;
}

/**
 * Entries per block of readStoredMetricsInSlices: about 2–6 ms of reading on the 2-core machine
 * (10,000 entries read in 115–320 ms at load 9). A list of at most this many is read in one piece.
 */
export const METRICS_BLOCK = 500;

/**
 * Exactly `readStoredMetrics(raw)`, METRICS_BLOCK entries at a time with a turn of the event loop
 * (setImmediate: other sockets are read and answered) between blocks, so that a job of 10,000
 * epochs does not hold the API's event loop for the whole read. A list of one block is read
 * without a pause.
 */
export async function readStoredMetricsInSlices(raw: string[]): Promise<EpochMetrics[]> {
  const metrics: EpochMetrics[] = [];
  await forEachBlock(raw.length, METRICS_BLOCK, (from, to) => {
    for (const epoch of readStoredMetrics(raw.slice(from, to))) metrics.push(epoch);
  });
  return metrics;
}
