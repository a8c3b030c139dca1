import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ContractValidator, type HttpResponse } from '../helpers/openapi-contract';
import { startService, xorCsv, type TestService } from '../helpers/app';

/**
 * Predict input that is accepted but probably not what the client meant (a category never seen
 * in training, a key that is no feature) is answered with per-request warnings that say so,
 * suggesting the nearest feature name, and counted in /metrics; numeric strings from CSV-minded
 * clients are read as the numbers they spell.
 */
describe('predict warnings and numeric strings', () => {
  let svc: TestService;
  let contract: ContractValidator;
  let url: string;

  const predict = async (body: unknown, status = 200) => {
    const res = await svc.http.post(url).send(body as object);
    contract.check(res as unknown as HttpResponse);
    assert.equal(res.status, status, res.text.slice(0, 300));
    return res.body as {
      predictions: unknown[];
      probabilities: number[][];
      warnings?: string[];
      error?: { message: string };
    };
  };

  before(async () => {
    svc = await startService();
    contract = await ContractValidator.fromDocument((await svc.http.get('/openapi.json')).body);
    const datasetId = (await svc.http.post('/v1/datasets').type('text/csv').send(xorCsv(60))).body.id;
    const queued = await svc.http
      .post('/v1/training-jobs')
      .send({ datasetId, target: 'label', task: 'classification', training: { epochs: 2, seed: 1 } });
    await svc.waitForJob(queued.body.jobId);
    url = `/v1/models/${(await svc.http.get(`/v1/training-jobs/${queued.body.jobId}`)).body.modelId}/predict`;
  });
  after(async () => {
    await svc.close();
  });

  test('clean input has no warnings field', async () => {
    const body = await predict({ rows: [{ a: 0.5, b: -0.5, color: 'red' }] });
    assert.equal(body.warnings, undefined);
  });

  test('an unseen or wrong-typed category is a warning naming the feature, the value and the known ones', async () => {
    const body = await predict({
      rows: [
        { a: 0.5, b: -0.5, color: 'telepathy' },
        { a: 0.1, b: 0.2, color: 'red' },
        { a: 0.3, b: 0.4, color: 'telepathy' },
        { a: 0.3, b: 0.4, color: 7 },
      ],
    });
    assert.equal(body.predictions.length, 4);
    assert.deepEqual(body.warnings, [
      'feature "color": "telepathy" is not a category seen in training (rows 0, 2); it is encoded as missing. Known: "blue", "red"',
      'feature "color": the number 7 is not a category seen in training (row 3); it is encoded as missing. Known: "blue", "red"',
    ]);
  });

  test('a key that is no feature is a warning, with the nearest feature name', async () => {
    const body = await predict({ rows: [{ a: 0.5, b: -0.5, color: 'red', colour: 'blue', zzz_unrelated: 1 }] });
    assert.deepEqual(body.warnings, [
      'key "colour" is not a feature and is ignored (row 0); did you mean "color"?',
      'key "zzz_unrelated" is not a feature and is ignored (row 0)',
    ]);
    // Misspelled instead of given: still a 400, now with the suggestion.
    const missing = await predict({ rows: [{ a: 0.5, b: -0.5, colr: 'red' }] }, 400);
    assert.match(
      missing.error!.message,
      /row 0 is missing feature "color" \(is "colr" a misspelling\?\); pass null for a missing value/,
    );
  });

  test('warnings are counted in /metrics by kind', async () => {
    const text = (await svc.http.get('/metrics')).text;
    const count = (kind: string) =>
      Number(new RegExp(`fitwell_predict_warnings_total\\{kind="${kind}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
    assert.equal(count('unseen_category'), 3);
    assert.equal(count('unknown_key'), 2);
  });

  test('numeric strings are read as numbers, by name and in order; other strings are still a 400', async () => {
    const asNumbers = await predict({ rows: [{ a: 0.5, b: -0.25, color: 'red' }] });
    const asStrings = await predict({ rows: [{ a: '0.5', b: ' -0.25 ', color: 'red' }] });
    assert.deepEqual(asStrings.probabilities, asNumbers.probabilities);
    assert.equal(asStrings.warnings, undefined);
    const inOrder = await predict({ inputs: [['0.5', '-2.5e-1', 'red']] });
    assert.deepEqual(inOrder.probabilities, asNumbers.probabilities);
    for (const text of ['high', '0x1F', '', '1,5', 'NaN', 'Infinity', '1e39']) {
      const refused = await predict({ rows: [{ a: text, b: 0, color: 'red' }] }, 400);
      assert.match(refused.error!.message, /row 0 feature "a"/, text);
    }
  });
});
