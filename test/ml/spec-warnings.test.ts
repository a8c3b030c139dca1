import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { trainingRequestSchema } from '../../src/schemas/training-request.schema';
import { specWarnings } from '../../src/training/spec-warnings';

function warningsFor(hidden: unknown[]): string[] {
  return specWarnings(
    trainingRequestSchema.parse({ datasetId: 'ds_1', target: 'y', task: 'classification', model: { hidden } }),
  );
}

describe('spec warnings: dropout feeding a batch-statistics layer', () => {
  test('dropout of layer i feeding the batch, sync-batch or ghost-batch norm of layer i + 1', () => {
    for (const [type, label] of [
      ['batch', 'batch normalization'],
      ['sync-batch', 'synchronized batch normalization'],
      ['ghost-batch', 'ghost batch normalization'],
    ]) {
      const warnings = warningsFor([
        { units: 4, dropout: 0.3 },
        { units: 4, normalization: type },
      ]);
      assert.equal(warnings.length, 1, type);
      assert.match(warnings[0], new RegExp(`hidden layer 0 applies dropout .* feeds the ${label} of hidden layer 1`));
      assert.match(warnings[0], /variance shift/);
      assert.match(warnings[0], /Remedies: move dropout after the last batch-norm layer, or use Gaussian dropout/);
    }
  });

  test('also through layers without batch statistics, and into an after-activation batch norm', () => {
    const warnings = warningsFor([
      { units: 4, dropout: { rate: 0.2 } },
      { units: 4, normalization: 'layer' },
      { units: 4, normalization: { type: 'batch', placement: 'after-activation' } },
    ]);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /hidden layer 0 .* of hidden layer 2/);
  });

  test('no warning: dropout after the last batch norm, in the same layer as its BN, Gaussian, or rate 0', () => {
    assert.deepEqual(warningsFor([{ units: 4, normalization: 'batch', dropout: 0.5 }]), []);
    assert.deepEqual(
      warningsFor([
        { units: 4, normalization: { type: 'batch', placement: 'after-activation' }, dropout: 0.5 },
        { units: 4, normalization: 'layer' },
      ]),
      [],
    );
    assert.deepEqual(
      warningsFor([
        { units: 4, dropout: { rate: 0.3, kind: 'gaussian' } },
        { units: 4, normalization: 'batch' },
      ]),
      [],
    );
    assert.deepEqual(warningsFor([{ units: 4 }, { units: 4, normalization: 'sync-batch' }]), []);
    assert.deepEqual(
      warningsFor([
        { units: 4, dropout: 0.3 },
        { units: 4, normalization: 'weight' },
      ]),
      [],
    );
  });

  test('each dropout layer is reported once, against the nearest batch-statistics layer', () => {
    const warnings = warningsFor([
      { units: 4, dropout: 0.1 },
      { units: 4, normalization: 'batch', dropout: 0.1 },
      { units: 4, normalization: 'ghost-batch' },
    ]);
    assert.equal(warnings.length, 2);
    assert.match(warnings[0], /hidden layer 0 .* batch normalization of hidden layer 1/);
    assert.match(warnings[1], /hidden layer 1 .* ghost batch normalization of hidden layer 2/);
  });
});
