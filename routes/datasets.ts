import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { parseCsv, parseJsonRows } from '../src/data/parse-dataset';
import { datasetSchema, errorSchema, idParams, jsonDatasetSchema } from '../src/schemas/api.schema';

/** A CSV body reaches the route as the raw text; parseCsv validates it. */
const csvText = z.string({ error: 'send text/csv with a header row, or JSON {"rows":[...]}' });

const datasetRoutes: FastifyPluginAsyncZod = async (app) => {
  const { config, datasets } = app.services;
  const limits = { maxRows: config.maxDatasetRows, maxColumns: config.maxDatasetColumns };

  // CSV arrives as text; it is parsed (and its errors reported) by parseCsv, not by fastify.
  app.addContentTypeParser(
    ['text/csv', 'text/plain', 'application/csv'],
    { parseAs: 'string', bodyLimit: config.datasetBodyLimit },
    (_request, body, done) => done(null, body),
  );

  app.post(
    '/datasets',
    {
      bodyLimit: config.datasetBodyLimit,
      config: { bodyLimitSetting: 'DATASET_BODY_LIMIT' },
      schema: {
        operationId: 'uploadDataset',
        description:
          'A CSV with a header row (text/csv) or JSON rows ({"rows":[{column: value}]}). Every column is typed ' +
          'numeric (all present cells numbers) or categorical; empty cells, NA, NaN and null are missing values.',
        body: z.union([csvText, jsonDatasetSchema]),
        response: { 201: datasetSchema, 400: errorSchema, 413: errorSchema, 415: errorSchema },
      },
    },
    async (request, reply) => {
      const table =
        typeof request.body === 'string'
          ? parseCsv(request.body, limits)
          : parseJsonRows(request.body.rows, limits);
      const meta = await datasets.save(table);
      return reply.status(201).send({ id: meta.id, rows: meta.rows, columns: meta.columns, createdAt: meta.createdAt });
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
    async (request) => {
      const meta = await datasets.meta(request.params.datasetId);
      return { id: meta.id, rows: meta.rows, columns: meta.columns, createdAt: meta.createdAt };
    },
  );
};

export default datasetRoutes;
