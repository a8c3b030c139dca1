import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { predict } from '../src/predict';
import {
  errorSchema,
  idParams,
  predictRequestSchema,
  predictResponseSchema,
} from '../src/schemas/api.schema';
import type { ModelMeta } from '../src/store/model-store';

/** Model metadata is described loosely here; its parts are documented in the README. */
const modelSchema = z.looseObject({
  id: z.string(),
  jobId: z.string(),
  createdAt: z.string(),
  task: z.enum(['classification', 'regression']),
  target: z.string(),
  datasetId: z.string(),
});

/** Everything stored about the model: spec, seed, backend, preprocessing, metrics, sparsity. */
function view(meta: ModelMeta): z.infer<typeof modelSchema> {
  return { ...meta };
}

const modelRoutes: FastifyPluginAsyncZod = async (app) => {
  const { models, modelCache, config } = app.services;

  app.get(
    '/models',
    {
      schema: {
        querystring: z.object({
          offset: z.coerce.number().int().min(0).default(0),
          limit: z.coerce.number().int().min(1).max(1000).default(100),
        }),
        response: { 200: z.object({ models: z.array(modelSchema) }) },
      },
    },
    async (request) => ({
      models: (await models.list(request.query.offset, request.query.limit)).map(view),
    }),
  );

  app.get(
    '/models/:modelId',
    { schema: { params: idParams('modelId'), response: { 200: modelSchema, 404: errorSchema } } },
    async (request) => view(await models.meta(request.params.modelId)),
  );

  app.post(
    '/models/:modelId/predict',
    {
      schema: {
        params: idParams('modelId'),
        body: predictRequestSchema,
        response: { 200: predictResponseSchema, 400: errorSchema, 404: errorSchema },
      },
    },
    async (request) => {
      const model = await modelCache.get(request.params.modelId);
      return predict(model, request.body, config.maxPredictRows);
    },
  );
};

export default modelRoutes;
