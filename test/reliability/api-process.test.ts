import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Queue } from 'bullmq';
import { TRAINING_QUEUE, enqueueTraining } from '../../jobs/training-queue';
import { trainingRequestSchema } from '../../src/schemas/training-request.schema';
import { startService, xorCsv, type TestService } from '../helpers/app';
import { startServiceProcess, stopWorkerProcess, type WorkerProcess } from '../helpers/worker-process';

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** A real API process and what happens to it: SIGKILL after a 202, SIGTERM mid-request. */
describe('the API process', () => {
  let svc: TestService;
  const processes: WorkerProcess[] = [];

  before(async () => {
    // The in-process app here only reads results; the API under test is a separate process.
    svc = await startService({ worker: false });
  });
  after(async () => {
    await Promise.all(processes.map(stopWorkerProcess));
    await svc.close();
  });

  async function startApi(env: Record<string, string> = {}): Promise<{ api: WorkerProcess; base: string }> {
    const port = await freePort();
    const api = startServiceProcess('api', svc.config, { PORT: String(port), LOG_LEVEL: 'info', ...env });
    processes.push(api);
    await api.ready;
    return { api, base: `http://127.0.0.1:${port}` };
  }

  test('a 202 is never lost: the job survives SIGKILL of the API that accepted it', async () => {
    const { api, base } = await startApi();
    const upload = await fetch(`${base}/v1/datasets`, {
      method: 'POST',
      headers: { 'content-type': 'text/csv' },
      body: xorCsv(60),
    });
    const { id: datasetId } = (await upload.json()) as { id: string };
    const accepted = await fetch(`${base}/v1/training-jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ datasetId, target: 'label', task: 'classification', training: { epochs: 2, seed: 1 } }),
    });
    assert.equal(accepted.status, 202);
    const { jobId } = (await accepted.json()) as { jobId: string };
    api.child.kill('SIGKILL');
    await api.exited;

    // A worker started only now finds the job in Redis and trains it.
    const worker = startServiceProcess('worker', svc.config);
    processes.push(worker);
    await svc.waitForJob(jobId, 120_000);
    const job = await svc.http.get(`/v1/training-jobs/${jobId}`);
    assert.equal(job.body.state, 'completed');
    assert.match(job.body.modelId, /^mdl_/);
  });

  test('SIGTERM: the API refuses new connections, finishes the request in flight, exits 0', async () => {
    const { api, base } = await startApi({ SHUTDOWN_GRACE_MS: '10000' });
    const { port } = new URL(base);
    const csv = xorCsv(4_000);
    const half = Math.floor(csv.length / 2);
    // An upload whose body arrives in two parts, with the SIGTERM in between.
    const response = new Promise<{ status: number; body: string }>((resolve, reject) => {
      const request = http.request(
        {
          host: '127.0.0.1',
          port,
          method: 'POST',
          path: '/v1/datasets',
          headers: { 'content-type': 'text/csv', 'content-length': Buffer.byteLength(csv) },
        },
        (res) => {
          let body = '';
          res.on('data', (chunk) => (body += chunk));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      request.on('error', reject);
      request.write(csv.slice(0, half));
      setTimeout(() => {
        api.child.kill('SIGTERM');
        // Give the process a moment to close its listening socket, then try a new connection.
        setTimeout(() => {
          const probe = net.connect({ host: '127.0.0.1', port: Number(port) });
          probe.on('connect', () => {
            probe.destroy();
            reject(new Error('a new connection was accepted after SIGTERM'));
          });
          probe.on('error', () => request.end(csv.slice(half)));
        }, 300);
      }, 100);
    });
    const { status, body } = await response;
    assert.equal(status, 201, body);
    assert.equal(JSON.parse(body).rows, 4_000);
    assert.equal(await api.exited, 0);
  });

  test('an invalid job fails at once, without retries', async () => {
    // Put there directly, as a buggy or older client could: the API would have refused it.
    const queue = new Queue(TRAINING_QUEUE, {
      connection: { url: svc.config.redisUrl },
      prefix: svc.config.redisPrefix,
    });
    const request = trainingRequestSchema.parse({ datasetId: 'ds_gone', target: 'label', task: 'classification' });
    const jobId = await enqueueTraining(queue as never, request, 1);
    await queue.close();
    const worker = startServiceProcess('worker', svc.config, { JOB_BACKOFF_MS: '100' });
    processes.push(worker);
    await assert.rejects(svc.waitForJob(jobId, 60_000), /dataset "ds_gone" does not exist/);
    const job = await svc.http.get(`/v1/training-jobs/${jobId}`);
    assert.equal(job.body.state, 'failed');
    assert.equal(job.body.attempts, 1, 'no retry for a job that can never succeed');
  });
});
