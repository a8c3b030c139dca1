import type { ChunkedTable } from '../data/chunked-table';
import { ColumnProfiler } from '../data/column-profile';
import {
  encodeFeatures,
  encodeTargets,
  PreprocessingFit,
  rowsWithTarget,
  type Preprocessing,
} from '../data/preprocessing';
import { columnValues } from '../data/table';
import { invalid } from '../errors';
import type { ChunkedFeatures } from '../ml/trainer';
import { Rng } from '../random';
import type { TrainingRequest } from '../schemas/training-request.schema';
import {
  checkClassCount,
  checkTrainingRows,
  runTraining,
  splitRows,
  type Split,
  type TrainingHooks,
  type TrainingOutcome,
} from './train-from-request';

/** Encoded chunks a training process keeps resident by default (TRAINING_RESIDENT_CHUNKS). */
export const DEFAULT_RESIDENT_CHUNKS = 2;

/**
 * A training run on a dataset read a chunk at a time, never whole (README, "Training from
 * chunks"). Positions are into the dataset's rows with a target, in stored order; chunk c's
 * positions are consecutive.
 *
 * - Split: each chunk's rows with a target are split as trainFromRequest splits a table
 *   (splitRows: test rows, then validation rows, stratified by class), chunk after chunk from one
 *   seeded stream. With one chunk this is trainFromRequest's split, draw for draw.
 * - Preprocessing: fitted on the training rows in two passes (PreprocessingFit), equal to
 *   fitPreprocessing on the whole table with the same rows.
 * - Epochs: the chunk order is shuffled, then each chunk's training rows (epochOrder in
 *   ml/trainer.ts); at most `residentChunks` encoded chunks are kept (least recently used out).
 * - Kept whole: the encoded targets, the split's positions and the epoch's order (4 bytes a row
 *   each), and the validation rows' encoded features.
 */
export async function trainFromChunks(
  request: TrainingRequest,
  dataset: ChunkedTable,
  seed: number,
  hooks: Omit<TrainingHooks, 'split'> = {},
  options: { residentChunks?: number } = {},
): Promise<{ outcome: TrainingOutcome; chunks: ChunkCache }> {
  const rng = new Rng(seed);
  const type = dataset.columns.find((c) => c.name === request.target)?.type;
  const profiler = new ColumnProfiler(type ?? 'numeric');
  const starts = new Int32Array(dataset.chunkCount + 1);
  const parts: Split[] = [];
  let fit: PreprocessingFit | undefined;
  for (let c = 0; c < dataset.chunkCount; c++) {
    const table = await dataset.chunk(c);
    const rows = rowsWithTarget(table, request.target);
    if (c === 0) fit = new PreprocessingFit(table, request.target, request.task, request.features.drop);
    profiler.add(columnValues(table, request.target));
    starts[c + 1] = starts[c] + rows.length;
    // A chunk without a target draws nothing; a dataset without any fails as a table would.
    if (rows.length > 0) parts.push(offsetSplit(splitRows(request, table, rows, rng), starts[c]));
    else parts.push({ train: new Int32Array(0), validation: new Int32Array(0), test: new Int32Array(0) });
  }
  const total = starts[dataset.chunkCount];
  if (total === 0 || !fit) {
    throw invalid('INVALID_TRAINING_REQUEST', `there are ${total} rows with a target; at least 1 is needed to train`);
  }
  const split: Split = {
    train: concat(parts.map((p) => p.train)),
    validation: concat(parts.map((p) => p.validation)),
    test: concat(parts.map((p) => p.test)),
  };
  checkTrainingRows(request, split);
  // The chunk's training rows, as row indices into its table.
  const trainRowsOf = (c: number, rows: Int32Array) => parts[c].train.map((p) => rows[p - starts[c]]);
  for (const pass of ['sums', 'deviations'] as const) {
    for (let c = 0; c < dataset.chunkCount; c++) {
      const table = await dataset.chunk(c);
      const local = trainRowsOf(c, rowsWithTarget(table, request.target));
      if (pass === 'sums') fit.addSums(table, local);
      else fit.addDeviations(table, local);
    }
  }
  const preprocessing = fit.finish();
  checkClassCount(request, preprocessing);
  const y = new Float32Array(total);
  for (let c = 0; c < dataset.chunkCount; c++) {
    const table = await dataset.chunk(c);
    y.set(encodeTargets(preprocessing, table, rowsWithTarget(table, request.target)), starts[c]);
  }
  const chunks = new ChunkCache(dataset, request.target, preprocessing, starts, options.residentChunks);
  const outcome = await runTraining(request, seed, hooks, rng, {
    preprocessing,
    y,
    split,
    targetProfile: profiler.profile(),
    data: { x: new Float32Array(0), chunks },
    heldOut: async (trainer) => {
      // The held-out rows only, renumbered: validation rows first, then test rows.
      const v = split.validation.length;
      const x = new Float32Array((v + split.test.length) * preprocessing.inputSize);
      x.set(await trainer.gatherX(split.validation));
      x.set(await trainer.gatherX(split.test), v * preprocessing.inputSize);
      const heldY = new Float32Array(v + split.test.length);
      split.validation.forEach((p, i) => (heldY[i] = y[p]));
      split.test.forEach((p, i) => (heldY[v + i] = y[p]));
      return {
        x,
        y: heldY,
        validation: Int32Array.from({ length: v }, (_, i) => i),
        test: Int32Array.from({ length: split.test.length }, (_, i) => v + i),
      };
    },
  });
  return { outcome, chunks };
}

/**
 * The encoded feature rows of a chunked dataset for the trainer: chunk c read, its rows with a
 * target encoded, and kept while it is among the `capacity` most recently used. The oldest is
 * dropped before a new one is read, so at most `capacity` encoded chunks are resident, and one
 * chunk's decoded table while it is encoded.
 */
export class ChunkCache implements ChunkedFeatures {
  private readonly resident = new Map<number, Float32Array>();
  /** Chunks read so far, and the most that were resident at once (for tests and the bench). */
  loads = 0;
  peakResident = 0;

  constructor(
    private readonly dataset: ChunkedTable,
    private readonly target: string,
    private readonly preprocessing: Preprocessing,
    readonly starts: Int32Array,
    readonly capacity = DEFAULT_RESIDENT_CHUNKS,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new Error(`residentChunks must be at least 1, got ${capacity}`);
  }

  async load(chunk: number): Promise<Float32Array> {
    const kept = this.resident.get(chunk);
    if (kept) {
      // Most recently used last: a Map iterates in insertion order.
      this.resident.delete(chunk);
      this.resident.set(chunk, kept);
      return kept;
    }
    while (this.resident.size >= this.capacity) this.resident.delete(this.resident.keys().next().value!);
    const table = await this.dataset.chunk(chunk);
    const features = encodeFeatures(this.preprocessing, table, rowsWithTarget(table, this.target));
    this.loads++;
    this.resident.set(chunk, features);
    this.peakResident = Math.max(this.peakResident, this.resident.size);
    return features;
  }
}

function offsetSplit(split: Split, offset: number): Split {
  const shift = (positions: Int32Array) => positions.map((p) => p + offset);
  return { train: shift(split.train), validation: shift(split.validation), test: shift(split.test) };
}

function concat(parts: Int32Array[]): Int32Array {
  const out = new Int32Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
