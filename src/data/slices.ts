/**
 * Long work done in slices, so that one request does not hold the event loop. `yieldToEventLoop`
 * is the one turn every sliced path takes (uploads here, large predicts in src/serving/slices.ts,
 * long metric lists in src/training/stored-metrics.ts). The upload path (parsing, chunk
 * checksums) looks at a SliceClock between pieces of work and lets the loop run timers, I/O and
 * other requests once SLICE_MS have passed since its last turn. Issue 15's bound
 * is 50 ms of delay from any request; a slice is a fifth of it, so a loaded machine has room.
 */
export const SLICE_MS = 10;

/** A turn of the event loop: timers, I/O and other requests run before the caller goes on. */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Tells when SLICE_MS of synchronous work has been done since the last turn of the loop that a
 * SliceClock gave. One for the process (`sliceClock`): every slicing caller runs on the same
 * thread, so the time since the last turn is one figure whoever did the work (the parsing of
 * an upload and the checksums of its chunks, or two uploads at once).
 */
export class SliceClock {
  private since = performance.now();

  /** Resolves at once within a slice; after a turn of the event loop once the slice is used up. */
  async check(): Promise<void> {
    if (performance.now() - this.since < SLICE_MS) return;
    await yieldToEventLoop();
    this.since = performance.now();
  }
}

export const sliceClock = new SliceClock();

/**
 * Calls `each(from, to)` for the consecutive blocks of `size` in [0, total), with a turn of the
 * event loop between blocks (none before the first: work of one block runs without a pause).
 * Stops early when `each` returns false (any other result goes on), and then resolves false.
 */
export async function forEachBlock(
  total: number,
  size: number,
  each: (from: number, to: number) => unknown,
): Promise<boolean> {
  for (let from = 0; from < total; from += size) {
    if (from > 0) await yieldToEventLoop();
    if (each(from, Math.min(total, from + size)) === false) return false;
  }
  return true;
}

/** Bytes a checksum or hash takes in one piece (about a millisecond of work). */
export const HASH_SLICE_BYTES = 1 << 20;

/** Hands `bytes` to `take` a HASH_SLICE_BYTES piece at a time, looking at `sliceClock` between pieces. */
export async function inSlices(bytes: Uint8Array, take: (piece: Uint8Array) => void): Promise<void> {
  for (let offset = 0; offset < bytes.length; offset += HASH_SLICE_BYTES) {
    take(bytes.subarray(offset, offset + HASH_SLICE_BYTES));
    if (offset + HASH_SLICE_BYTES < bytes.length) await sliceClock.check();
  }
}
