import fp from 'fastify-plugin';
import { Readable } from 'node:stream';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { enqueueBatchPrediction } from '../jobs/batch-prediction-queue';
import { AppError, invalid } from '../src/errors';
import { quoteNames } from '../src/data/column-names';
import { requireRedis } from '../src/http/redis-errors';
import { errorSchema, idParams } from '../src/schemas/api.schema';
import {
  batchPredictionRequestSchema,
  batchPredictionSchema,
  enqueuedBatchPredictionSchema,
  type BatchPredictionJobData,
} from '../src/schemas/batch-prediction.schema';
import {
  csvLine,
  datasetMismatch,
  defaultIdColumns,
  resultCells,
  resultColumnNames,
} from '../src/serving/batch-predict';
import { resolveModelRef } from '../src/serving/model-ref';
import { BatchPredictionRepository } from '../src/store/batch-prediction-repository';
import { BatchPredictionStore } from '../src/store/batch-prediction-store';

/**
 * Batch prediction: a stored dataset through a stored model on the worker, a chunk at a time;
 * status, cancellation and the results as CSV. The queue is made by the app (src/app.ts).
 */
const batchPredictionRoutes: FastifyPluginAsyncZod = async (app) => {
  const { datasets, models, modelRegistry: registry, redis, config, batchPredictionQueue: queue } = app;
  const store = new BatchPredictionStore(redis, config.redisPrefix, config.jobKeepSeconds);
  const batches = new BatchPredictionRepository(queue, store);
  app.addHook('onRequest', requireRedis(redis));

  app.post(
    '/batch-predictions',
    {
      schema: {
        operationId: 'createBatchPrediction',
        description:
          'Checks now that the model can predict the dataset (every feature a column of the same type) and queues ' +
          'the batch on its own queue. A worker predicts the dataset a stored chunk at a time (DATASET_CHUNK_ROWS ' +
          'rows) through the path /v1 predict takes; a worker that dies hands the batch to another, which does only ' +
          'the chunks not yet recorded.',
        body: batchPredictionRequestSchema,
        response: { 202: enqueuedBatchPredictionSchema, 400: errorSchema, 404: errorSchema },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const modelId = await resolveModelRef(registry, body.modelId);
      const model = await models.meta(modelId);
      const dataset = await datasets.meta(body.datasetId);
      const mismatch = datasetMismatch(model.preprocessing, dataset.columns);
      if (mismatch)
        throw invalid('VALIDATION', `model "${modelId}" cannot predict dataset "${dataset.id}": ${mismatch}`);
      const idColumns = body.idColumns ?? defaultIdColumns(dataset.columns);
      const unknown = idColumns.filter((name) => !dataset.columns.some((column) => column.name === name));
      if (unknown.length) {
        throw invalid(
          'VALIDATION',
          `idColumns: the dataset has no column ${quoteNames(unknown)}; columns: ${quoteNames(dataset.columns.map((c) => c.name))}`,
        );
      }
      const target = model.preprocessing.target;
      const data: BatchPredictionJobData = {
        modelRef: body.modelId,
        modelId,
        datasetId: dataset.id,
        idColumns,
        saveAsDataset: body.saveAsDataset,
        rows: dataset.rows,
        chunks: datasets.chunkCount(dataset),
        chunkRows: dataset.storage?.chunkRows ?? dataset.rows,
        ...(target.task === 'classification' ? { classes: target.classes } : {}),
        createdAt: new Date().toISOString(),
      };
      const batchId = await enqueueBatchPrediction(queue, data);
      return reply.status(202).send({ batchId, state: 'waiting' as const, modelId });
    },
  );

  app.get(
    '/batch-predictions/:batchId',
    {
      schema: {
        operationId: 'getBatchPrediction',
        description: 'State, progress (chunks and rows done of all), the error of a failed batch, the results.',
        params: idParams('batchId'),
        response: { 200: batchPredictionSchema, 404: errorSchema },
      },
    },
    async (request) => batches.view(request.params.batchId),
  );

  app.get(
    '/batch-predictions/:batchId/results.csv',
    {
      schema: {
        operationId: 'getBatchPredictionResults',
        description:
          'The results, streamed as CSV, one line per dataset row in dataset order: the id columns (or `row`, the ' +
          'row index from 0), `prediction`, and for classification `probability_<class>` per class (the float32 ' +
          'values /v1 predict returns). 409 until the batch has completed.',
        params: idParams('batchId'),
        response: {
          200: {
            description: 'CSV with a header line',
            content: { 'text/csv': { schema: z.custom<Readable>().meta({ type: 'string' }) } },
          },
          404: errorSchema,
          409: errorSchema,
        },
      },
    },
    async (request, reply) => {
      const { batchId } = request.params;
      const data = await batches.completed(batchId);
      // Checked before the first byte: a result that expired cannot become a half-sent 200.
      const done = await store.doneChunks(batchId);
      if (done.size !== data.chunks) throw new AppError('BATCH_PREDICTION_NOT_FOUND', { id: batchId });
      async function* lines() {
        yield csvLine(resultColumnNames(data.idColumns, data.classes));
        for (let index = 0; index < data.chunks; index++) {
          const result = await store.chunkResult(batchId, index);
          if (!result) throw new Error(`batch ${batchId}: the results of chunk ${index} are missing`);
          let text = '';
          for (const cells of resultCells(result, index * data.chunkRows, data.classes)) text += csvLine(cells);
          yield text;
        }
      }
      return reply
        .type('text/csv; charset=utf-8')
        .header('content-disposition', `attachment; filename="${batchId}.csv"`)
        .send(Readable.from(lines()));
    },
  );

  app.delete(
    '/batch-predictions/:batchId',
    {
      schema: {
        operationId: 'cancelBatchPrediction',
        description:
          'A waiting batch is removed ("cancelled"); a running one stops after its current chunk ("cancelling") and ' +
          'its partial results are deleted. 409 for a batch that has already finished.',
        params: idParams('batchId'),
        response: {
          202: z.object({ batchId: z.string(), state: z.enum(['cancelled', 'cancelling']) }),
          404: errorSchema,
          409: errorSchema,
        },
      },
    },
    async (request, reply) => {
      const { batchId } = request.params;
      return reply.status(202).send({ batchId, state: await batches.cancel(batchId) });
    },
  );
};

export default fp(batchPredictionRoutes, {
  name: 'fitwell-routes-batch-predictions',
  dependencies: [
    'fitwell-config',
    'fitwell-redis',
    'fitwell-datasets',
    'fitwell-model-store',
    'fitwell-model-registry',
    'fitwell-batch-prediction-queue',
  ],
  encapsulate: true,
});
