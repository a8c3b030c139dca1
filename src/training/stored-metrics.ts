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
  const numbers = Object.fromEntries(
    Object.entries(upgradeStoredEpochMetrics(parsed)).filter(
      ([, value]) => typeof value === 'number' && Number.isFinite(value),
    ),
  );
  return REQUIRED.every((name) => name in numbers) ? (numbers as unknown as EpochMetrics) : undefined;
}

export function readStoredMetrics(raw: string[]): EpochMetrics[] {
  return raw.map(readStoredEpoch).filter((epoch): epoch is EpochMetrics => epoch !== undefined);
}
