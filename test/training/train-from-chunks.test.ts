import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import { parseCsv } from '../../src/data/parse-dataset';
import { encodeFeatures, fitPreprocessing, PreprocessingFit, rowsWithTarget } from '../../src/data/preprocessing';
import { columnValues, viewColumn } from '../../src/data/table';
import { epochOrder } from '../../src/ml/trainer';
import { Rng } from '../../src/random';
import { trainingRequestSchema, type TrainingRequestInput } from '../../src/schemas/training-request.schema';
import { DatasetStore } from '../../src/store/dataset-store';
import { createRedis, waitForRedis } from '../../src/store/redis';
import { ChunkCache, trainFromChunks } from '../../src/training/train-from-chunks';
import { trainFromRequest, type TrainingOutcome } from '../../src/training/train-from-request';
import { deletePrefix, testConfig } from '../helpers/config';
import { useWasmBackend } from '../helpers/tf';

/**
 * Training from a dataset's chunks (README, "Training from chunks") on a real Redis store with
 * small chunks: one chunk gives exactly the in-memory run; several give the same run for the
 * same seed, every training row once per epoch, at most the resident chunks asked for.
 */

const config = testConfig();
let redis: Redis;

/** 650 rows: three numeric features (one with gaps), a categorical one, a 3-class label and a numeric target; a few targets missing. */
function csv(): string {
  const lines = ['a,b,c,color,label,value'];
  for (let i = 0; i < 650; i++) {
    const a = Math.sin(i * 1.3);
    const b = Math.cos(i * 0.7);
    const c = i % 17 === 0 ? '' : ((i * 37) % 101) / 10;
    const color = ['red', 'green', 'blue'][i % 3];
    const label = i % 29 === 0 ? '' : a + b > 0.5 ? 'high' : a - b > 0.3 ? 'low' : 'mid';
    const value = i % 31 === 0 ? '' : (2 * a - b + (i % 3)).toFixed(3);
    lines.push(`${a.toFixed(4)},${b.toFixed(4)},${c},${color},${label},${value}`);
  }
  return lines.join('\n') + '\n';
}

const request = (overrides: Partial<TrainingRequestInput> = {}, training: Record<string, unknown> = {}) =>
  trainingRequestSchema.parse({
    datasetId: 'ds',
    target: 'label',
    task: 'classification',
    features: { drop: ['value'] },
    model: {
      hidden: [
        { units: 8, normalization: { type: 'batch' } },
        { units: 6, dropout: { rate: 0.1 } },
      ],
    },
    training: { epochs: 3, batchSize: 32, learningRate: 0.02, seed: 5, testSplit: 0.1, ...training },
    evaluation: { importance: { rows: 'validation', repeats: 1 } },
    ...overrides,
  } satisfies TrainingRequestInput);

const regression = () =>
  request({
    target: 'value',
    task: 'regression',
    features: { drop: ['label'] },
    evaluation: {},
  });

/** The outcome without its timings, which differ between any two runs. */
function comparable(outcome: TrainingOutcome) {
  return { ...outcome, metrics: outcome.metrics.map((m) => ({ ...m, durationMs: 0 })) };
}

async function store(chunkRows: number) {
  const datasets = new DatasetStore(redis, config.redisPrefix, { chunkRows });
  const meta = await datasets.save(parseCsv(csv(), { maxRows: 10_000, maxColumns: 10 }));
  return { datasets, meta };
}

