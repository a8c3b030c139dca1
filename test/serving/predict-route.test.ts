import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeFeatures } from '../../src/data/preprocessing';
import { vectorsToTable } from '../../src/data/prediction-input';
import { runFrozen } from '../../src/ml/frozen-model';
import type { StoredModel } from '../../src/store/model-store';
import { startService, xorCsv, type TestService } from '../helpers/app';
import { assertClose } from '../helpers/tf';
import { trainStoredModel } from './stored-model';

/** Row r of the probe: a, b in (−1, 1), color alternating (and one unseen category). */
const probeRow = (r: number): [number, number, string] => [
  Math.sin(r * 1.3),
  Math.cos(r * 0.7),
  ['red', 'blue', 'green'][r % 3],
];

describe('POST /v1/models/:id/predict through the serving path', () => {
  let service: TestService;
  let model: StoredModel;

  before(async () => {
    // Micro-batching on (same turn), as concurrent requests below share batches.
    service = await startService({ worker: false, env: { PREDICT_BATCH_WAIT_MS: '0', RATE_LIMIT_MAX: '0' } });
    model = await trainStoredModel(xorCsv(300), {
      target: 'label',
      task: 'classification',
      model: {
        hidden: [
          { units: 16, normalization: 'batch', dropout: 0.3 },
          { units: 16, normalization: 'layer', dropout: 0.3 },
        ],
      },
      training: { epochs: 3, batchSize: 32, seed: 4 },
    });
    await service.app.models.save(model.meta, model.frozen);
  });
  after(() => service.close());

  /** What runFrozen gives for these rows, with the model's own preprocessing. */
  function expected(inputs: unknown[][]): Float32Array {
    const prep = model.meta.preprocessing;
    const table = vectorsToTable(prep, inputs);
    return runFrozen(
      model.frozen,
      encodeFeatures(
        prep,
        table,
        Int32Array.from(inputs, (_, i) => i),
      ),
      inputs.length,
    );
  }

  test('concurrent one-row requests, batched together, each get their own row’s answer', async () => {
    const rows = Array.from({ length: 40 }, (_, r) => probeRow(r));
    const responses = await Promise.all(
      rows.map((row) =>
        service.app.inject({ method: 'POST', url: `/v1/models/${model.meta.id}/predict`, payload: { inputs: [row] } }),
      ),
    );
    const all = expected(rows);
    responses.forEach((response, r) => {
      assert.equal(response.statusCode, 200, response.body);
      const body = response.json<{ predictions: string[]; probabilities: number[][]; classes: string[] }>();
      assert.deepEqual(body.classes, ['no', 'yes']);
      assertClose(body.probabilities[0], all.subarray(2 * r, 2 * r + 2), 1e-5, `row ${r}`);
      const best = body.probabilities[0][1] > body.probabilities[0][0] ? 'yes' : 'no';
      assert.deepEqual(body.predictions, [best]);
    });
  });

  test('a many-row request (tf path) and named rows give the same numbers', async () => {
    const rows = Array.from({ length: 300 }, (_, r) => probeRow(r));
    const many = await service.app.inject({
      method: 'POST',
      url: `/v1/models/${model.meta.id}/predict`,
      payload: { inputs: rows },
    });
    assert.equal(many.statusCode, 200, many.body);
    assertClose(many.json<{ probabilities: number[][] }>().probabilities.flat(), expected(rows), 1e-5, '300 rows');
    const named = await service.app.inject({
      method: 'POST',
      url: `/v1/models/${model.meta.id}/predict`,
      payload: { rows: rows.slice(0, 3).map(([a, b, color]) => ({ a, b, color })) },
    });
    assert.equal(named.statusCode, 200, named.body);
    assertClose(
      named.json<{ probabilities: number[][] }>().probabilities.flat(),
      expected(rows.slice(0, 3)),
      1e-5,
      'named',
    );
  });

  test('invalid input is still a 400 that names the problem', async () => {
    const response = await service.app.inject({
      method: 'POST',
      url: `/v1/models/${model.meta.id}/predict`,
      payload: { inputs: [[0.5, 'red']] },
    });
    assert.equal(response.statusCode, 400);
    assert.match(response.json<{ error: { message: string } }>().error.message, /row 0 has 2 values; expected 3/);
  });
});
