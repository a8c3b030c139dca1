import type { ChunkedTable } from '../data/chunked-table';
import { ColumnProfiler } from '../data/column-profile';
import {
  classLabel,
  encodeFeatures,
  PreprocessingFit,
  rowsWithTarget,
  targetClassAbsentError,
  type Preprocessing,
} from '../data/preprocessing';
import { viewColumn, type CellValue } from '../data/table';
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
  const { preprocessing, y, split, starts, targetProfile } = await readSetup(request, dataset, rng);
  const chunks = new ChunkCache(dataset, request.target, preprocessing, starts, options.residentChunks);
  const outcome = await runTraining(request, seed, hooks, rng, {
    preprocessing,
    y,
    split,
    targetProfile,
    data: { x: new Float32Array(0), chunks },
    heldOut: async (trainer) => {
      // The held-out rows only, renumbered: validation rows first, then test rows.
      const v = split.validation.length;
      const x = new Float32Array((v + split.test.length) * preprocessing.inputSize);
      // The trainer's resident validation features, not a second gathering of them.
      x.set(await trainer.validationX());
      chunks.readAhead(split.test);
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
 * The two reads of the setup: the split, the preprocessing and the encoded targets, and the chunks'
 * first positions. A function of its own so that what only the setup needs (each chunk's split,
 * the targets' raw values) is garbage once it returns rather than kept through the training.
 */
async function readSetup(request: TrainingRequest, dataset: ChunkedTable, rng: Rng) {
  const type = dataset.columns.find((c) => c.name === request.target)?.type;
  const profiler = new ColumnProfiler(type ?? 'numeric');
  const starts = new Int32Array(dataset.chunkCount + 1);
  const parts: Split[] = [];
  const targets = new TargetValues(request.task);
  let fit: PreprocessingFit | undefined;
  // Read 1: the split, the first pass of the preprocessing's sums (the chunk's training rows are
  // known as soon as it is split) and the targets' raw values.
  for (let c = 0; c < dataset.chunkCount; c++) {
    const table = await dataset.chunk(c);
    const rows = rowsWithTarget(table, request.target);
    if (c === 0) fit = new PreprocessingFit(table, request.target, request.task, request.features.drop);
    const target = viewColumn(table, request.target);
    profiler.add(target);
    targets.add(target, rows);
    starts[c + 1] = starts[c] + rows.length;
    // A chunk without a target draws nothing; a dataset without any fails as a table would.
    const part =
      rows.length > 0
        ? splitRows(request, table, rows, rng)
        : { train: new Int32Array(0), validation: new Int32Array(0), test: new Int32Array(0) };
    parts.push(offsetSplit(part, starts[c]));
    fit!.addSums(
      table,
      part.train.map((p) => rows[p]),
    );
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
  // Read 2: the squared deviations from the means, which need every chunk's sums first.
  for (let c = 0; c < dataset.chunkCount; c++) {
    const table = await dataset.chunk(c);
    const rows = rowsWithTarget(table, request.target);
    fit.addDeviations(
      table,
      parts[c].train.map((p) => rows[p - starts[c]]),
    );
  }
  const preprocessing = fit.finish();
  checkClassCount(request, preprocessing);
  const y = targets.encode(preprocessing);
  return { preprocessing, y, split, starts, targetProfile: profiler.profile() };
}

/**
 * The encoded feature rows of a chunked dataset for the trainer: chunk c read, its rows with a
 * target encoded, and kept while it is among the `capacity` most recently used. The oldest is
 * dropped before a chunk read is made resident, so at most `capacity` encoded chunks are resident.
 *
 * Read-ahead: given the order of the positions the trainer is about to gather (`readAhead`: an
 * epoch's order, a metrics pass's rows), the chunk expected after the one being loaded is read
 * and encoded meanwhile (its Redis read overlaps the training of the current chunk), at most one
 * at a time. So besides the resident chunks there is at most one encoded chunk read ahead and one
 * chunk's decoded table while it is encoded. The rows, and so the run, are the same with or
 * without it; a read-ahead that fails fails the load that wanted it, as a read of its own would.
 *
 * The array of the chunk evicted last is kept as a spare and the next read encodes into it (a
 * full chunk's rows fill it exactly) instead of allocating 7–10 MB a read, which drove V8's
 * collections. So a chunk's array is valid until the next `load` evicts it: callers copy its rows
 * out at once (the trainer's gatherX does).
 */
export class ChunkCache implements ChunkedFeatures {
  private readonly resident = new Map<number, Float32Array>();
  /** following[c]: the chunk expected after chunk c in the last order given, or −1 (used once). */
  private following = new Int32Array(0);
  private ahead?: { chunk: number; features: Promise<Float32Array> };
  /** The last evicted chunk's array, encoded into by the next read rather than a new one. */
  private spare?: Float32Array;
  /** Chunks read so far (read-aheads included), and the most that were resident at once (for tests and the bench). */
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
    let features = this.resident.get(chunk);
    if (features) {
      // Most recently used last: a Map iterates in insertion order.
      this.resident.delete(chunk);
      this.resident.set(chunk, features);
    } else {
      const ahead = this.ahead?.chunk === chunk ? this.ahead : undefined;
      if (ahead) this.ahead = undefined;
      // Started before the eviction (a read-ahead), or read now; resident once encoded.
      const reading = ahead ? ahead.features : this.read(chunk);
      this.evict();
      features = await reading;
      this.evict();
      this.resident.set(chunk, features);
      this.peakResident = Math.max(this.peakResident, this.resident.size);
    }
    const next = chunk < this.following.length ? this.following[chunk] : -1;
    if (next >= 0) {
      this.following[chunk] = -1;
      this.prefetch(next);
    }
    return features;
  }

  /** Drops least recently used chunks until there is room for one more; the last becomes the spare. */
  private evict(): void {
    while (this.resident.size >= this.capacity) {
      const oldest = this.resident.keys().next().value!;
      this.spare = this.resident.get(oldest);
      this.resident.delete(oldest);
    }
  }

  /** See the class: the chunk order of `positions`, each chunk's successor read ahead once. */
  readAhead(positions: Int32Array): void {
    const chunkCount = this.starts.length - 1;
    const following = new Int32Array(chunkCount).fill(-1);
    let previous = -1;
    let first = -1;
    for (let i = 0; i < positions.length;) {
      const c = chunkOf(this.starts, positions[i]);
      if (previous < 0) first = c;
      else if (following[previous] < 0) following[previous] = c;
      const begin = this.starts[c];
      const end = this.starts[c + 1];
      while (i < positions.length && positions[i] >= begin && positions[i] < end) i++;
      previous = c;
    }
    this.following = following;
    if (first >= 0) this.prefetch(first);
  }

  private prefetch(chunk: number): void {
    if (this.resident.has(chunk) || this.ahead?.chunk === chunk) return;
    const features = this.read(chunk);
    // Awaited by the load that wants it; a read-ahead nobody loads must not be an unhandled rejection.
    features.catch(() => undefined);
    this.ahead = { chunk, features };
  }

  private async read(chunk: number): Promise<Float32Array> {
    this.loads++;
    const table = await this.dataset.chunk(chunk);
    const spare = this.spare;
    this.spare = undefined;
    return encodeFeatures(this.preprocessing, table, rowsWithTarget(table, this.target), spare);
  }
}

/** The chunk holding `position`: the last c with starts[c] ≤ position. */
function chunkOf(starts: Int32Array, position: number): number {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if (starts[mid] <= position) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/**
 * The targets of the rows with one, kept from the first read so that encoding them needs no
 * read of their own (the encoding is known only once every chunk has been read): regression's
 * values as float64 (8 bytes a row, the cells exactly), classification's labels as an index
 * into the labels seen (4 bytes a row). `encode` gives exactly what `encodeTargets` gives on the
 * same rows, its error on a class absent from the training rows included.
 */
class TargetValues {
  private readonly values: Float64Array[] = [];
  private readonly labelIds: Int32Array[] = [];
  private readonly labels = new Map<number | string, number>();
  /** Per label id: the first row with it (its chunk-local row) and its cell as stored. */
  private readonly first: { row: number; value: CellValue }[] = [];
  private count = 0;

  constructor(private readonly task: TrainingRequest['task']) {}

  add(target: ArrayLike<CellValue>, rows: Int32Array): void {
    if (this.task === 'regression') {
      this.values.push(Float64Array.from(rows, (row) => Number(target[row])));
    } else {
      const ids = new Int32Array(rows.length);
      for (let i = 0; i < rows.length; i++) {
        const value = target[rows[i]]!;
        const label = classLabel(value);
        let id = this.labels.get(label);
        if (id === undefined) {
          id = this.labels.size;
          this.labels.set(label, id);
          this.first.push({ row: rows[i], value });
        }
        ids[i] = id;
      }
      this.labelIds.push(ids);
    }
    this.count += rows.length;
  }

  encode(preprocessing: Preprocessing): Float32Array {
    const { target } = preprocessing;
    const y = new Float32Array(this.count);
    let offset = 0;
    if (target.task === 'regression') {
      for (const part of this.values) {
        for (let i = 0; i < part.length; i++) y[offset + i] = (part[i] - target.mean) / target.std;
        offset += part.length;
      }
      return y;
    }
    const classIndex = new Map(target.classes.map((c, index) => [c, index]));
    const indexOf = Int32Array.from(this.labels.keys(), (label) => classIndex.get(label) ?? -1);
    // encodeTargets stops at the first row whose class is absent: the earliest first row of one
    // (label ids are numbered in order of first appearance).
    const absent = this.first.find((_, id) => indexOf[id] < 0);
    if (absent) throw targetClassAbsentError(absent.row, absent.value, target.classes);
    for (const part of this.labelIds) {
      for (let i = 0; i < part.length; i++) y[offset + i] = indexOf[part[i]];
      offset += part.length;
    }
    return y;
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
