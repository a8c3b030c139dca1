import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import fp from 'fastify-plugin';
import { boundByRedis, requireRedis } from '../src/http/redis-errors';
import { predict } from '../src/serving/predict';
import {
  errorSchema,
  idParams,
  predictQuerySchema,
  predictRequestSchema,
  predictResponseSchema,
} from '../src/schemas/api.schema';
import { modelListQuerySchema, modelListSchema, modelSchema } from '../src/schemas/model.schema';
import { resolveModelRef } from '../src/serving/model-ref';
import { predictSerializerCompiler, serializePredictionInPieces } from '../src/serving/predict-serializer';
import { MIN_BLOCK_ROWS } from '../src/serving/slices';
import { predictValidatorCompiler } from '../src/serving/predict-validation';
import type { ModelMeta } from '../src/store/model-store';

/** Everything stored about the model: spec, seed, backend, preprocessing, metrics, sparsity. */
function view(meta: ModelMeta): z.infer<typeof modelSchema> {
  // Interfaces are spread into plain records for the open (looseObject) parts of the schema.
  return { ...meta, finalMetrics: { ...meta.finalMetrics }, sparsity: { ...meta.sparsity } };
}

const modelRoutes: FastifyPluginAsyncZod = async (app) => {
  const { models, modelCache, config, metrics, modelRegistry: registry, redis } = app;
  // Reads and writes of the store answer 503 within about a second of Redis freezing; a predict
  // is cut short only while it waits on Redis (a cached model answers without it).
  const needsRedis = requireRedis(redis);

  app.get(
    '/models',
    {
      onRequest: needsRedis,
      schema: {
        operationId: 'listModels',
        description: 'Trained models, newest first, `limit` at a time from `offset`.',
        querystring: modelListQuerySchema,
        response: { 200: modelListSchema },
      },
    },
    async (request) => ({
      models: (await models.list(request.query.offset, request.query.limit)).map(view),
    }),
  );

  app.get(
    '/models/:modelId',
    {
      onRequest: needsRedis,
      schema: {
        operationId: 'getModel',
        description:
          'The spec as trained (every default filled in), the seed, the backend, the preprocessing (feature ' +
          'encodings, classes), the final metrics, sparsity and warnings. `modelId` may name a registered ' +
          'version: `name@alias` or `name@3`.',
        params: idParams('modelId'),
        response: { 200: modelSchema, 404: errorSchema },
      },
    },
    async (request) => view(await models.meta(await resolveModelRef(registry, request.params.modelId))),
  );

  app.delete(
    '/models/:modelId',
    {
      onRequest: needsRedis,
      schema: {
        operationId: 'deleteModel',
        description:
          'Deletes a model and its registered versions (their numbers are not reused); refused (409) while an ' +
          'alias points to one of them. Every API replica drops its cached copy when it hears of the deletion.',
        params: idParams('modelId'),
        response: { 204: z.undefined().describe('Deleted'), 404: errorSchema, 409: errorSchema },
      },
    },
    async (request, reply) => {
      await registry.deleteModel(request.params.modelId);
      modelCache.drop(request.params.modelId);
      return reply.status(204).send();
    },
  );

  app.post(
    '/models/:modelId/predict',
    {
      bodyLimit: config.predictBodyLimit,
      config: { bodyLimitSetting: 'PREDICT_BODY_LIMIT' },
      schema: {
        operationId: 'predict',
        description:
          'Rows by feature name (`rows`) or raw values in feature order (`inputs`), at most MAX_PREDICT_ROWS per ' +
          'request and PREDICT_BODY_LIMIT bytes, run through the frozen model (running statistics, no dropout). ' +
          '`modelId` may name a registered version: `name@alias` (e.g. `churn@production`) or `name@3`; the ' +
          "x-model-id header says which model answered. `?explain=drift` adds the request's drift counts " +
          '(values more than PREDICT_DRIFT_K training standard deviations from the mean, unseen categories), which ' +
          'are counted per model in /metrics either way.',
        params: idParams('modelId'),
        querystring: predictQuerySchema,
        body: predictRequestSchema,
        response: { 200: predictResponseSchema, 400: errorSchema, 404: errorSchema },
      },
      // Both as zod's, with fast paths for the common case (see their files).
      validatorCompiler: predictValidatorCompiler,
      serializerCompiler: predictSerializerCompiler,
    },
    async (request, reply) => {
      const ref = request.params.modelId;
      const modelId = ref.includes('@') ? await boundByRedis(redis, resolveModelRef(registry, ref)) : ref;
      const model = await boundByRedis(redis, modelCache.get(modelId));
      const started = performance.now();
      const result = await predict(
        model,
        request.body,
        config.maxPredictRows,
        (counts) => metrics.observePredictWarnings(counts),
        {
          k: config.predictDriftK,
          explain: request.query.explain === 'drift',
          observe: (drift) =>
            metrics.observeDrift(
              modelId,
              Object.values(drift.outOfRange).reduce((a, b) => a + b, 0),
              drift.unseenCategories,
            ),
        },
      );
      metrics.observePredict(model.meta.task, (performance.now() - started) / 1000, result.predictions.length);
      reply.header('x-model-id', modelId);
      // A large answer is written in pieces with turns of the event loop in between; the text is
      // exactly what the route's serializer writes (a JSON string with a JSON type is sent as it is).
      if (result.predictions.length > MIN_BLOCK_ROWS) {
        const json = await serializePredictionInPieces(result);
        // The reply is typed by the response schemas, which describe the object this text spells.
        return reply.type('application/json; charset=utf-8').send(json as unknown as typeof result);
      }
      return result;
    },
  );
};

// Encapsulated (its hooks stay its own, the prefix applies); the name and dependencies are checked at register.
export default fp(modelRoutes, {
  name: 'fitwell-routes-models',
  dependencies: [
    'fitwell-config',
    'fitwell-redis',
    'fitwell-model-store',
    'fitwell-model-cache',
    'fitwell-model-registry',
    'fitwell-metrics',
  ],
  encapsulate: true,
});
