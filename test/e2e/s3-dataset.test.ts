import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CreateBucketCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { startService, xorCsv, type TestService } from '../helpers/app';

// s3rver ships no types.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const S3rver = require('s3rver') as new (options: object) => { run(): Promise<unknown>; close(): Promise<void> };

/**
 * DATASET_STORE=s3 end to end: the API stores the upload in a real S3-protocol server (s3rver,
 * started here), the worker's sandboxed training process reads it from there, and the model
 * predicts. Nothing of the dataset is in Redis.
 */
describe('datasets in S3: upload → train → predict', () => {
  let svc: TestService;
  let server: { close(): Promise<void> };
  let client: S3Client;
  let dir: string;
  const bucket = 'fitwell-e2e';

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 's3rver-'));
    server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: dir });
    const { port } = await (server as unknown as { run(): Promise<{ port: number }> }).run();
    const endpoint = `http://127.0.0.1:${port}`;
    // The SDK's standard credential variables, inherited by the worker and its training processes.
    process.env.AWS_ACCESS_KEY_ID = 'S3RVER';
    process.env.AWS_SECRET_ACCESS_KEY = 'S3RVER';
    client = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true });
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
    svc = await startService({
      env: { DATASET_STORE: 's3', DATASET_S3_BUCKET: bucket, DATASET_S3_ENDPOINT: endpoint },
    });
  });
  after(async () => {
    await svc.close();
    client.destroy();
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('the dataset lives in the bucket and trains from there', async () => {
    const upload = await svc.http.post('/v1/datasets').type('text/csv').send(xorCsv(200));
    assert.equal(upload.status, 201, upload.text);
    const objects = await client.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: `${svc.config.redisPrefix}/datasets/${upload.body.id}/` }),
    );
    assert.deepEqual((objects.Contents ?? []).map((o) => o.Key!.split('/').pop()).sort(), ['chunk-0', 'dataset.json']);
    assert.deepEqual(await svc.app.redis.keys(`${svc.config.redisPrefix}:dataset*`), [], 'nothing of it in Redis');
    assert.equal((await svc.http.get('/v1/datasets')).body.total, 1);

    const queued = await svc.http.post('/v1/training-jobs').send({
      datasetId: upload.body.id,
      target: 'label',
      task: 'classification',
      training: { epochs: 3, seed: 7 },
    });
    assert.equal(queued.status, 202, queued.text);
    await svc.waitForJob(queued.body.jobId);
    const job = await svc.http.get(`/v1/training-jobs/${queued.body.jobId}`);
    assert.equal(job.body.state, 'completed', JSON.stringify(job.body.error));
    const predicted = await svc.http
      .post(`/v1/models/${job.body.modelId}/predict`)
      .send({ rows: [{ a: 0.5, b: 0.5, color: 'red' }] });
    assert.equal(predicted.status, 200, predicted.text);
    assert.ok(['yes', 'no'].includes(predicted.body.predictions[0]));
  });
});
