import type { Redis } from 'ioredis';
import { z } from 'zod';
import { foldOutcomeSchema } from '../training/cross-validate';
import { foldsKey } from './keys';

/**
 * The record of one fold of a cross-validated job, written once by the fold job that trained it
 * (FencedJobState.recordFold: HSETNX under the fold number, fenced by that attempt's lock) and
 * read by the parent when every fold has one. A fold job that finds its record already there
 * (an earlier attempt recorded it and died before BullMQ saw the completion) trains nothing and
 * writes nothing, so each fold counts exactly once, whichever worker ran it.
 */
export const foldRecordSchema = z.object({
  outcome: foldOutcomeSchema,
  /** Who trained it: the worker process (the sandbox's parent), the sandbox itself, the host. */
  ranBy: z.object({ workerPid: z.number().int(), sandboxPid: z.number().int(), host: z.string() }),
  /** The fold job's attempt that recorded it (1-based), and when. */
  attempt: z.number().int(),
  recordedAt: z.string(),
});
export type FoldRecord = z.infer<typeof foldRecordSchema>;

/** The job's fold records by fold number (1-based), parsed with the schema. */
export async function readFoldRecords(redis: Redis, prefix: string, jobId: string): Promise<Map<number, FoldRecord>> {
  const raw = await redis.hgetall(foldsKey(prefix, jobId));
  return new Map(Object.entries(raw).map(([fold, value]) => [Number(fold), foldRecordSchema.parse(JSON.parse(value))]));
}
