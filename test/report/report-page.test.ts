import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { reportPage } from '../../src/report/report-page';
import { VERDICTS } from '../../src/schemas/api.schema';
import { trainingRequestSchema } from '../../src/schemas/training-request.schema';
import { diagnose } from '../../src/training/diagnosis';

/** The report page's diagnosis badge: every verdict has its own colour and is shown with its evidence. */
describe('report page: the diagnosis badge', () => {
  test('every verdict has a badge colour', () => {
    const page = reportPage(
      {
        jobId: 'j1',
        state: 'completed',
        request: trainingRequestSchema.parse({ datasetId: 'ds', target: 'y', task: 'classification' }),
        seed: 1,
        createdAt: '2025-01-01T00:00:00.000Z',
        metrics: [],
        provisional: false,
      },
      '<svg></svg>',
    );
    for (const verdict of VERDICTS) {
      assert.match(page, new RegExp(`\\.verdict\\.${verdict} \\{ background: #[0-9a-f]{6}; \\}`), verdict);
    }
  });

  test('a still-improving run of the suite: the badge, its reasons and the standard error', () => {
    const fixture = JSON.parse(
      readFileSync(
        join(
          __dirname,
          '..',
          '..',
          '..',
          'test',
          'fixtures',
          'diagnosis-suite',
          'still-improving-regression-short.json',
        ),
        'utf8',
      ),
    );
    const request = trainingRequestSchema.parse(fixture.request);
    const diagnosis = diagnose({ ...fixture.input, request });
    assert.equal(diagnosis.verdict, 'still-improving');
    const page = reportPage(
      {
        jobId: 'j2',
        state: 'completed',
        request,
        seed: 12,
        createdAt: '2025-01-01T00:00:00.000Z',
        metrics: fixture.input.metrics,
        diagnosis,
        provisional: false,
      },
      '<svg></svg>',
    );
    assert.ok(page.includes('<span class="verdict still-improving">still-improving</span>'));
    assert.ok(page.includes('<th>standard error of the validation loss</th>'));
    assert.ok(page.includes('Train longer: the validation loss was still falling at epoch 15'));
  });
});
