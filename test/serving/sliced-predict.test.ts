import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { predict, type Prediction } from '../../src/serving/predict';
import { serializePrediction, serializePredictionInPieces } from '../../src/serving/predict-serializer';
import { serveModel, type ServedModel } from '../../src/serving/served-model';
import { MIN_BLOCK_ROWS } from '../../src/serving/slices';
import type { StoredModel } from '../../src/store/model-store';
import { linearCsv, startService, xorCsv, type TestService } from '../helpers/app';
import { trainStoredModel } from './stored-model';

/**
 * Large predicts are computed a block of rows at a time with turns of the event loop between
 * blocks (src/serving/slices.ts): the answers must be exactly those of the one-piece path, and
 * the loop must get turns during a 10,000-row request.
 */

/** The rows bench/chaos.ts sends: a, b in [−1, 1), colors seen in training. */
const chaosRow = (i: number) => ({ a: (i % 200) / 100 - 1, b: (i % 37) / 18 - 1, color: i % 2 ? 'red' : 'blue' });

/**
 * Turns of the event loop a setImmediate ticker gets while `work` runs, the longest gap between
 * two turns, and monitorEventLoopDelay's max.
 */
async function turnsDuring<T>(
  work: () => Promise<T>,
): Promise<{ result: T; turns: number; longestGapMs: number; maxDelayMs: number }> {
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  let turns = 0;
  let ticking = true;
  let last = performance.now();
  let longestGapMs = 0;
  const tick = () => {
    const now = performance.now();
    longestGapMs = Math.max(longestGapMs, now - last);
    last = now;
    turns++;
    if (ticking) setImmediate(tick);
  };
  setImmediate(tick);
  try {
    const result = await work();
    ticking = false;
    longestGapMs = Math.max(longestGapMs, performance.now() - last);
    // The histogram's timer samples a delay when it fires late: give it the chance.
    await new Promise((resolve) => setTimeout(resolve, 5));
    return { result, turns, longestGapMs, maxDelayMs: histogram.max / 1e6 };
  } finally {
    ticking = false;
    histogram.disable();
  }
}

/** The model served as a request of any size would be served in one piece (the old path). */
const inOnePiece = (model: ServedModel): ServedModel => ({ ...model, blockRows: Infinity });

