import type { StoredModel } from '../store/model-store';
import { FrozenExecutor } from './frozen-executor';
import { InputEncoder } from './input-encoder';
import { MicroBatcher } from './micro-batcher';
import { yieldToEventLoop } from '../data/slices';
import { blockRows } from './slices';

export interface ServingOptions {
  /** Micro-batching wait in ms (PREDICT_BATCH_WAIT_MS; see MicroBatcherOptions); null: off. */
  batchWaitMs?: number | null;
  /** A batch runs at once when it holds this many rows. Default 256. */
  batchMaxRows?: number;
  /** Runs of at least this many multiply-adds go to tf (see DEFAULT_TF_MIN_WORK). */
  tfMinWork?: number;
}

/** A model ready to serve: the stored model, its input encoder, executor and batcher. */
export interface ServedModel extends StoredModel {
  readonly encoder: InputEncoder;
  /** Runs the frozen network on `rows` encoded rows; concurrent calls may share one batch. */
  infer(x: Float32Array, rows: number): Promise<Float32Array>;
  /** Rows per block of a large request (see slices.ts). */
  readonly blockRows: number;
  /**
   * As `infer` (without batching: a large request fills a batch by itself), `blockRows` rows at
   * a time with a turn of the event loop between blocks; the same output.
   */
  inferInBlocks(x: Float32Array, rows: number): Promise<Float32Array>;
  /** Estimated bytes this model holds in memory (see `estimateModelBytes`). */
  readonly bytes: number;
  /** Frees what tf holds for it; calls after this still work, more slowly. */
  dispose(): void;
}

/**
 * Per cached model, for the objects around the arrays (cache entry, encoder maps, closures, the
 * batcher) and the heap slack they cause: 16 KiB, from the measured growth of the API's resident
 * memory with 100 small models (test/serving/api-memory.test.ts).
 */
const FIXED_OVERHEAD_BYTES = 16 * 1024;
/** Parsed JSON takes more memory than its text: objects, arrays and numbers are boxed. */
const META_HEAP_FACTOR = 3;

/**
 * Bytes a served model may hold: the executor's most (weights, their copy in tf's memory, kept
 * scratch buffers), its metadata (spec, preprocessing with category lists, metrics) at 3× its
 * JSON length, and a fixed 16 KiB. An estimate used to bound the model cache (MODEL_CACHE_BYTES);
 * test/serving/api-memory.test.ts checks it against the API process's resident memory.
 */
export function estimateModelBytes(stored: StoredModel, executor: FrozenExecutor): number {
  return executor.maxBytes + JSON.stringify(stored.meta).length * META_HEAP_FACTOR + FIXED_OVERHEAD_BYTES;
}

export function serveModel(stored: StoredModel, options: ServingOptions = {}): ServedModel {
  const executor = new FrozenExecutor(stored.frozen, { tfMinWork: options.tfMinWork });
  const batcher = new MicroBatcher(
    (x, rows) => executor.run(x, rows),
    stored.frozen.inputSize,
    stored.frozen.outputSize,
    {
      waitMs: options.batchWaitMs,
      maxRows: options.batchMaxRows,
    },
  );
  const rowsPerBlock = blockRows(executor.workPerRow);
  return {
    meta: stored.meta,
    frozen: stored.frozen,
    encoder: new InputEncoder(stored.meta.preprocessing),
    bytes: estimateModelBytes(stored, executor),
    infer: (x, rows) => batcher.run(x, rows),
    blockRows: rowsPerBlock,
    inferInBlocks: (x, rows) => executor.runInBlocks(x, rows, rowsPerBlock, yieldToEventLoop),
    dispose: () => executor.dispose(),
  };
}
