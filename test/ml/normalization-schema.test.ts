import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  dropoutSchema,
  hiddenLayerSchema,
  normalizationSchema,
  usesBatchStatistics,
} from '../../src/schemas/training-request.schema';
import { usesBatchStatistics as mlUsesBatchStatistics } from '../../src/ml/spec';

/** The messages of a failed parse, including those inside union branches. */
function messages(result: { success: boolean; error?: { issues: unknown[] } }): string {
  assert.equal(result.success, false, 'expected a validation error');
  const collect = (issues: unknown[]): string[] =>
    issues.flatMap((issue) => {
      const i = issue as { message: string; errors?: unknown[][] };
      return [i.message, ...(i.errors ?? []).flatMap((branch) => collect(branch))];
    });
  return collect(result.error!.issues).join(' | ');
}

describe('normalization schema', () => {
  test('every shorthand expands to its object form with every default filled in', () => {
    assert.deepEqual(normalizationSchema.parse('none'), { type: 'none' });
    assert.deepEqual(normalizationSchema.parse('batch'), {
      type: 'batch',
      momentum: 0.99,
      epsilon: 1e-3,
      placement: 'before-activation',
    });
    assert.deepEqual(normalizationSchema.parse('layer'), { type: 'layer', epsilon: 1e-3 });
    assert.deepEqual(normalizationSchema.parse('weight'), { type: 'weight' });
    assert.deepEqual(normalizationSchema.parse('cosine'), { type: 'cosine', scale: 1, learnScale: true });
    assert.deepEqual(normalizationSchema.parse('sync-batch'), {
      type: 'sync-batch',
      replicas: 4,
      passes: 1,
      momentum: 0.99,
      epsilon: 1e-3,
    });
    assert.deepEqual(normalizationSchema.parse('ghost-batch'), {
      type: 'ghost-batch',
      replicas: 4,
      momentum: 0.99,
      epsilon: 1e-3,
    });
    assert.deepEqual(hiddenLayerSchema.parse({ units: 3 }).normalization, { type: 'none' });
  });

  test('object forms keep what they set', () => {
    assert.deepEqual(normalizationSchema.parse({ type: 'batch', placement: 'after-activation', momentum: 0.9 }), {
      type: 'batch',
      momentum: 0.9,
      epsilon: 1e-3,
      placement: 'after-activation',
    });
    assert.deepEqual(normalizationSchema.parse({ type: 'sync-batch', replicas: 8, passes: 2 }), {
      type: 'sync-batch',
      replicas: 8,
      passes: 2,
      momentum: 0.99,
      epsilon: 1e-3,
    });
    assert.deepEqual(normalizationSchema.parse({ type: 'cosine', scale: 10, learnScale: false }), {
      type: 'cosine',
      scale: 10,
      learnScale: false,
    });
  });

  test('bad values are refused with a message naming the field, the allowed values and the value', () => {
    const cases: [unknown, RegExp][] = [
      ['group', /Expected one of none, batch, layer, weight, cosine, sync-batch, ghost-batch, received "group"/],
      [{ type: 'group' }, /normalization\.type: Expected one of none, .*ghost-batch, received "group"/],
      [
        { type: 'batch', placement: 'middle' },
        /normalization\.placement: Expected one of before-activation, after-activation, received "middle"/,
      ],
      [{ type: 'batch', momentum: 1 }, /normalization\.momentum must be in \(0, 1\), received 1/],
      [{ type: 'layer', epsilon: 0 }, /normalization\.epsilon must be in \(0, 1\], received 0/],
      [{ type: 'sync-batch', passes: 3 }, /normalization\.passes: Expected one of 1, 2, received 3/],
      [
        { type: 'sync-batch', replicas: 2.5 },
        /normalization\.replicas must be an integer from 1 to 256, received 2\.5/,
      ],
      [{ type: 'ghost-batch', replicas: 0 }, /normalization\.replicas must be an integer from 1 to 256, received 0/],
      [{ type: 'cosine', scale: -1 }, /normalization\.scale must be a number in \(0, 1000\], received -1/],
      [{ type: 'cosine', learnScale: 'yes' }, /normalization\.learnScale must be true or false, received "yes"/],
      [{ type: 'weight', epsilon: 1 }, /Unrecognized key/],
      [{ type: 'layer', replicas: 2 }, /Unrecognized key/],
    ];
    for (const [input, pattern] of cases) {
      const text = messages(normalizationSchema.safeParse(input));
      assert.match(text, pattern, `for ${JSON.stringify(input)}: ${text}`);
    }
  });

  test('for an object with a bad option, the first union branch names that option (what the API reports)', () => {
    for (const [input, pattern] of [
      [{ type: 'sync-batch', passes: 3 }, /^normalization\.passes: Expected one of 1, 2, received 3$/],
      [{ type: 'batch', placement: 'x' }, /^normalization\.placement: Expected one of/],
    ] as const) {
      const result = normalizationSchema.safeParse(input);
      assert.equal(result.success, false);
      const issue = result.error.issues[0] as unknown as { code: string; errors: { message: string }[][] };
      assert.equal(issue.code, 'invalid_union');
      assert.match(issue.errors[0][0].message, pattern);
    }
  });

  test('usesBatchStatistics: batch, sync-batch and ghost-batch only', () => {
    const names = ['none', 'batch', 'layer', 'weight', 'cosine', 'sync-batch', 'ghost-batch'];
    assert.deepEqual(
      names.filter((type) => usesBatchStatistics(normalizationSchema.parse(type))),
      ['batch', 'sync-batch', 'ghost-batch'],
    );
  });

  test("ml/'s own usesBatchStatistics (src/ml/spec.ts) agrees with the schema's on every normalization", () => {
    for (const type of ['none', 'batch', 'layer', 'weight', 'cosine', 'sync-batch', 'ghost-batch']) {
      const normalization = normalizationSchema.parse(type);
      assert.equal(mlUsesBatchStatistics(normalization), usesBatchStatistics(normalization), type);
    }
  });
});

describe('dropout schema', () => {
  test('a number is inverted dropout; the object form takes kind inverted (default) or gaussian', () => {
    assert.deepEqual(dropoutSchema.parse(0.3), { rate: 0.3, kind: 'inverted' });
    assert.deepEqual(dropoutSchema.parse({ rate: 0.3 }), { rate: 0.3, kind: 'inverted' });
    assert.deepEqual(dropoutSchema.parse({ rate: 0.2, kind: 'gaussian' }), { rate: 0.2, kind: 'gaussian' });
    assert.deepEqual(hiddenLayerSchema.parse({ units: 3 }).dropout, { rate: 0, kind: 'inverted' });
  });

  test('bad values name the value', () => {
    assert.match(
      messages(dropoutSchema.safeParse({ rate: 0.2, kind: 'alpha' })),
      /dropout\.kind: Expected one of inverted, gaussian, received "alpha"/,
    );
    assert.match(
      messages(dropoutSchema.safeParse(1)),
      /dropout must be in \[0, 1\): a rate of 1 would drop every unit; received 1/,
    );
    assert.match(
      messages(dropoutSchema.safeParse({ rate: -0.1 })),
      /dropout\.rate must be in \[0, 1\).*received -0\.1/,
    );
  });
});