describe('large predicts in blocks', () => {
  let service: TestService;
  let model: StoredModel;

  before(async () => {
    service = await startService({ worker: false, env: { RATE_LIMIT_MAX: '0' } });
    // The classifier bench/chaos.ts trains (a, b, color → label), briefly.
    model = await trainStoredModel(xorCsv(300), {
      target: 'label',
      task: 'classification',
      model: { hidden: [{ units: 32, normalization: 'batch', dropout: 0.1 }, { units: 32 }] },
      training: { epochs: 2, batchSize: 16, seed: 3 },
    });
    await service.app.models.save(model.meta, model.frozen);
  });
  after(() => service.close());

  const post = (body: unknown) =>
    service.app.inject({
      method: 'POST',
      url: `/v1/models/${model.meta.id}/predict`,
      headers: { 'content-type': 'application/json' },
      payload: typeof body === 'string' ? body : JSON.stringify(body),
    });

  test('during a 10,000-row predict through the app, the event loop gets many turns', async () => {
    const rows = Array.from({ length: 10_000 }, (_, i) => chaosRow(i));
    const payload = JSON.stringify({ rows });
    // Once to load the model and warm both paths up; then measured.
    assert.equal((await post(payload)).statusCode, 200);
    const { result, turns, longestGapMs, maxDelayMs } = await turnsDuring(() => post(payload));
    assert.equal(result.statusCode, 200, result.body);
    console.log(
      `10,000-row predict: ${turns} turns of a setImmediate ticker, longest gap between turns ` +
        `${longestGapMs.toFixed(1)} ms, monitorEventLoopDelay max ${maxDelayMs.toFixed(1)} ms`,
    );
    // One turn per block of each stage (about 20 for this model); a request computed in one piece
    // gives the ticker 0–2 turns. Counted, not timed: a loaded machine gives the same count.
    assert.ok(turns >= 10, `the ticker got only ${turns} turns during the request`);
  });

  test('a 10,000-row v2 infer gives the event loop turns and the same numbers as /v1', async () => {
    const rows = Array.from({ length: 10_000 }, (_, i) => chaosRow(i * 3));
    const body = JSON.stringify({
      inputs: [
        { name: 'a', datatype: 'FP32', shape: [rows.length], data: rows.map((row) => row.a) },
        { name: 'b', datatype: 'FP32', shape: [rows.length], data: rows.map((row) => row.b) },
        { name: 'color', datatype: 'BYTES', shape: [rows.length], data: rows.map((row) => row.color) },
      ],
    });
    const infer = () =>
      service.app.inject({
        method: 'POST',
        url: `/v2/models/${model.meta.id}/infer`,
        headers: { 'content-type': 'application/json' },
        payload: body,
      });
    assert.equal((await infer()).statusCode, 200);
    const { result, turns, longestGapMs } = await turnsDuring(infer);
    assert.equal(result.statusCode, 200, result.body);
    console.log(`10,000-row v2 infer: ${turns} turns, longest gap between turns ${longestGapMs.toFixed(1)} ms`);
    assert.ok(turns >= 10, `the ticker got only ${turns} turns during the request`);
    const outputs = result.json<{ outputs: { name: string; data: unknown[] }[] }>().outputs;
    const v1 = (await post({ rows })).json<Prediction>();
    assert.deepEqual(outputs.find((o) => o.name === 'label')!.data, v1.predictions);
    assert.deepEqual(outputs.find((o) => o.name === 'probabilities')!.data, v1.probabilities!.flat());
  });

  test('a 10,000-row answer is, byte for byte, the concatenation of smaller requests’ answers', async () => {
    const rows = Array.from({ length: 10_000 }, (_, i) => chaosRow(i * 7 + 1));
    const whole = await post({ rows });
    assert.equal(whole.statusCode, 200, whole.body);
    // 2,000 rows is one block of this model: computed in one piece, on the same kernel (tf).
    const parts: Prediction[] = [];
    for (let from = 0; from < rows.length; from += 2_000) {
      const part = await post({ rows: rows.slice(from, from + 2_000) });
      assert.equal(part.statusCode, 200, part.body);
      parts.push(part.json<Prediction>());
    }
    const concatenated = {
      predictions: parts.flatMap((p) => p.predictions),
      probabilities: parts.flatMap((p) => p.probabilities!),
      classes: parts[0].classes,
    };
    assert.equal(whole.body, JSON.stringify(concatenated));
    // The same headers as a small answer's.
    const small = await post({ rows: rows.slice(0, 1) });
    assert.equal(whole.headers['content-type'], small.headers['content-type']);
    assert.equal(whole.headers['x-model-id'], model.meta.id);
  });

  test('warnings, drift and 400s are those of the one-piece path, row numbers included', async () => {
    const served = serveModel(model);
    // Unseen categories, keys that are no feature, missing values and far-out values, late rows too.
    const rows = Array.from({ length: 9_000 }, (_, i) => {
      const row: Record<string, unknown> = chaosRow(i);
      if (i % 1_000 === 999) row.color = 'green';
      if (i === 8_500) row.colour = 'red';
      if (i % 3_001 === 7) row.a = null;
      if (i % 2_500 === 3) row.b = 40;
      return row;
    });
    const drift = { k: 3, explain: true };
    const sliced = await turnsDuring(() => predict(served, { rows }, 10_000, undefined, drift));
    assert.ok(sliced.turns >= 5, `the sliced path yielded only ${sliced.turns} times`);
    const whole = await predict(inOnePiece(served), { rows }, 10_000, undefined, drift);
    assert.ok(whole.warnings && whole.warnings.length >= 2);
    assert.deepEqual(sliced.result, whole);
    assert.equal(await serializePredictionInPieces(sliced.result), JSON.stringify(whole));
    assert.equal(serializePrediction(whole), JSON.stringify(whole));

    const inputs = rows.map((row) => [row.a, row.b, row.color]);
    assert.deepEqual(
      await predict(served, { inputs }, 10_000, undefined, drift),
      await predict(inOnePiece(served), { inputs }, 10_000, undefined, drift),
    );

    // Bad rows deep in a large request: the same 400 as before, naming the row.
    const bad = [...rows.slice(0, 9_500 - 1_000), { a: 'x', b: 0, color: 'red' }, ...rows.slice(0, 999)];
    const response = await post({ rows: bad });
    assert.equal(response.statusCode, 400);
    assert.match(response.json<{ error: { message: string } }>().error.message, /^row 8500 feature "a" must be/);
    const errorOf = async (m: ServedModel, input: object, maxRows = 10_000) =>
      predict(m, input, maxRows).then(
        () => assert.fail('expected a 400'),
        (error: unknown) => (error as Error).message,
      );
    for (const [input, maxRows] of [
      [{ rows: bad }, 10_000],
      [{ rows: [...rows.slice(0, 6_000), { a: 1, b: 2 }] }, 10_000],
      [{ inputs: [...inputs.slice(0, 5_000), [1, 2]] }, 10_000],
      [{ inputs: [...inputs.slice(0, 5_000), [1, 'x', 'red']] }, 10_000],
      [{ rows }, 8_999],
    ] as const) {
      assert.equal(await errorOf(served, input, maxRows), await errorOf(inOnePiece(served), input, maxRows));
    }
    assert.match(
      await errorOf(served, { rows }, 8_999),
      /rows has 9000 rows; the limit is 8999 per request \(the server's MAX_PREDICT_ROWS setting\)/,
    );
  });

  test('a regression model’s large answer equals its one-piece answer', async () => {
    const regression = serveModel(
      await trainStoredModel(linearCsv(200), {
        target: 'y',
        task: 'regression',
        model: { hidden: [{ units: 8 }] },
        training: { epochs: 2, batchSize: 16, seed: 1 },
      }),
    );
    const inputs = Array.from({ length: 5_000 }, (_, i) => [Math.sin(i), Math.cos(i * 0.3)]);
    const sliced = await predict(regression, { inputs }, 10_000);
    assert.ok(inputs.length > regression.blockRows);
    assert.deepEqual(sliced, await predict(inOnePiece(regression), { inputs }, 10_000));
    assert.equal(await serializePredictionInPieces(sliced), JSON.stringify(sliced));
  });

  test('small requests are not cut', async () => {
    const served = serveModel(model);
    assert.ok(served.blockRows >= MIN_BLOCK_ROWS);
    const rows = Array.from({ length: MIN_BLOCK_ROWS }, (_, i) => chaosRow(i));
    // No turn of the event loop inside a 256-row predict (a ticker queued before it does not run).
    let turns = 0;
    const immediate = setImmediate(() => turns++);
    const answer = await predict(served, { rows }, 10_000);
    assert.equal(turns, 0);
    clearImmediate(immediate);
    assert.equal(await serializePredictionInPieces(answer), serializePrediction(answer));
  });
});
