import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { MAX_CROSS_VALIDATION_ROWS } from '../../src/training/trainable';
import { startService, xorCsv, type TestService } from '../helpers/app';

/**
 * Requests that would train into nonsense are refused at submission with a 400 that names the
 * field and the reason (issue 10's numerical audit): batch statistics from one row, ghost-batch
 * shards of one row, weight decay that zeroes or flips every kernel in one step, and a training
 * set of one row under batch statistics. Before these checks each was accepted and the job
 * "completed" (batchSize 1 with batch norm: NaN loss, weights never updated).
 */
describe('training requests the numerics cannot train', () => {
  let svc: TestService;
  let datasetId: string;

  before(async () => {
    svc = await startService();
    datasetId = (await svc.http.post('/v1/datasets').set('content-type', 'text/csv').send(xorCsv(60))).body.id;
  });
  after(async () => {
    await svc.close();
  });

  const submit = (body: Record<string, unknown>, dataset = datasetId) =>
    svc.http.post('/v1/training-jobs').send({ datasetId: dataset, target: 'label', task: 'classification', ...body });

  function expect400(
    res: { status: number; body: { error?: { code: string; message: string } } },
    code: string,
    message: RegExp,
  ) {
    assert.equal(res.status, 400, JSON.stringify(res.body));
    assert.equal(res.body.error?.code, code, JSON.stringify(res.body));
    assert.match(res.body.error.message, message);
  }

  for (const normalization of ['batch', 'sync-batch', 'ghost-batch']) {
    test(`batchSize 1 with ${normalization} normalization: 400 at training.batchSize, saying why`, async () => {
      const res = await submit({
        model: { hidden: [{ units: 4 }, { units: 4, normalization }] },
        training: { batchSize: 1, epochs: 1 },
      });
      expect400(
        res,
        'VALIDATION',
        new RegExp(
          `^training\\.batchSize: batchSize 1 cannot train model\\.hidden\\[1\\]'s "${normalization}" normalization: ` +
            'the variance of a batch of one row is 0.*received 1$',
        ),
      );
    });
  }

  test('cross-validation on a dataset above MAX_CROSS_VALIDATION_ROWS: 400 naming the limit', async () => {
    const upload = await svc.http.post('/v1/datasets').set('content-type', 'text/csv').send(xorCsv(60));
    // The stored metadata of a dataset one row above the limit (uploading one would take minutes).
    const meta = await svc.app.datasets.meta(upload.body.id);
    await svc.app.datasets.backend.setField(
      meta.id,
      'meta',
      JSON.stringify({ ...meta, rows: MAX_CROSS_VALIDATION_ROWS + 1 }),
    );
    const res = await submit({ validation: { folds: 3 }, training: { epochs: 1 } }, meta.id);
    expect400(
      res,
      'INVALID_TRAINING_REQUEST',
      /^validation\.folds: cross-validation reads the whole dataset into memory, so it is limited to 1,000,000 rows \(MAX_CROSS_VALIDATION_ROWS\), and dataset ds_\S+ has 1,000,001;/,
    );
    // The same request without validation trains from chunks and is accepted.
    const plain = await submit({ training: { epochs: 1 } }, meta.id);
    assert.equal(plain.status, 202, JSON.stringify(plain.body));
    await svc.http.delete(`/v1/training-jobs/${plain.body.jobId}`);
  });

  test('batchSize 1 without batch statistics (layer norm, none) is accepted', async () => {
    const res = await submit({
      model: { hidden: [{ units: 4, normalization: 'layer' }, { units: 4 }] },
      training: { batchSize: 1, epochs: 1 },
    });
    assert.equal(res.status, 202, JSON.stringify(res.body));
  });

  test('ghost-batch: a batch size that leaves one-row shards is refused, naming the replicas', async () => {
    const hidden = [{ units: 4, normalization: { type: 'ghost-batch', replicas: 4 } }];
    expect400(
      await submit({ model: { hidden }, training: { batchSize: 7, epochs: 1 } }),
      'VALIDATION',
      /^training\.batchSize: batchSize 7 splits into shards of one row for model\.hidden\[0\]'s "ghost-batch" normalization with 4 replicas.*use batchSize ≥ 8 .*received 7$/,
    );
    const ok = await submit({ model: { hidden }, training: { batchSize: 8, epochs: 1 } });
    assert.equal(ok.status, 202, JSON.stringify(ok.body));
  });

  test('learningRate × weightDecay ≥ 1: 400 at the weight decay (global or per layer), saying why', async () => {
    expect400(
      await submit({ regularization: { weightDecay: 2 }, training: { learningRate: 0.5 } }),
      'VALIDATION',
      /^regularization\.weightDecay: learningRate × weightDecay must be below 1: .*1 − lr·λ.*received weightDecay 2 with learningRate 0\.5 \(product 1\)$/,
    );
    expect400(
      await submit({
        model: { hidden: [{ units: 4 }, { units: 4, regularization: { weightDecay: 4 } }] },
        training: { optimizer: 'sgd', learningRate: 0.5 },
      }),
      'VALIDATION',
      /^model\.hidden\[1\]\.regularization\.weightDecay: learningRate × weightDecay must be below 1: .*received weightDecay 4 with learningRate 0\.5 \(product 2\)$/,
    );
    // One-cycle steps up to its maxLearningRate, which replaces learningRate: the limit holds there.
    expect400(
      await submit({
        regularization: { weightDecay: 2 },
        training: { learningRate: 0.01, learningRateSchedule: { type: 'one-cycle', maxLearningRate: 0.5 } },
      }),
      'VALIDATION',
      /^regularization\.weightDecay: learningRate × weightDecay must be below 1: .*received weightDecay 2 with learningRate 0\.5 \(product 1\)$/,
    );
    const ok = await submit({ regularization: { weightDecay: 5 }, training: { learningRate: 0.1, epochs: 1 } });
    assert.equal(ok.status, 202, JSON.stringify(ok.body));
  });

  test('a training set of one row under batch statistics: 400 at submission when the split makes it certain', async () => {
    const two = (await svc.http.post('/v1/datasets').set('content-type', 'text/csv').send(xorCsv(2))).body.id;
    // Two rows with the default validationSplit 0.2: one is held out, one is left to train on.
    expect400(
      await submit({ model: { hidden: [{ units: 4, normalization: 'batch' }] }, training: { epochs: 1 } }, two),
      'INVALID_TRAINING_REQUEST',
      /model\.hidden\[0\]'s "batch" normalization needs at least 2 training rows: dataset \S+ has 2 rows and the validation split holds out at least 1/,
    );
    // Without validation both rows train, and with layer norm one row would do.
    const batch = { model: { hidden: [{ units: 4, normalization: 'batch' }] } };
    const both = await submit({ ...batch, training: { validationSplit: 0, epochs: 1 } }, two);
    assert.equal(both.status, 202, JSON.stringify(both.body));
    const layer = await submit(
      { model: { hidden: [{ units: 4, normalization: 'layer' }] }, training: { epochs: 1 } },
      two,
    );
    assert.equal(layer.status, 202, JSON.stringify(layer.body));
  });

  test('one training row known only once the targets are read: the job fails with the reason', async () => {
    // Three rows, one without a target: two have one, the validation split takes one. (Regression:
    // for classification one training row is already refused for having a single class.)
    const csv = 'a,b,label\n0.1,0.2,1.5\n0.3,-0.1,2.5\n-0.2,0.4,\n';
    const dataset = (await svc.http.post('/v1/datasets').set('content-type', 'text/csv').send(csv)).body.id;
    const queued = await submit(
      { task: 'regression', model: { hidden: [{ units: 4, normalization: 'batch' }] }, training: { epochs: 1 } },
      dataset,
    );
    assert.equal(queued.status, 202, JSON.stringify(queued.body));
    await assert.rejects(
      svc.waitForJob(queued.body.jobId),
      /model\.hidden\[0\]'s "batch" normalization needs at least 2 training rows, and the split left 1/,
    );
    const job = (await svc.http.get(`/v1/training-jobs/${queued.body.jobId}`)).body;
    assert.equal(job.state, 'failed', JSON.stringify(job));
  });
});
