import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startService, xorCsv, type TestService } from '../helpers/app';

/**
 * A waiting job cancelled by DELETE is removed from the queue and leaves a record: every route
 * that reads one job (GET, /events, /report, /curves.svg) reads it as cancelled, none as a 404.
 * No worker runs, so the job is still waiting when DELETE arrives.
 */
describe('a waiting job cancelled by DELETE', () => {
  let svc: TestService;
  let jobId: string;

  before(async () => {
    svc = await startService({ worker: false });
    const upload = await svc.http.post('/v1/datasets').set('content-type', 'text/csv').send(xorCsv(60));
    assert.equal(upload.status, 201, JSON.stringify(upload.body));
    const queued = await svc.http.post('/v1/training-jobs').send({
      datasetId: upload.body.id,
      target: 'label',
      task: 'classification',
      model: { hidden: [{ units: 8 }] },
      training: { epochs: 7, seed: 3 },
    });
    assert.equal(queued.status, 202, JSON.stringify(queued.body));
    jobId = queued.body.jobId;
    const cancelled = await svc.http.delete(`/v1/training-jobs/${jobId}`);
    assert.deepEqual([cancelled.status, cancelled.body], [202, { jobId, state: 'cancelled' }]);
    assert.equal(await svc.app.trainingQueue.getJob(jobId), undefined, 'removed from the queue');
  });
  after(async () => {
    await svc.close();
  });

  test('GET reads it as cancelled', async () => {
    const res = await svc.http.get(`/v1/training-jobs/${jobId}`);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.state, 'cancelled');
    assert.deepEqual(res.body.progress, { epoch: 0, epochs: 7 });
    assert.equal(res.body.seed, 3);
  });

  test('/events sends one end event, cancelled, and closes', async () => {
    const res = await svc.http.get(`/v1/training-jobs/${jobId}/events`).buffer(true);
    assert.equal(res.status, 200, res.text);
    assert.match(res.headers['content-type'], /^text\/event-stream/);
    const events = res.text.split('\n\n').filter((block) => /^event: /m.test(block));
    assert.equal(events.length, 1, res.text);
    assert.match(events[0], /^event: end$/m);
    const data = JSON.parse(/^data: (.*)$/m.exec(events[0])![1]) as { jobId: string; state: string };
    assert.deepEqual([data.jobId, data.state], [jobId, 'cancelled']);
  });

  test('/report is a page that says cancelled', async () => {
    const res = await svc.http.get(`/v1/training-jobs/${jobId}/report`);
    assert.equal(res.status, 200, res.text);
    assert.match(res.headers['content-type'], /^text\/html/);
    assert.match(res.text, /cancelled/);
    assert.match(res.text, new RegExp(jobId));
  });

  test('/curves.svg is an SVG that says no epoch finished, job cancelled', async () => {
    const res = await svc.http.get(`/v1/training-jobs/${jobId}/curves.svg`).buffer(true);
    assert.equal(res.status, 200, String(res.body));
    assert.match(res.headers['content-type'], /^image\/svg\+xml/);
    const svg = Buffer.isBuffer(res.body) ? res.body.toString('utf8') : res.text;
    assert.match(svg, /^<svg|<svg /);
    assert.match(svg, /job cancelled/);
  });

  test('a job that never existed is still a 404 everywhere', async () => {
    for (const path of ['', '/events', '/report', '/curves.svg']) {
      const res = await svc.http.get(`/v1/training-jobs/no-such-job${path}`);
      assert.equal(res.status, 404, `${path}: ${res.status}`);
    }
  });
});
