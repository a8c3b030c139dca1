/**
 * Large predict requests are computed a block of rows at a time, with a turn of the event loop
 * between blocks (setImmediate: other sockets are read and answered in between), so that no
 * request holds the API's event loop for long: a 10,000-row predict of a small classifier ran
 * its encoding, network, decoding and serialization as one synchronous slice of 25–120 ms (by
 * the machine's load), during which every other request (health checks and one-row predicts
 * included) waited. Every block is computed exactly as the whole would be (each row is computed
 * on its own; the network's kernel is chosen once for the whole request), so the answer is
 * byte-for-byte the same.
 * A request of at most MIN_BLOCK_ROWS rows is never cut: it runs in one piece, as before.
 */

/** Requests of up to this many rows run in one piece, without yielding. */
export const MIN_BLOCK_ROWS = 256;
/** The most rows of a block. */
export const MAX_BLOCK_ROWS = 2048;
/**
 * Multiply-adds of the network per block: about 3–6 ms on the wasm backend (2-core AMD EPYC,
 * tf path: 10,000 rows of a 4 → 256 → 256 → 2 network, 67,072 per row, in 250 ms). A model's
 * block is this many multiply-adds of rows, within MIN_BLOCK_ROWS..MAX_BLOCK_ROWS.
 */
export const BLOCK_WORK = 8_000_000;
/** Numbers per piece of a sliced answer's JSON (about 1–2 ms of JSON.stringify). */
export const PIECE_VALUES = 16_384;

/** Rows per block for a network of `workPerRow` multiply-adds per row. */
export function blockRows(workPerRow: number): number {
  const rows = workPerRow > 0 ? Math.floor(BLOCK_WORK / workPerRow) : MAX_BLOCK_ROWS;
  return Math.min(MAX_BLOCK_ROWS, Math.max(MIN_BLOCK_ROWS, rows));
}
