import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { AppError } from '../../src/errors';
import { Rng } from '../../src/random';
import { splitTrainValidation } from '../../src/data/split';

function plain(split: { train: Int32Array; validation: Int32Array }): { train: number[]; validation: number[] } {
  return { train: Array.from(split.train), validation: Array.from(split.validation) };
}

/** How many validation rows each label got. */
function validationCounts(labels: string[], validation: Int32Array): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const row of validation) counts[labels[row]] = (counts[labels[row]] ?? 0) + 1;
  return counts;
}

function assertPartition(n: number, split: { train: Int32Array; validation: Int32Array }): void {
  const all = [...split.train, ...split.validation].sort((a, b) => a - b);
  assert.deepEqual(
    all,
    Array.from({ length: n }, (_, i) => i),
  );
  assert.deepEqual(
    Array.from(split.train),
    [...split.train].sort((a, b) => a - b),
  );
  assert.deepEqual(
    Array.from(split.validation),
    [...split.validation].sort((a, b) => a - b),
  );
}

describe('splitTrainValidation by count', () => {
  test('holds out round(n · split) rows, disjoint and ascending', () => {
    const split = splitTrainValidation(10, 0.2, new Rng(42));
    assertPartition(10, split);
    assert.equal(split.validation.length, 2);
  });

  test('is deterministic for a seed', () => {
    // Pinned, so a change in how the split consumes the RNG (which would change every saved
    // model's split for the same seed) shows up here.
    assert.deepEqual(plain(splitTrainValidation(10, 0.2, new Rng(42))), {
      train: [0, 1, 2, 3, 4, 5, 8, 9],
      validation: [6, 7],
    });
    assert.deepEqual(
      plain(splitTrainValidation(10, 0.2, new Rng(42))),
      plain(splitTrainValidation(10, 0.2, new Rng(42))),
    );
    assert.deepEqual(plain(splitTrainValidation(10, 0.2, new Rng(7))).validation, [4, 9]);
  });

  test('split 0 holds out nothing', () => {
    assert.deepEqual(plain(splitTrainValidation(4, 0, new Rng(1))), { train: [0, 1, 2, 3], validation: [] });
  });

  test('holds out at least 1 row when split > 0, and never empties train', () => {
    assert.equal(splitTrainValidation(3, 0.1, new Rng(1)).validation.length, 1); // round(0.3) = 0 → 1
    assert.equal(splitTrainValidation(2, 0.9, new Rng(1)).train.length, 1); // round(1.8) = 2 → 1
    assert.deepEqual(plain(splitTrainValidation(1, 0.5, new Rng(1))), { train: [0], validation: [] });
  });

  test('rejects a bad split or no rows', () => {
    for (const bad of [1, -0.1, Number.NaN]) {
      assert.throws(
        () => splitTrainValidation(10, bad, new Rng(1)),
        (error: unknown) => {
          assert.ok(error instanceof AppError);
          assert.equal(error.code, 'INVALID_TRAINING_REQUEST');
          assert.equal(error.message, `validationSplit must be at least 0 and less than 1, got ${bad}`);
          return true;
        },
      );
    }
    assert.throws(() => splitTrainValidation(0, 0.2, new Rng(1)), {
      message: 'there are 0 rows with a target; at least 1 is needed to train',
    });
  });
});

describe('splitTrainValidation stratified by labels', () => {
  test('each class contributes round(count · split) rows to validation', () => {
    // 60 a, 30 b, 10 c, interleaved.
    const labels = Array.from({ length: 100 }, (_, i) => (i % 10 < 6 ? 'a' : i % 10 < 9 ? 'b' : 'c'));
    const split = splitTrainValidation(labels, 0.2, new Rng(3));
    assertPartition(100, split);
    assert.deepEqual(validationCounts(labels, split.validation), { a: 12, b: 6, c: 2 });
  });

  test('is deterministic for a seed', () => {
    const labels = ['a', 'b', 'a', 'b', 'a', 'b', 'a', 'a'];
    assert.deepEqual(plain(splitTrainValidation(labels, 0.25, new Rng(42))), {
      train: [0, 2, 3, 4, 5, 6],
      validation: [1, 7],
    });
  });

  test('a class keeps at least one row in train', () => {
    const labels = ['a', 'a', 'b', 'b', 'b', 'b', 'c'];
    const split = splitTrainValidation(labels, 0.9, new Rng(5));
    // a: round(1.8) = 2 → 1; b: round(3.6) = 4 → 3; c: a single row stays in train.
    assert.deepEqual(validationCounts(labels, split.validation), { a: 1, b: 3 });
    assert.equal(split.train.length, 3);
  });

  test('when rounding holds out nothing, one row of the largest class is held out', () => {
    const labels = [7, 1, 7];
    const split = splitTrainValidation(Float32Array.from(labels), 0.1, new Rng(9));
    assert.equal(split.validation.length, 1);
    assert.equal(labels[split.validation[0]], 7);
    // Only single-row classes: still one held out, and train is not empty.
    const singles = splitTrainValidation(['x', 'y', 'z'], 0.1, new Rng(9));
    assert.equal(singles.validation.length, 1);
    assert.equal(singles.train.length, 2);
  });

  test('split 0 holds out nothing', () => {
    assert.deepEqual(plain(splitTrainValidation(['a', 'b', 'a'], 0, new Rng(1))), { train: [0, 1, 2], validation: [] });
  });
});
