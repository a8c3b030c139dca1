import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { launchChromium } from '../helpers/browser';
import { startService, type TestService } from '../helpers/app';
import { overfitCsv } from '../helpers/overfit-data';

/**
 * GET /v1/training-jobs/:jobId/curves.svg and /report against the real app and worker, and the
 * report page in a real headless chromium. FITWELL_REPORT_SCREENSHOT=docs/report.png also
 * writes the screenshot there (how the README's picture is made).
 */

const overfitRequest = (datasetId: string) => ({
  datasetId,
  target: 'label',
  task: 'classification',
  model: { hidden: [{ units: 256 }, { units: 256 }] },
  training: { epochs: 40, batchSize: 16, learningRate: 0.001, validationSplit: 0.3, seed: 1 },
  // The evaluation's charts: confusion matrix, ROC, reliability (calibrated), importance.
  evaluation: { calibration: 'temperature', importance: { repeats: 2 } },
});

describe('curves and report of a finished job', () => {
  let svc: TestService;
  let jobId: string;
  before(async () => {
    svc = await startService();
    const upload = await svc.http
      .post('/v1/datasets')
      .set('content-type', 'text/csv')
      .send(overfitCsv({ noiseFeatures: 20 }));
    assert.equal(upload.status, 201, JSON.stringify(upload.body));
    const queued = await svc.http.post('/v1/training-jobs').send(overfitRequest(upload.body.id));
    assert.equal(queued.status, 202, JSON.stringify(queued.body));
    jobId = queued.body.jobId;
    await svc.waitForJob(jobId);
  });
  after(async () => {
    await svc.close();
  });

  test('curves.svg: an SVG chart with both series and the epoch of lowest validation loss marked', async () => {
    const res = await svc.http.get(`/v1/training-jobs/${jobId}/curves.svg`).buffer(true);
    assert.equal(res.status, 200);
    assert.match(res.headers['content-type'], /^image\/svg\+xml/);
    const svg = svgText(res.body);
    assert.match(svg, /^<svg[^>]+xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    assert.match(svg, /<\/svg>$/);
    for (const label of ['training', 'validation', 'loss', 'accuracy', 'epoch']) {
      assert.ok(svg.includes(`>${label}<`), `the chart shows "${label}"`);
    }
    const job = (await svc.http.get(`/v1/training-jobs/${jobId}`)).body;
    assert.equal(job.diagnosis.verdict, 'overfit');
    const lowest = job.diagnosis.evidence.valLossBestEpoch;
    assert.ok(svg.includes(`lowest validation loss: epoch ${lowest}`), 'the turning epoch is marked');
    // Vega draws one path per series: 2 in each of the two panels.
    assert.ok((svg.match(/class="mark-line role-mark/g) ?? []).length >= 2);
  });

  test('an unknown job is a JSON 404 for both routes', async () => {
    for (const path of ['curves.svg', 'report']) {
      const res = await svc.http.get(`/v1/training-jobs/no-such-job/${path}`);
      assert.equal(res.status, 404);
      assert.equal(res.body.error.code, 'JOB_NOT_FOUND');
    }
  });

  test('the report page in chromium: loads without console errors and shows the chart and diagnosis', async () => {
    await svc.app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = svc.app.server.address() as { port: number };
    const chromium = await launchChromium({ viewport: { width: 1040, height: 900 } });
    const shots = mkdtempSync(join(tmpdir(), 'fitwell-report-'));
    try {
      const page = await chromium.context.newPage();
      const problems: string[] = [];
      page.on('console', (msg) => {
        if (msg.type() === 'error' || msg.type() === 'warning') problems.push(`console ${msg.type()}: ${msg.text()}`);
      });
      page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
      page.on('requestfailed', (request) => problems.push(`request failed: ${request.url()}`));
      const response = await page.goto(`http://127.0.0.1:${port}/v1/training-jobs/${jobId}/report`, {
        waitUntil: 'load',
      });
      assert.equal(response?.status(), 200);
      assert.match(response?.headers()['content-type'] ?? '', /^text\/html/);
      assert.match(response?.headers()['content-security-policy'] ?? '', /default-src 'none'/);

      const chart = page.locator('#curves svg.marks');
      assert.equal(await chart.count(), 1, 'one chart');
      const box = await chart.boundingBox();
      assert.ok(
        box && box.width > 400 && box.height > 300,
        `the chart is drawn at a real size: ${JSON.stringify(box)}`,
      );
      assert.ok(await chart.isVisible());
      assert.ok(
        (await page.locator('#curves svg path.mark-line, #curves svg .mark-line path').count()) >= 2,
        'curves are drawn',
      );
      assert.equal((await page.locator('.verdict').first().textContent())?.trim(), 'overfit');
      assert.ok(await page.locator('#diagnosis .suggestions li', { hasText: 'Add L2' }).isVisible());
      assert.ok(await page.locator('#sparsity table').isVisible(), 'sparsity per layer');
      for (const id of ['confusion-chart', 'roc-chart', 'reliability-chart', 'importance-chart']) {
        const figure = page.locator(`#${id} svg.marks`);
        assert.equal(await figure.count(), 1, `${id} is drawn`);
        const size = await figure.boundingBox();
        assert.ok(size && size.width > 150 && size.height > 100, `${id} at a real size: ${JSON.stringify(size)}`);
      }
      // 2 × 2 cells of the confusion matrix, one bar per input column (20 noise features and more).
      assert.equal(await page.locator('#confusion-chart svg .mark-rect.role-mark path').count(), 4);
      assert.ok((await page.locator('#importance-chart svg .mark-rect.role-mark path').count()) >= 20);
      assert.ok(await page.locator('#evaluation', { hasText: 'ROC AUC' }).isVisible());
      assert.ok(await page.locator('#config').isVisible());
      assert.deepEqual(problems, []);

      const png = join(shots, 'report.png');
      await page.screenshot({ path: png, fullPage: true });
      const bytes = readFileSync(png);
      assert.deepEqual([...bytes.subarray(1, 4)], [0x50, 0x4e, 0x47], 'a PNG');
      if (process.env.FITWELL_REPORT_SCREENSHOT) copyFileSync(png, process.env.FITWELL_REPORT_SCREENSHOT);
    } finally {
      await chromium.close();
      rmSync(shots, { recursive: true, force: true });
    }
  });
});

describe('curves of a job that has not started', () => {
  let svc: TestService;
  before(async () => {
    svc = await startService({ worker: false });
  });
  after(async () => {
    await svc.close();
  });

  test('200 with a valid SVG that says no epoch has finished; the report says so too', async () => {
    const upload = await svc.http
      .post('/v1/datasets')
      .set('content-type', 'text/csv')
      .send(overfitCsv({ rows: 20 }));
    const queued = await svc.http.post('/v1/training-jobs').send(overfitRequest(upload.body.id));
    const res = await svc.http.get(`/v1/training-jobs/${queued.body.jobId}/curves.svg`).buffer(true);
    assert.equal(res.status, 200);
    assert.match(res.headers['content-type'], /^image\/svg\+xml/);
    assert.match(svgText(res.body), /^<svg/);
    assert.ok(svgText(res.body).includes('No epoch has finished yet (job waiting).'));
    const report = await svc.http.get(`/v1/training-jobs/${queued.body.jobId}/report`);
    assert.equal(report.status, 200);
    assert.match(report.text, /None yet: no epoch has finished/);
  });
});

/** supertest reads image/* responses as binary: the SVG's text. */
function svgText(body: unknown): string {
  assert.ok(Buffer.isBuffer(body), 'an image/svg+xml body');
  return body.toString('utf8');
}
