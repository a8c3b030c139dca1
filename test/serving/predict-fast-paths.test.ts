import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { validatorCompiler } from 'fastify-type-provider-zod';
import { idParams, predictQuerySchema, predictRequestSchema } from '../../src/schemas/api.schema';
import type { Prediction } from '../../src/serving/predict';
import { serializePrediction } from '../../src/serving/predict-serializer';
import {
  isEmptyQuery,
  isPlainModelParams,
  isPlainPredictBody,
  predictValidatorCompiler,
} from '../../src/serving/predict-validation';

type Validate = (data: unknown) => { value?: unknown; error?: Error & { validation?: unknown } };

const compile = (
  compiler: typeof validatorCompiler | typeof predictValidatorCompiler,
  schema: unknown,
  httpPart: string,
) =>
  (compiler as (route: unknown) => Validate)({ schema, method: 'POST', url: '/v1/models/:modelId/predict', httpPart });

class Rows {
  rows = [1];
}

const BODIES: unknown[] = [
  { rows: [] },
  { inputs: [] },
  { rows: [{ a: 1, b: 'x' }] },
  {
    inputs: [
      [1, 2, 'red'],
      [null, 0, true],
    ],
  },
  JSON.parse('{"inputs":[[1,2]]}'),
  { rows: [], inputs: [] },
  { rows: [1], extra: 1 },
  {},
  { rows: 'x' },
  { rows: null },
  { inputs: {} },
  { rows: undefined },
  { rows: undefined, inputs: [1] },
  Object.assign(Object.create(null) as object, { rows: [1] }),
  new Rows(),
  [],
  [[1, 2]],
  null,
  undefined,
  'rows',
  5,
];

const PARAMS: unknown[] = [
  { modelId: 'mdl_abc' },
  { modelId: 'x' },
  { modelId: 'x'.repeat(128) },
  { modelId: 'x'.repeat(129) },
  { modelId: '' },
  { modelId: 5 },
  { modelId: 'mdl_abc', other: 'y' },
  {},
  null,
];

/** The predict route's fast paths answer exactly as the zod path they stand in front of. */
describe('predict fast paths', () => {
  test('a body passing the structural check is one zod accepts and returns unchanged', () => {
    for (const body of BODIES) {
      const parsed = predictRequestSchema.safeParse(body);
      if (isPlainPredictBody(body)) {
        assert.ok(parsed.success, `zod refuses ${JSON.stringify(body)}`);
        assert.deepEqual(parsed.data, body);
      }
    }
    assert.ok(
      isPlainPredictBody({ rows: [] }) && isPlainPredictBody({ inputs: [[1]] }),
      'the common case takes the fast path',
    );
  });

  test('params passing the check are ones zod accepts and returns unchanged', () => {
    const schema = idParams('modelId');
    for (const params of PARAMS) {
      const parsed = schema.safeParse(params);
      if (isPlainModelParams(params)) {
        assert.ok(parsed.success, `zod refuses ${JSON.stringify(params)}`);
        assert.deepEqual(parsed.data, params);
      }
    }
    assert.ok(isPlainModelParams({ modelId: 'mdl_abc' }));
  });

  test('an empty query passes the check, and zod returns it unchanged', () => {
    assert.ok(isEmptyQuery({}) && !isEmptyQuery({ explain: 'drift' }) && !isEmptyQuery(null));
    assert.deepEqual(predictQuerySchema.parse({}), {});
  });

  test("the compiled validators give the same values and the same errors as zod's", () => {
    for (const [schema, part, inputs] of [
      [predictRequestSchema, 'body', BODIES],
      [idParams('modelId'), 'params', PARAMS],
      [predictQuerySchema, 'querystring', [{}, { explain: 'drift' }, { explain: 'everything' }, { other: '1' }]],
    ] as const) {
      const fast = compile(predictValidatorCompiler, schema, part);
      const zod = compile(validatorCompiler, schema, part);
      for (const input of inputs) {
        const a = fast(input);
        const b = zod(input);
        assert.deepEqual(a.value, b.value, JSON.stringify(input));
        assert.equal(a.error?.message, b.error?.message, JSON.stringify(input));
        assert.deepEqual(a.error?.validation, b.error?.validation, JSON.stringify(input));
      }
    }
    // Other parts (none on this route today) go to zod as they are.
    const query = compile(predictValidatorCompiler, predictRequestSchema, 'querystring');
    assert.ok(query({ rows: [] }).value);
  });

  test('a prediction is written exactly as JSON.stringify writes it', () => {
    const classes = ['no', 'yes'];
    const cases: Prediction[] = [
      { predictions: ['yes'], probabilities: [[0.10000000149011612, 0.8999999761581421]], classes },
      {
        predictions: ['no', 'yes'],
        probabilities: [
          [1, 0],
          [0, 1],
        ],
        classes,
      },
      {
        predictions: [0, 1],
        probabilities: [
          [0.5, 0.5],
          [0.25, 0.75],
        ],
        classes: [0, 1],
      },
      { predictions: [3.25, -1e-7, 12345678.9] },
      { predictions: [] },
      { predictions: ['a "quoted" \\ class\n'], probabilities: [[1]], classes: ['a "quoted" \\ class\n'] },
    ];
    for (const prediction of cases) {
      // Twice: the second time with the class list from the cache.
      assert.equal(serializePrediction(prediction), JSON.stringify(prediction));
      assert.equal(serializePrediction(prediction), JSON.stringify(prediction));
    }
  });
});
