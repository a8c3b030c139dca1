import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { Worker } from 'bullmq';
import { createTrainingWorker } from '../../jobs/training-worker';
import { buildApp } from '../../src/app';
import { startService, xorCsv, type TestService } from '../helpers/app';
import { SseClient, type SseEvent } from '../helpers/sse';
import { waitForReady } from '../helpers/ready';
import supertest from 'supertest';

const EPOCHS = 20;

/**
 * GET /v1/training-jobs/:jobId/events against a listening app and a real worker: what `curl -N`
 * shows while a job trains, what a late client gets, and that a client going away leaves nothing
 * behind.
 */
describe('training job events (SSE)', () => {
  let svc: TestService;
  let base: string;
  let datasetId: string;
  let worker: Worker | undefined;

  const queueJob = async () => {
    const res = await svc.http.post('/v1/training-jobs').send({
      datasetId,
      target: 'label',
      task: 'classification',
      model: { hidden: [{ units: 32, normalization: 'batch' }] },
      training: { epochs: EPOCHS, batchSize: 16, seed: 7, learningRate: 0.01 },
    });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    return res.body.jobId as string;
  };
  const eventsUrl = (jobId: string) => `${base}/v1/training-jobs/${jobId}/events`;
  const openStreams = () => svc.app.metrics.sseClients.get().then((m) => m.values[0]?.value ?? 0);

  before(async () => {
    // The worker is started by the first test, once its client listens.
    svc = await startService({ worker: false });
    await svc.app.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(svc.app.server.address() as AddressInfo).port}`;
    const upload = await svc.http.post('/v1/datasets').set('content-type', 'text/csv').send(xorCsv(240));
    datasetId = upload.body.id;
  });
  after(async () => {
    await worker?.close();
    await svc.close();
  });

  test('a client that goes away leaves no listener and no connection behind', async () => {
    const hub = svc.app.jobEvents;
    const queueEvents = svc.app.queueEvents;
    const listenersBefore = ['progress', 'completed', 'failed', 'active'].map((e) => queueEvents.listenerCount(e));
    const jobId = await queueJob(); // no worker yet: it waits

    const client = await SseClient.open(eventsUrl(jobId));
    assert.equal(client.status, 200);
    assert.match(String(client.headers['content-type']), /^text\/event-stream/);
    const first = await client.next();
    assert.equal(first?.event, 'state');
    assert.deepEqual(first?.data, { jobId, state: 'waiting', progress: { epoch: 0, epochs: EPOCHS }, attempts: 0 });
    assert.equal(hub.subscriberCount(jobId), 1);
    assert.equal(await openStreams(), 1);

    const unsubscribed = once(hub, 'unsubscribed');
    client.abort();
    assert.deepEqual(await unsubscribed, [jobId]);
    assert.equal(hub.subscriberCount(), 0);
    assert.equal(await openStreams(), 0);
    assert.deepEqual(
      ['progress', 'completed', 'failed', 'active'].map((e) => queueEvents.listenerCount(e)),
      listenersBefore,
    );
    const connections = await new Promise<number>((resolve, reject) =>
      svc.app.server.getConnections((error, count) => (error ? reject(error) : resolve(count))),
    );
    assert.equal(connections, 0, 'the server holds no connection for the gone client');
    await svc.app.trainingQueue.remove(jobId);
  });

  test('a waiting job cancelled by DELETE ends the stream as cancelled', async () => {
    const jobId = await queueJob(); // no worker yet: it waits
    const client = await SseClient.open(eventsUrl(jobId));
    assert.equal((await client.next())?.event, 'state');
    const cancelled = await svc.http.delete(`/v1/training-jobs/${jobId}`);
    assert.equal(cancelled.body.state, 'cancelled');
    const end = await client.next();
    assert.equal(end?.event, 'end');
    assert.equal((end?.data as { state: string }).state, 'cancelled');
    await client.ended;
  });

  test('streams each epoch as it finishes, then the final state, then closes', async () => {
    const jobId = await queueJob();
    const client = await SseClient.open(eventsUrl(jobId));
    const waiting = await client.next();
    assert.deepEqual([waiting?.event, (waiting?.data as { state: string }).state], ['state', 'waiting']);

    // The job cannot have started before the stream was open: every epoch below arrived live.
    worker = createTrainingWorker(svc.config);
    const events = await client.rest();
    await client.ended;

    const names = events.map((e) => e.event);
    assert.deepEqual(names, ['state', ...Array(EPOCHS).fill('epoch'), 'end'], names.join(','));
    assert.equal((events[0].data as { state: string }).state, 'active');
    const epochs = events.filter((e) => e.event === 'epoch') as (SseEvent & {
      data: { epoch: number; trainingModeLoss: number };
    })[];
    assert.deepEqual(
      epochs.map((e) => e.data.epoch),
      Array.from({ length: EPOCHS }, (_, i) => i + 1),
    );
    assert.deepEqual(
      epochs.map((e) => e.id),
      epochs.map((e) => String(e.data.epoch)),
    );
    for (const e of epochs) assert.equal(typeof e.data.trainingModeLoss, 'number');

    const end = events[events.length - 1] as SseEvent & { data: Record<string, unknown> };
    assert.equal(end.id, 'end');
    assert.equal(end.data.state, 'completed');
    assert.match(String(end.data.modelId), /^mdl_/);
    assert.deepEqual(end.data.progress, { epoch: EPOCHS, epochs: EPOCHS });
    assert.equal('metrics' in end.data, false, 'the end event does not repeat the streamed metrics');

    // Live, not replayed at the end: the first epoch reached the client before the job finished.
    const job = await svc.app.trainingQueue.getJob(jobId);
    assert.ok(job?.finishedOn, 'the job has finished');
    assert.ok(
      epochs[0].receivedAt < job.finishedOn,
      `epoch 1 at ${epochs[0].receivedAt}, job finished at ${job.finishedOn}`,
    );

    // The GET view agrees with what was streamed.
    const view = await svc.http.get(`/v1/training-jobs/${jobId}`);
    assert.deepEqual(
      view.body.metrics,
      epochs.map((e) => e.data),
    );
    assert.equal(svc.app.jobEvents.subscriberCount(), 0);
  });

  test('a late client gets every epoch and the end at once; Last-Event-ID resumes', async () => {
    const jobId = await queueJob();
    await svc.waitForJob(jobId);

    const late = await SseClient.open(eventsUrl(jobId));
    const events = await late.rest();
    assert.deepEqual(
      events.map((e) => e.event),
      [...Array(EPOCHS).fill('epoch'), 'end'],
    );
    assert.equal((events[EPOCHS].data as { state: string }).state, 'completed');

    const resumed = await SseClient.open(eventsUrl(jobId), { 'last-event-id': '15' });
    const rest = await resumed.rest();
    assert.deepEqual(
      rest.map((e) => e.id),
      ['16', '17', '18', '19', '20', 'end'],
    );

    const done = await SseClient.open(eventsUrl(jobId), { 'last-event-id': 'end' });
    assert.equal(done.status, 204, 'tells an EventSource to stop reconnecting');
    await done.ended;
  });

  test('closing the app ends open streams instead of waiting for their jobs', async () => {
    if (worker) await worker.close(); // keep the job waiting
    worker = undefined;
    const replica = await buildApp(svc.config);
    await replica.listen({ port: 0, host: '127.0.0.1' });
    const url = `http://127.0.0.1:${(replica.server.address() as AddressInfo).port}`;
    await waitForReady(supertest(url));
    const jobId = await queueJob();
    const client = await SseClient.open(`${url}/v1/training-jobs/${jobId}/events`);
    assert.equal((await client.next())?.event, 'state');
    await replica.close();
    await client.ended;
    assert.equal(replica.jobEvents.subscriberCount(), 0);
    await svc.app.trainingQueue.remove(jobId);
  });

  test('an unknown job is a JSON 404, not a stream', async () => {
    const res = await svc.http.get('/v1/training-jobs/nope/events');
    assert.equal(res.status, 404);
    assert.equal(res.body.error.code, 'JOB_NOT_FOUND');
  });
});
