import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MicroBatcher } from '../../src/serving/micro-batcher';

/** A runner with 2 inputs and 2 outputs per row: (a, b) → (a + b, a − b), recording each call's rows. */
function recorder() {
  const calls: number[] = [];
  const run = (x: Float32Array, rows: number) => {
    calls.push(rows);
    const out = new Float32Array(rows * 2);
    for (let r = 0; r < rows; r++) {
      out[2 * r] = x[2 * r] + x[2 * r + 1];
      out[2 * r + 1] = x[2 * r] - x[2 * r + 1];
    }
    return out;
  };
  return { calls, run };
}

const row = (a: number, b: number) => Float32Array.of(a, b);

describe('MicroBatcher', () => {
  test('off (waitMs null): every request runs at once, alone', async () => {
    const { calls, run } = recorder();
    const batcher = new MicroBatcher(run, 2, 2, { waitMs: null });
    const results = await Promise.all([batcher.run(row(1, 2), 1), batcher.run(row(5, 1), 1)]);
    assert.deepEqual(calls, [1, 1]);
    assert.deepEqual(
      results.map((r) => Array.from(r)),
      [
        [3, -1],
        [6, 4],
      ],
    );
  });

  test('waitMs 0: requests made in the same turn share one run, and each gets its own rows', async () => {
    const { calls, run } = recorder();
    const batcher = new MicroBatcher(run, 2, 2, { waitMs: 0 });
    const results = await Promise.all([
      batcher.run(row(1, 2), 1),
      batcher.run(Float32Array.of(3, 3, 4, 1), 2),
      batcher.run(row(0, -2), 1),
    ]);
    assert.deepEqual(calls, [4]);
    assert.deepEqual(
      results.map((r) => Array.from(r)),
      [
        [3, -1],
        [6, 0, 5, 3],
        [-2, 2],
      ],
    );
    // A later request starts a new batch.
    assert.deepEqual(Array.from(await batcher.run(row(2, 2), 1)), [4, 0]);
    assert.deepEqual(calls, [4, 1]);
  });

  test('waitMs > 0: a request arriving during the wait joins the batch', async () => {
    const { calls, run } = recorder();
    const batcher = new MicroBatcher(run, 2, 2, { waitMs: 20 });
    const first = batcher.run(row(1, 1), 1);
    // Joins after a macrotask, well within the 20 ms wait (no timing assumption beyond that).
    await new Promise((resolve) => setImmediate(resolve));
    const second = batcher.run(row(2, 1), 1);
    assert.deepEqual(
      (await Promise.all([first, second])).map((r) => Array.from(r)),
      [
        [2, 0],
        [3, 1],
      ],
    );
    assert.deepEqual(calls, [2]);
  });

  test('a batch runs as soon as it reaches maxRows; a request of maxRows rows never waits', async () => {
    const { calls, run } = recorder();
    const batcher = new MicroBatcher(run, 2, 2, { waitMs: 50, maxRows: 3 });
    const a = batcher.run(row(1, 0), 1);
    const b = batcher.run(Float32Array.of(2, 0, 3, 0), 2);
    assert.deepEqual(calls, [3], 'ran synchronously on reaching 3 rows');
    const big = batcher.run(Float32Array.of(1, 1, 1, 1, 1, 1), 3);
    assert.deepEqual(calls, [3, 3]);
    await Promise.all([a, b, big]);
  });

  test('a failing run rejects every request of its batch; the next batch runs normally', async () => {
    let fail = true;
    const batcher = new MicroBatcher(
      (x, rows) => {
        if (fail) throw new Error('boom');
        return x.slice(0, rows * 2);
      },
      2,
      2,
      { waitMs: 0 },
    );
    const results = await Promise.allSettled([batcher.run(row(1, 2), 1), batcher.run(row(3, 4), 1)]);
    assert.deepEqual(
      results.map((r) => r.status),
      ['rejected', 'rejected'],
    );
    fail = false;
    assert.deepEqual(Array.from(await batcher.run(row(3, 4), 1)), [3, 4]);
  });

  test('options are validated', () => {
    const { run } = recorder();
    assert.throws(() => new MicroBatcher(run, 2, 2, { waitMs: -1 }), /Expected waitMs >= 0, received -1/);
    assert.throws(
      () => new MicroBatcher(run, 2, 2, { maxRows: 0 }),
      /Expected maxRows to be a positive integer, received 0/,
    );
  });
});