describe('training from chunks', () => {
  before(async () => {
    await useWasmBackend();
    redis = createRedis(config.redisUrl);
    await waitForRedis(redis);
  });
  after(async () => {
    await deletePrefix(config);
    redis.disconnect();
  });

  for (const [task, spec] of [
    ['classification', () => request()],
    ['regression', regression],
  ] as const) {
    test(`one chunk: exactly the in-memory run (${task})`, async () => {
      const { datasets, meta } = await store(65_536);
      const chunked = await datasets.chunkedTable(meta.id);
      assert.equal(chunked.chunkCount, 1);
      const inMemory = await trainFromRequest(spec(), await datasets.table(meta.id), 11);
      const { outcome, chunks } = await trainFromChunks(spec(), chunked, 11);
      assert.deepEqual(comparable(outcome), comparable(inMemory));
      assert.equal(chunks.peakResident, 1);
    });
  }

  test('several chunks: the same seed gives the same run; every row is split once; at most k chunks resident', async () => {
    const { datasets, meta } = await store(100);
    const chunked = await datasets.chunkedTable(meta.id);
    assert.equal(chunked.chunkCount, 7);
    // The rows the dataset store reads, a chunk at a time and counted.
    let reads = 0;
    const counted = { ...chunked, chunk: (index: number) => (reads++, chunked.chunk(index)) };
    const first = await trainFromChunks(request(), counted, 3, {}, { residentChunks: 2 });
    const again = await trainFromChunks(request(), chunked, 3, {}, { residentChunks: 2 });
    assert.deepEqual(comparable(again.outcome), comparable(first.outcome));
    assert.equal(first.outcome.status, 'completed');
    assert.equal(first.outcome.metrics.length, 3);

    const withTarget = rowsWithTarget(await datasets.table(meta.id), 'label').length;
    const { rows } = first.outcome;
    assert.equal(rows.train + rows.validation + rows.test, withTarget);
    assert.ok(rows.validation > 0 && rows.test > 0);

    assert.ok(first.chunks.peakResident <= 2, `peak resident chunks ${first.chunks.peakResident}`);
    assert.equal(first.chunks.peakResident, 2);
    // Per epoch the training pass reads each chunk once (its rows are consecutive in the
    // order) and the inference-mode pass over the training rows once more, less the chunks
    // still resident; the validation rows are read once and kept. After training: the batch
    // statistics' pass, the test rows' metrics, and the evaluation's test rows (its validation
    // rows are copied from the trainer's resident ones).
    assert.ok(first.chunks.loads <= 3 * 2 * 7 + 7 + 4 * 7, `${first.chunks.loads} chunk loads`);
    assert.ok(first.chunks.loads >= 3 * 7, `${first.chunks.loads} chunk loads`);
    // Setup: two reads of every chunk — the split with the preprocessing's sums and the targets,
    // then the squared deviations from the means.
    assert.equal(reads, 2 * 7 + first.chunks.loads);

    const other = await trainFromChunks(request(), chunked, 4, {}, { residentChunks: 1 });
    assert.notDeepEqual(comparable(other.outcome).metrics, comparable(first.outcome).metrics);
    assert.equal(other.chunks.peakResident, 1);
  });

  test('a chunk view reads the same cells as the chunk table; gap-free numeric columns are the float32 data itself', async () => {
    const { datasets, meta } = await store(100);
    const dictionaries = await datasets.dictionaries(meta);
    for (let c = 0; c < datasets.chunkCount(meta); c++) {
      const view = await datasets.chunkView(meta, c, dictionaries);
      const table = await datasets.chunkTable(meta, c, dictionaries);
      for (const column of meta.columns) {
        assert.deepEqual(Array.from(viewColumn(view, column.name)), columnValues(table, column.name), column.name);
      }
      assert.ok(viewColumn(view, 'a') instanceof Float32Array, 'a has no gaps: its float32 values');
      // c has a gap in every chunk of 100 rows (every 17th row), label and color are categorical.
      for (const name of ['c', 'label', 'color']) assert.ok(Array.isArray(viewColumn(view, name)), name);
    }
  });

  test('the chunk cache reads the chunk expected next ahead and gives the rows encodeFeatures gives on the chunk table', async () => {
    const { datasets, meta } = await store(100);
    const chunked = await datasets.chunkedTable(meta.id);
    const dictionaries = await datasets.dictionaries(meta);
    const whole = await datasets.table(meta.id);
    const prep = fitPreprocessing(whole, 'label', 'classification', rowsWithTarget(whole, 'label'), ['value']);
    const tables = await Promise.all(
      Array.from({ length: chunked.chunkCount }, (_, c) => datasets.chunkTable(meta, c, dictionaries)),
    );
    const starts = new Int32Array(tables.length + 1);
    tables.forEach((t, c) => (starts[c + 1] = starts[c] + rowsWithTarget(t, 'label').length));
    // The generic path (JS arrays), against the cache's chunk views (float32 columns where gap-free).
    const expected = tables.map((t) => encodeFeatures(prep, t, rowsWithTarget(t, 'label')));
    const reads: number[] = [];
    const counted = { ...chunked, chunk: (index: number) => (reads.push(index), chunked.chunk(index)) };
    const cache = new ChunkCache(counted, 'label', prep, starts, 2);
    const positions = (c: number) => Int32Array.from({ length: starts[c + 1] - starts[c] }, (_, i) => starts[c] + i);
    // The order of a pass: chunk 3's rows, then 5's, then 0's.
    cache.readAhead(Int32Array.from([...positions(3), ...positions(5), ...positions(0)]));
    assert.deepEqual(reads, [3], 'the first chunk of the order is read at once');
    const got = async (c: number) => Array.from(await cache.load(c));
    assert.deepEqual(await got(3), Array.from(expected[3]));
    assert.deepEqual(reads, [3, 5], 'loading chunk 3 reads chunk 5 ahead');
    assert.deepEqual(await got(5), Array.from(expected[5]));
    assert.deepEqual(reads, [3, 5, 0]);
    assert.deepEqual(await got(0), Array.from(expected[0]));
    assert.deepEqual(await got(3), Array.from(expected[3]), 'evicted, read again (into the spare array)');
    assert.deepEqual(reads, [3, 5, 0, 3], 'the end of the order reads nothing ahead');
    assert.equal(cache.loads, reads.length);
    assert.equal(cache.peakResident, 2);
    for (const c of [1, 2, 4, 6]) assert.deepEqual(await got(c), Array.from(expected[c]), `chunk ${c}`);

    // More rows than encodeFeatures' block of 512, in one chunk: the view's encoding is the table's.
    const single = await store(65_536);
    const view = await single.datasets.chunkView(single.meta, 0, await single.datasets.dictionaries(single.meta));
    const table = await single.datasets.table(single.meta.id);
    assert.ok(rowsWithTarget(table, 'label').length > 512);
    assert.deepEqual(
      encodeFeatures(prep, view, rowsWithTarget(view, 'label')),
      encodeFeatures(prep, table, rowsWithTarget(table, 'label')),
    );
  });

  test('the epoch order: every training row once, chunk by chunk; one chunk is the plain shuffle', () => {
    const trainRows = Int32Array.from({ length: 500 }, (_, i) => i * 2 + (i % 3 === 0 ? 1 : 0)).sort();
    const starts = Int32Array.of(0, 150, 400, 401, 1000);
    for (const seed of [1, 2, 3]) {
      const order = epochOrder(trainRows, new Rng(seed), starts);
      assert.deepEqual(Int32Array.from(order).sort(), trainRows);
      // Each chunk's rows form one run of the order.
      const chunkOf = (p: number) => Array.from(starts).filter((s) => s <= p).length - 1;
      const runs = order.reduce((n, p, i) => (i > 0 && chunkOf(order[i - 1]) === chunkOf(p) ? n : n + 1), 0);
      assert.equal(runs, new Set(Array.from(trainRows, chunkOf)).size);
      assert.deepEqual(epochOrder(trainRows, new Rng(seed), starts), order, 'reproducible for a seed');
    }
    const plain = Int32Array.from(trainRows);
    new Rng(9).shuffle(plain);
    assert.deepEqual(epochOrder(trainRows, new Rng(9), Int32Array.of(0, 1000)), plain);
    assert.deepEqual(epochOrder(trainRows, new Rng(9)), plain);
  });

  test('the preprocessing fitted a chunk at a time equals fitPreprocessing on the whole table', async () => {
    const { datasets, meta } = await store(100);
    const chunked = await datasets.chunkedTable(meta.id);
    const whole = await datasets.table(meta.id);
    for (const [target, task, drop] of [
      ['label', 'classification', ['value']],
      ['value', 'regression', ['color']],
    ] as const) {
      // Every third row with a target, by row index within the whole table.
      const picked = (row: number) => row % 3 !== 1;
      const rows = rowsWithTarget(whole, target).filter(picked);
      const fit = new PreprocessingFit(await chunked.chunk(0), target, task, [...drop]);
      const parts = [];
      for (let c = 0; c < chunked.chunkCount; c++) {
        const table = await chunked.chunk(c);
        parts.push({ table, rows: rowsWithTarget(table, target).filter((r) => picked(c * 100 + r)) });
      }
      for (const part of parts) fit.addSums(part.table, part.rows);
      for (const part of parts) fit.addDeviations(part.table, part.rows);
      assert.deepEqual(fit.finish(), fitPreprocessing(whole, target, task, rows, [...drop]));
    }
  });
});
