import type { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import fp from 'fastify-plugin';
import { parseJsonRows } from '../src/data/parse-dataset';
import { BodyTooLargeError, ingestUpload, type UploadFormat } from '../src/data/dataset-stream';
import { AppError } from '../src/errors';
import { requireRedis } from '../src/http/redis-errors';
import { datasetSchema, errorSchema, idParams, jsonDatasetSchema } from '../src/schemas/api.schema';
import {
  datasetListQuerySchema,
  datasetListSchema,
  datasetSchemaViewSchema,
  datasetUploadQuerySchema,
} from '../src/schemas/dataset.schema';
import type { DatasetMeta } from '../src/store/dataset-store';
import type { S3DatasetBackend } from '../src/store/s3-dataset-backend';
import { batchPredictionsUsingDataset, jobsUsingDataset } from '../src/training-jobs/dataset-users';

/**
 * A streamed body (CSV, TSV, NDJSON) is not read by fastify: its parser hands the stream over and
 * the handler reads it as it arrives. The body the schema sees is this placeholder string.
 */
const csvText = z.string({ error: 'send text/csv with a header row, or JSON {"rows":[...]}' });

const STREAMED_TYPES: Record<string, { format: UploadFormat; tab?: boolean }> = {
  'text/csv': { format: 'csv' },
  'application/csv': { format: 'csv' },
  'text/plain': { format: 'csv' },
  'text/tab-separated-values': { format: 'csv', tab: true },
  'application/x-ndjson': { format: 'ndjson' },
  'application/ndjson': { format: 'ndjson' },
};

const view = (meta: DatasetMeta) => ({
  id: meta.id,
  rows: meta.rows,
  columns: meta.columns,
  createdAt: meta.createdAt,
  ...(meta.contentHash ? { contentHash: meta.contentHash } : {}),
});

const datasetRoutes: FastifyPluginAsyncZod = async (app) => {
  const { config, datasets, trainingQueue: queue, batchPredictionQueue, redis } = app;
  const limits = { maxRows: config.maxDatasetRows, maxColumns: config.maxDatasetColumns };
  const bodies = new WeakMap<FastifyRequest, Readable>();
  /** Uploads whose publication has been sent: a 503 now could hide a dataset that Redis stores. */
  const publishing = new WeakSet<FastifyRequest>();

  // 503 at once while Redis is frozen or away, and within about a second for a request in flight
  // when it froze; an upload whose publication was sent waits for its answer (the write deadline
  // makes Redis refuse it if it runs too late, so the 503 that follows still means nothing stored).
  app.addHook('onRequest', requireRedis(redis, { mayAnswerInFlight: (request) => !publishing.has(request) }));

  /** Called synchronously just before an upload's publication is sent. */
  function startPublishing(request: FastifyRequest, reply: FastifyReply): void {
    // Answered 503 by the guard while the chunks were written: publish nothing.
    if (reply.sent) throw new AppError('REDIS_UNAVAILABLE');
    publishing.add(request);
  }

  // Object storage keeps no TTL: chunks of uploads whose API died are removed at start.
  // (Duck-typed, so that a Redis deployment never loads the AWS SDK.)
  const backend = datasets.backend as Partial<Pick<S3DatasetBackend, 'cleanupAbandonedUploads'>>;
  if (typeof backend.cleanupAbandonedUploads === 'function') {
    const cleanup = backend.cleanupAbandonedUploads.bind(backend);
    app.addHook('onReady', () => {
      void cleanup().then(
        (ids) => ids.length > 0 && app.log.info({ ids }, 'removed the chunks of abandoned uploads'),
        (error: unknown) =>
          app.log.warn(
            { err: error instanceof Error ? error.message : String(error) },
            'could not clean up abandoned uploads',
          ),
      );
    });
  }

  app.addContentTypeParser(Object.keys(STREAMED_TYPES), (request, payload, done) => {
    bodies.set(request, payload);
    done(null, '');
  });

  app.post(
    '/datasets',
    {
      bodyLimit: config.datasetBodyLimit,
      config: { bodyLimitSetting: 'DATASET_BODY_LIMIT' },
      schema: {
        operationId: 'uploadDataset',
        description:
          'A CSV with a header row (text/csv; text/tab-separated-values; the delimiter detected or given), ' +
          'NDJSON (application/x-ndjson: one JSON object per line) or JSON rows ({"rows":[{column: value}]}). ' +
          'CSV and NDJSON are streamed and may be sent with Content-Encoding: gzip. Every column is typed ' +
          'numeric (all present cells numbers) or categorical; empty cells, NA, NaN and null are missing values.',
        querystring: datasetUploadQuerySchema,
        body: z.union([csvText, jsonDatasetSchema]),
        response: { 201: datasetSchema, 400: errorSchema, 413: errorSchema, 415: errorSchema },
      },
    },
    async (request, reply) => {
      const stream = bodies.get(request);
      let meta: DatasetMeta;
      if (stream === undefined) {
        const body = request.body as z.infer<typeof jsonDatasetSchema>;
        const table = parseJsonRows(body.rows, limits);
        meta = await datasets.save(
          table,
          { format: 'json', bytes: Number(request.headers['content-length'] ?? 0) },
          () => startPublishing(request, reply),
        );
      } else {
        meta = await ingest(request, reply, stream);
      }
      return reply.status(201).send(view(meta));
    },
  );

  async function ingest(request: FastifyRequest, reply: FastifyReply, stream: Readable): Promise<DatasetMeta> {
    const type = STREAMED_TYPES[(request.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase()];
    const encoding = (request.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
    if (encoding !== 'gzip' && encoding !== 'identity') {
      throw new AppError('UNSUPPORTED_MEDIA_TYPE', {
        message: `the content encoding "${encoding.slice(0, 40)}" is not accepted by POST /v1/datasets; send gzip or none`,
      });
    }
    const gzip = encoding === 'gzip';
    const declared = Number(request.headers['content-length']);
    if (!gzip && declared > config.datasetBodyLimit) throw new BodyTooLargeError(config.datasetBodyLimit);
    const { delimiter } = request.query as z.infer<typeof datasetUploadQuerySchema>;
    const upload = datasets.beginUpload();
    try {
      const result = await ingestUpload(
        stream,
        {
          format: type.format,
          delimiter: delimiter ?? (type.tab ? 'tab' : undefined),
          gzip,
          maxBytes: config.datasetBodyLimit,
          spoolDir: config.datasetSpoolDir || undefined,
        },
        { limits, chunkRows: datasets.options.chunkRows, onChunk: (index, bytes) => upload.writeChunk(index, bytes) },
        async (pass) => {
          if (pass === 2) upload.restart();
        },
      );
      startPublishing(request, reply);
      return await upload.publish(result, { format: type.format, bytes: result.bytes });
    } catch (error) {
      await upload.abort();
      throw error;
    }
  }

  app.get(
    '/datasets',
    {
      schema: {
        operationId: 'listDatasets',
        description: 'Datasets, newest first, `limit` at a time from `offset`, and how many there are.',
        querystring: datasetListQuerySchema,
        response: { 200: datasetListSchema },
      },
    },
    async (request) => {
      const { datasets: metas, total } = await datasets.list(request.query.offset, request.query.limit);
      return { datasets: metas.map(view), total };
    },
  );

  app.get(
    '/datasets/:datasetId',
    {
      schema: {
        operationId: 'getDataset',
        description: 'The columns (name and type) and the row count of an uploaded dataset.',
        params: idParams('datasetId'),
        response: { 200: datasetSchema, 404: errorSchema },
      },
    },
    async (request) => view(await datasets.meta(request.params.datasetId)),
  );

  app.get(
    '/datasets/:datasetId/schema',
    {
      schema: {
        operationId: 'getDatasetSchema',
        description:
          "A dataset's schema in one place: the row count and, per column, its name, type, missing cells and " +
          '(categorical columns) its categories.',
        params: idParams('datasetId'),
        response: { 200: datasetSchemaViewSchema, 404: errorSchema },
      },
    },
    async (request) => datasets.schema(request.params.datasetId),
  );

  app.delete(
    '/datasets/:datasetId',
    {
      schema: {
        operationId: 'deleteDataset',
        description:
          'Deletes a dataset: its metadata and every chunk. Refused (409) while a waiting or active training job ' +
          '(a sweep run included) trains on it, or a waiting or active batch prediction reads it. Models trained ' +
          'on it, and the results of finished batch predictions, stay.',
        params: idParams('datasetId'),
        response: { 204: z.undefined().describe('Deleted'), 404: errorSchema, 409: errorSchema },
      },
    },
    async (request, reply) => {
      const { datasetId } = request.params;
      if (!(await datasets.exists(datasetId))) throw new AppError('DATASET_NOT_FOUND', { id: datasetId });
      const [jobs, batches] = await Promise.all([
        jobsUsingDataset(queue, datasetId),
        batchPredictionsUsingDataset(batchPredictionQueue, datasetId),
      ]);
      if (jobs.length > 0 || batches.length > 0) {
        const named = (noun: string, ids: string[]) => {
          const shown = ids
            .slice(0, 5)
            .map((id) => `"${id}"`)
            .join(', ');
          return `${noun}${ids.length > 1 ? 's' : ''} ${shown}${ids.length > 5 ? ` and ${ids.length - 5} more` : ''}`;
        };
        const users = [
          ...(jobs.length ? [named('training job', jobs)] : []),
          ...(batches.length ? [named('batch prediction', batches)] : []),
        ];
        throw new AppError('DATASET_IN_USE', { id: datasetId, jobs: users.join(' and ') });
      }
      if (!(await datasets.delete(datasetId))) throw new AppError('DATASET_NOT_FOUND', { id: datasetId });
      return reply.status(204).send();
    },
  );
};

// Encapsulated (its hooks stay its own, the prefix applies); the name and dependencies are checked at register.
export default fp(datasetRoutes, {
  name: 'fitwell-routes-datasets',
  dependencies: [
    'fitwell-config',
    'fitwell-redis',
    'fitwell-datasets',
    'fitwell-training-queue',
    'fitwell-batch-prediction-queue',
  ],
  encapsulate: true,
});
