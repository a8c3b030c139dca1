export interface MicroBatcherOptions {
  /**
   * How long the first request of a batch waits for others to join it, in ms:
   * - null (the default): no batching, every request runs at once on its own;
   * - 0: no timer; the batch takes the requests that arrived in the same turn of the event loop
   *   (under load, the many sockets read in one poll) and runs right after them (setImmediate),
   *   so a lone request is not delayed at all;
   * - more: the first request waits that long (a timer) for others.
   */
  waitMs?: number | null;
  /** A batch runs as soon as it holds this many rows, without waiting further. Default 256. */
  maxRows?: number;
}

/** Runs `rows` rows (row-major in `x`) and returns their outputs, row-major. */
export type BatchRunner = (x: Float32Array, rows: number) => Float32Array;

interface Pending {
  x: Float32Array;
  rows: number;
  resolve: (output: Float32Array) => void;
  reject: (error: unknown) => void;
}

/**
 * Micro-batching of concurrent requests to one model: the first request of a batch waits up to
 * `waitMs` for others, then all of them run as one call and each gets its own rows back. This
 * pays off where one call of many rows costs much less than many calls of one row (tf's matMul
 * on the wasm backend); it is only correct because a frozen model computes every row
 * independently of the others.
 */
export class MicroBatcher {
  readonly waitMs: number | null;
  readonly maxRows: number;
  private pending: Pending[] = [];
  private pendingRows = 0;
  private scheduled: { cancel(): void } | undefined;

  constructor(
    private readonly runner: BatchRunner,
    readonly inputSize: number,
    readonly outputSize: number,
    options: MicroBatcherOptions = {},
  ) {
    this.waitMs = options.waitMs ?? null;
    this.maxRows = options.maxRows ?? 256;
    if (this.waitMs !== null && !(Number.isFinite(this.waitMs) && this.waitMs >= 0)) {
      throw new Error(`Expected waitMs >= 0, received ${options.waitMs}`);
    }
    if (!(Number.isInteger(this.maxRows) && this.maxRows >= 1)) {
      throw new Error(`Expected maxRows to be a positive integer, received ${options.maxRows}`);
    }
  }

  run(x: Float32Array, rows: number): Promise<Float32Array> {
    // Off, or a request that fills a batch by itself: no reason to wait.
    if (this.waitMs === null || rows >= this.maxRows) {
      try {
        return Promise.resolve(this.runner(x, rows));
      } catch (error) {
        return Promise.reject(error instanceof Error ? error : new Error(String(error)));
      }
    }
    return new Promise((resolve, reject) => {
      this.pending.push({ x, rows, resolve, reject });
      this.pendingRows += rows;
      if (this.pendingRows >= this.maxRows) this.flush();
      else this.scheduled ??= this.schedule();
    });
  }

  private schedule(): { cancel(): void } {
    if (this.waitMs === 0) {
      const immediate = setImmediate(() => this.flush());
      return { cancel: () => clearImmediate(immediate) };
    }
    const timer = setTimeout(() => this.flush(), this.waitMs!);
    return { cancel: () => clearTimeout(timer) };
  }

  /** Runs everything pending now. */
  flush(): void {
    this.scheduled?.cancel();
    this.scheduled = undefined;
    const batch = this.pending;
    const rows = this.pendingRows;
    this.pending = [];
    this.pendingRows = 0;
    if (batch.length === 0) return;
    if (batch.length === 1) {
      settle(batch[0], () => this.runner(batch[0].x, batch[0].rows));
      return;
    }
    let output: Float32Array;
    try {
      const x = new Float32Array(rows * this.inputSize);
      let at = 0;
      for (const p of batch) {
        x.set(p.x, at);
        at += p.x.length;
      }
      output = this.runner(x, rows);
    } catch (error) {
      for (const p of batch) p.reject(error);
      return;
    }
    let row = 0;
    for (const p of batch) {
      p.resolve(output.slice(row * this.outputSize, (row + p.rows) * this.outputSize));
      row += p.rows;
    }
  }
}

function settle(p: Pending, run: () => Float32Array): void {
  try {
    p.resolve(run());
  } catch (error) {
    p.reject(error);
  }
}
