import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { launchChromium } from '../helpers/browser';
import { startService, xorCsv, type TestService } from '../helpers/app';

const KEY = 'dashboard-test-key-0123456789';
const EPOCHS = 3;

/**
 * The job dashboard in headless Chromium (Debian's chromium; the test fails without it), against
 * a listening app with API keys on and a real worker: a browser without the key gets a login
 * challenge, with it the training queue and its job, progress as epochs, data as the request.
 */
describe('job dashboard (bull-board) in Chromium', () => {
  let svc: TestService;
  let base: string;
  let jobId: string;
  let browser: Awaited<ReturnType<typeof launchChromium>> | undefined;
  const auth = { authorization: `Bearer ${KEY}` };

  before(async () => {
    svc = await startService({ env: { API_KEYS: KEY } });
    await svc.app.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(svc.app.server.address() as AddressInfo).port}`;
    const upload = await svc.http.post('/v1/datasets').set(auth).set('content-type', 'text/csv').send(xorCsv(60));
    const queued = await svc.http
      .post('/v1/training-jobs')
      .set(auth)
      .send({
        datasetId: upload.body.id,
        target: 'label',
        task: 'classification',
        training: { epochs: EPOCHS, seed: 2 },
      });
    assert.equal(queued.status, 202, JSON.stringify(queued.body));
    jobId = queued.body.jobId;
    await svc.waitForJob(jobId);
  });
  after(async () => {
    await browser?.close();
    await svc.close();
  });

  test('the board API shows progress as epochs of epochs and the request as job data', async () => {
    const res = await svc.http.get('/admin/queues/api/queues?activeQueue=training&status=completed').set(auth);
    assert.equal(res.status, 200, res.text);
    const queue = res.body.queues.find((q: { name: string }) => q.name === 'training');
    const job = queue.jobs.find((j: { id: string }) => j.id === jobId);
    assert.deepEqual(job.progress, { progress: 100, epoch: EPOCHS, epochs: EPOCHS });
    assert.equal(job.data.request.target, 'label');
    assert.equal(job.data.request.training.epochs, EPOCHS);
    assert.equal(job.name, 'classification → label');
    assert.match(job.returnValue.modelId, /^mdl_/);

    const anonymous = await svc.http.get('/admin/queues/api/queues');
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.body.error.code, 'UNAUTHORIZED');
  });

  test('a browser is challenged for the key, then sees the training queue with the job', async () => {
    browser = await launchChromium();
    // Without the key Chromium is challenged for HTTP Basic credentials: a headed browser shows its
    // login prompt; headless, with none to give, the navigation fails on exactly that.
    const anonymous = await browser.context.newPage();
    await assert.rejects(anonymous.goto(`${base}/admin/queues`), /ERR_INVALID_AUTH_CREDENTIALS/);
    await anonymous.close();
    const challenge = await browser.context.request.get(`${base}/admin/queues`);
    assert.equal(challenge.status(), 401);
    assert.match(challenge.headers()['www-authenticate'], /^Basic realm=/);

    // The login prompt's answer: any user name, the key as the password.
    await browser.context.setHTTPCredentials({ username: 'ops', password: KEY });
    const page = await browser.context.newPage();

    const overview = await page.goto(`${base}/admin/queues`);
    assert.equal(overview?.status(), 200);
    await page
      .getByRole('link', { name: /training/ })
      .first()
      .waitFor();

    await page.goto(`${base}/admin/queues/queue/training?status=completed`);
    await page.getByText(jobId).waitFor();
    await page.getByText('classification → label').waitFor();
    await page.getByText('100%').first().waitFor();
    const data = await page.locator('body').innerText();
    assert.match(data, /target:\s*"label"/, 'the job data is the training request, not a blob');

    await page
      .getByRole('button', { name: 'Progress' })
      .or(page.getByText('Progress', { exact: true }))
      .first()
      .click();
    await page
      .getByText(/epochs:\s*3/)
      .first()
      .waitFor();
    await page.close();
  });
});
