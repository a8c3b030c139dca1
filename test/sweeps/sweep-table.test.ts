import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { rankRows, settingsLabel } from '../../src/sweeps/sweep-table';
import type { SweepRow } from '../../src/training-jobs/sweep-contract';

const row = (jobId: string, fields: Partial<SweepRow>): SweepRow => ({
  jobId,
  settings: {},
  state: 'completed',
  ...fields,
});

describe('sweep ranking', () => {
  test('by validation loss, ties (to 6 significant digits) by the smaller gap, unfinished runs last', () => {
    const ranked = rankRows([
      row('failed', { state: 'failed', error: 'boom' }),
      row('b', { valLoss: 0.5, gap: 0.3 }),
      row('a', { valLoss: 0.4, gap: 0.35 }),
      row('tie-small-gap', { valLoss: 0.5000000001, gap: 0.1 }),
      row('no-validation', { trainLoss: 0.2 }),
      row('waiting', { state: 'waiting' }),
    ]);
    assert.deepEqual(
      ranked.map((r) => [r.jobId, r.rank]),
      [
        ['a', 1],
        ['tie-small-gap', 2],
        ['b', 3],
        ['no-validation', 4],
        ['failed', undefined],
        ['waiting', undefined],
      ],
    );
  });

  test('labels use the last part of each path, the whole path where two would clash', () => {
    assert.equal(
      settingsLabel({ 'regularization.l2': 0.001, 'model.hidden.*.dropout': 0.3, 'training.earlyStopping': null }),
      'l2=0.001 · dropout=0.3 · earlyStopping=off',
    );
    assert.equal(
      settingsLabel({ 'model.hidden.0.units': 8, 'model.hidden.1.units': 4 }),
      'model.hidden.0.units=8 · model.hidden.1.units=4',
    );
    assert.equal(
      settingsLabel({ 'model.hidden.*.normalization': { type: 'batch' } }),
      'normalization={"type":"batch"}',
    );
  });
});
