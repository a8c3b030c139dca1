import type { Readable } from 'node:stream';
import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import fp from 'fastify-plugin';
import { parseJsonRows } from '../src/data/parse-dataset';
import { BodyTooLargeError, ingestUpload, type UploadFormat } from '../src/data/dataset-stream';
import { AppError } from '../src/errors';
import { datasetSchema, errorSchema, idParams, jsonDatasetSchema } from '../src/schemas/api.schema';
import {
  datasetListQuerySchema,
  datasetListSchema,
  datasetSchemaViewSchema,
  datasetUploadQuerySchema,
} from '../src/schemas/dataset.schema';
import type { DatasetMeta } from '../src/store/dataset-store';
import type { S3DatasetBackend } from '../src/store/s3-dataset-backend';
import { jobsUsingDataset } from '../src/training-jobs/dataset-users';

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
  const { config, datasets, trainingQueue: queue } = app;
  const limits = { maxRows: config.maxDatasetRows, maxColumns: config.maxDatasetColumns };
  const bodies = new WeakMap<FastifyRequest, Readable>();

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
        meta = await datasets.save(table, { format: 'json', bytes: Number(request.headers['content-length'] ?? 0) });
      } else {
        meta = await ingest(request, stream);
      }
      return reply.status(201).send(view(meta));
    },
  );

  async function ingest(request: FastifyRequest, stream: Readable): Promise<DatasetMeta> {
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
          '(a sweep run included) trains on it. Models trained on it stay.',
        params: idParams('datasetId'),
        response: { 204: z.undefined().describe('Deleted'), 404: errorSchema, 409: errorSchema },
      },
    },
    async (request, reply) => {
      const { datasetId } = request.params;
      if (!(await datasets.exists(datasetId))) throw new AppError('DATASET_NOT_FOUND', { id: datasetId });
      const users = await jobsUsingDataset(queue, datasetId);
      if (users.length > 0) {
        const shown = users
          .slice(0, 5)
          .map((id) => `"${id}"`)
          .join(', ');
        throw new AppError('DATASET_IN_USE', {
          id: datasetId,
          jobs: `training job${users.length > 1 ? 's' : ''} ${shown}${users.length > 5 ? ` and ${users.length - 5} more` : ''}`,
        });
      }
      if (!(await datasets.delete(datasetId))) throw new AppError('DATASET_NOT_FOUND', { id: datasetId });
      return reply.status(204).send();
    },
  );
};

// Encapsulated (its hooks stay its own, the prefix applies); the name and dependencies are checked at register.
export default fp(datasetRoutes, {
  name: 'fitwell-routes-datasets',
  dependencies: ['fitwell-config', 'fitwell-datasets', 'fitwell-training-queue'],
  encapsulate: true,
});
