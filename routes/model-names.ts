import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import fp from 'fastify-plugin';
import { errorSchema } from '../src/schemas/api.schema';
import {
  aliasHistorySchema,
  aliasParams,
  aliasSchema,
  modelNameListSchema,
  modelNameParams,
  modelNameSchema,
  modelVersionSchema,
  moveAliasSchema,
  pageQuerySchema,
  registerVersionSchema,
} from '../src/schemas/model-registry.schema';
import { modelOfJob } from '../src/serving/model-ref';

/** Named models: register versions, list them, point aliases at them and follow their moves. */
const modelNameRoutes: FastifyPluginAsyncZod = async (app) => {
  const { modelRegistry: registry, modelCache, trainingJobs } = app;

  app.get(
    '/model-names',
    {
      schema: {
        operationId: 'listModelNames',
        description: 'Model names, oldest first, `limit` at a time from `offset`, each with its versions and aliases.',
        querystring: pageQuerySchema,
        response: { 200: modelNameListSchema },
      },
    },
    async (request) => registry.list(request.query.offset, request.query.limit),
  );

  app.post(
    '/model-names/:name/versions',
    {
      schema: {
        operationId: 'registerModelVersion',
        description:
          'Registers a trained model (by `modelId`, or the `jobId` of the completed job that trained it) as the ' +
          "name's next version, creating the name on first use. Numbers are never reused.",
        params: modelNameParams,
        body: registerVersionSchema,
        response: { 201: modelVersionSchema, 404: errorSchema, 409: errorSchema },
      },
    },
    async (request, reply) => {
      const { name } = request.params;
      const modelId =
        'modelId' in request.body ? request.body.modelId : await modelOfJob(trainingJobs, request.body.jobId);
      const version = await registry.register(name, modelId);
      return reply.status(201).send({ name, ...version });
    },
  );

  app.get(
    '/model-names/:name',
    {
      schema: {
        operationId: 'getModelName',
        description: 'A model name: its versions (each a model id) and its aliases.',
        params: modelNameParams,
        response: { 200: modelNameSchema, 404: errorSchema },
      },
    },
    async (request) => registry.get(request.params.name),
  );

  app.get(
    '/model-names/:name/history',
    {
      schema: {
        operationId: 'getAliasHistory',
        description: `Every move of the name's aliases (created, moved, removed), newest first; the last 1000 are kept.`,
        params: modelNameParams,
        querystring: pageQuerySchema,
        response: { 200: aliasHistorySchema, 404: errorSchema },
      },
    },
    async (request) => ({
      moves: await registry.history(request.params.name, request.query.offset, request.query.limit),
    }),
  );

  app.put(
    '/model-names/:name/aliases/:alias',
    {
      schema: {
        operationId: 'moveAlias',
        description:
          "Points the alias at a version (creating it), atomically: the version's model is loaded into this " +
          "replica's cache first (and the other replicas are asked to load it), then the alias moves in one Redis " +
          'step. Requests that arrived before finish on the old version; every request after it runs on the new ' +
          'one. Rollback is moving it back.',
        params: aliasParams,
        body: moveAliasSchema,
        response: { 200: aliasSchema, 404: errorSchema },
      },
    },
    async (request) => {
      const { name, alias } = request.params;
      const { version } = request.body;
      const target = await registry.resolve(name, String(version));
      // Warm first, so the first request after the switch finds the model loaded.
      await registry.announceWarm(target.modelId);
      await modelCache.get(target.modelId);
      const previousVersion = await registry.moveAlias(name, alias, version);
      return { name, alias, version, modelId: target.modelId, ...(previousVersion ? { previousVersion } : {}) };
    },
  );

  app.delete(
    '/model-names/:name/aliases/:alias',
    {
      schema: {
        operationId: 'removeAlias',
        description: 'Removes the alias (the move is kept in the history); the version stays.',
        params: aliasParams,
        response: { 204: z.undefined().describe('Removed'), 404: errorSchema },
      },
    },
    async (request, reply) => {
      await registry.removeAlias(request.params.name, request.params.alias);
      return reply.status(204).send();
    },
  );
};

// Encapsulated (its hooks stay its own, the prefix applies); the name and dependencies are checked at register.
export default fp(modelNameRoutes, {
  name: 'fitwell-routes-model-names',
  dependencies: ['fitwell-model-registry', 'fitwell-model-cache', 'fitwell-training-jobs'],
  encapsulate: true,
});
