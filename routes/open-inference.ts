import type { FastifyReply, FastifyRequest } from 'fastify';
import { serializerCompiler, type FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import fp from 'fastify-plugin';
import { AppError, invalid } from '../src/errors';
import { parseJsonBody } from '../src/http/json-body';
import { boundByRedis } from '../src/http/redis-errors';
import {
  v2ErrorSchema,
  v2InferRequestSchema,
  v2InferResponseSchema,
  v2ModelMetadataSchema,
  v2ModelParams,
  v2ServerMetadataSchema,
  v2VersionParams,
} from '../src/schemas/open-inference.schema';
import { modelMetadata, toOutputs, toPredictInput } from '../src/serving/open-inference';
import { predict } from '../src/serving/predict';
import { yieldToEventLoop } from '../src/data/slices';
import { MIN_BLOCK_ROWS } from '../src/serving/slices';

/** The package version (read from dist/routes/open-inference.js). */
// A require, not an import: an import would make tsc copy package.json into dist/ (as in src/app.ts).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const SERVER_VERSION: string = (require('../../package.json') as { version: string }).version;

/**
 * The Open Inference Protocol (KServe v2, Triton's REST API) under /v2, beside /v1: health,
 * server and model metadata, model readiness and inference, with the protocol's error body
 * `{"error": "<message>"}` on every error. A model is a registered name (`/v2/models/churn`:
 * its `production` alias when set, else its latest version; `/versions/3` or `/versions/staging`
 * for a version number or an alias) or a model id (`/v2/models/mdl_…`). Inference runs the same
 * predict path as /v1 (src/serving/open-inference.ts).
 */
const openInferenceRoutes: FastifyPluginAsyncZod = async (app) => {
  const { modelRegistry: registry, modelCache, config, metrics, redis, models } = app;

  // Errors in the protocol's shape: the app's `{"error":{"code","message"}}` becomes `{"error":"message"}`,
  // by the serializer for the statuses a route declares, and after it for the others (401, 429, 503, …).
  app.setSerializerCompiler((route) =>
    (route.httpStatus ?? '200').startsWith('2')
      ? serializerCompiler(route as Parameters<typeof serializerCompiler>[0])
      : serializeV2Error,
  );
  app.addHook('onSend', async (_request, reply, payload) => {
    if (reply.statusCode < 400 || typeof payload !== 'string' || !payload.startsWith('{"error":{')) return payload;
    const { error } = JSON.parse(payload) as { error: { message: string } };
    return JSON.stringify({ error: error.message });
  });
  app.setNotFoundHandler((request, reply) =>
    reply
      .status(404)
      .send({ error: new AppError('ROUTE_NOT_FOUND', { method: request.method, url: request.url }).message }),
  );
  // Triton's HTTP client sends JSON without a Content-Type: a body without one is read as JSON.
  app.addContentTypeParser('*', { parseAs: 'string', bodyLimit: config.predictBodyLimit }, (request, text, done) => {
    if (request.headers['content-type'] !== undefined) {
      done(Object.assign(new Error('unsupported media type'), { statusCode: 415 }), undefined);
      return;
    }
    try {
      done(null, parseJsonBody(text as string));
    } catch (error) {
      done(error as Error, undefined);
    }
  });

  /** The model a v2 path names, and the version to report. */
  async function resolve(name: string, version?: string): Promise<{ modelId: string; version?: string }> {
    try {
      const resolved = await registry.resolve(name, version);
      return { modelId: resolved.modelId, version: String(resolved.version) };
    } catch (error) {
      // Not a registered name: a model id, which has no versions.
      if (error instanceof AppError && error.code === 'MODEL_NAME_NOT_FOUND' && version === undefined)
        return { modelId: name };
      throw error;
    }
  }

  async function versionsOf(name: string): Promise<string[] | undefined> {
    try {
      return (await registry.get(name)).versions.map((v) => String(v.version));
    } catch (error) {
      if (error instanceof AppError && error.code === 'MODEL_NAME_NOT_FOUND') return undefined;
      throw error;
    }
  }

  app.get(
    '',
    {
      schema: {
        operationId: 'inferenceServerMetadata',
        summary: 'Open Inference Protocol: server metadata',
        description: "The server's name and version, and the protocol extensions it supports (none).",
        response: { 200: v2ServerMetadataSchema },
      },
    },
    async () => ({ name: 'fitwell', version: SERVER_VERSION, extensions: [] }),
  );

  app.get(
    '/health/live',
    {
      schema: {
        operationId: 'inferenceServerLive',
        summary: 'Open Inference Protocol: liveness',
        description: 'Status 200 with an empty body while the process answers.',
        response: { 200: z.undefined().describe('Live') },
      },
    },
    async (_request, reply) => reply.status(200).send(),
  );

  app.get(
    '/health/ready',
    {
      schema: {
        operationId: 'inferenceServerReady',
        summary: 'Open Inference Protocol: readiness',
        description:
          'Status 200 with an empty body when Redis (where the models are) answers a PING within a second and the ' +
          'Redis watchdog has not found it frozen; 400 (the protocol\'s 4xx for "not ready") otherwise.',
        response: {
          200: z.undefined().describe('Ready'),
          400: z.undefined().describe('Not ready: Redis does not answer'),
        },
      },
    },
    async (_request, reply) => {
      const ready = await Promise.race([
        boundByRedis(redis, redis.ping()).then(
          () => true,
          () => false,
        ),
        new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 1_000).unref()),
      ]);
      return reply.status(ready ? 200 : 400).send();
    },
  );

  async function metadata(request: FastifyRequest<{ Params: { name: string; version?: string } }>) {
    const { name, version } = request.params;
    const target = await boundByRedis(redis, resolve(name, version));
    const meta = await boundByRedis(redis, models.meta(target.modelId));
    return modelMetadata(name, await boundByRedis(redis, versionsOf(name)), meta.preprocessing);
  }

  async function ready(request: FastifyRequest<{ Params: { name: string; version?: string } }>, reply: FastifyReply) {
    const target = await boundByRedis(redis, resolve(request.params.name, request.params.version));
    await boundByRedis(redis, modelCache.get(target.modelId)); // loaded (and kept) = ready
    return reply.status(200).send();
  }

  async function infer(
    request: FastifyRequest<{ Params: { name: string; version?: string }; Body: z.infer<typeof v2InferRequestSchema> }>,
  ) {
    if (request.headers['inference-header-content-length'] !== undefined) {
      throw invalid(
        'INVALID_PREDICT_INPUT',
        'the binary tensor data extension is not supported: send the tensors as JSON (binary_data=False)',
      );
    }
    const { name } = request.params;
    // Each wait on Redis is cut short (503) once it is found frozen.
    const target = await boundByRedis(redis, resolve(name, request.params.version));
    const model = await boundByRedis(redis, modelCache.get(target.modelId));
    const prep = model.meta.preprocessing;
    const input = toPredictInput(request.body, prep);
    // The body's validation and its conversion to rows were this turn's work: the predict, itself
    // computed in blocks when large (src/serving/slices.ts), starts on the next.
    if ((input.rows ?? input.inputs ?? []).length > MIN_BLOCK_ROWS) await yieldToEventLoop();
    const started = performance.now();
    const prediction = await predict(
      model,
      input,
      config.maxPredictRows,
      (counts) => metrics.observePredictWarnings(counts),
      {
        k: config.predictDriftK,
        observe: (drift) =>
          metrics.observeDrift(
            target.modelId,
            Object.values(drift.outOfRange).reduce((a, b) => a + b, 0),
            drift.unseenCategories,
          ),
      },
    );
    metrics.observePredict(model.meta.task, (performance.now() - started) / 1000, prediction.predictions.length);
    const outputs = toOutputs(prediction, prep, request.body.outputs);
    // A large answer's serialization (zod's checked copy, then JSON.stringify) is a long task of
    // its own: it runs on the next turn of the event loop, not in the same one as the outputs.
    if (prediction.predictions.length > MIN_BLOCK_ROWS) await yieldToEventLoop();
    return {
      model_name: name,
      ...(target.version ? { model_version: target.version } : {}),
      id: request.body.id ?? request.id,
      ...(prediction.warnings ? { parameters: { warnings: prediction.warnings.join('; ') } } : {}),
      outputs,
    };
  }

  const notFound = { 404: v2ErrorSchema };
  for (const [path, params, suffix] of [
    ['/models/:name', v2ModelParams, ''],
    ['/models/:name/versions/:version', v2VersionParams, 'OfVersion'],
  ] as const) {
    app.get(
      path,
      {
        schema: {
          operationId: `inferenceModelMetadata${suffix}`,
          summary: `Open Inference Protocol: model metadata${suffix ? ' (a version)' : ''}`,
          description:
            "The model's inputs (one per feature: FP32 numeric, BYTES categorical, shape [-1, 1]), outputs and " +
            'versions. `name` is a registered name or a model id; `version` a version number or an alias.',
          params,
          response: { 200: v2ModelMetadataSchema, ...notFound },
        },
      },
      metadata,
    );
    app.get(
      `${path}/ready`,
      {
        schema: {
          operationId: `inferenceModelReady${suffix}`,
          summary: `Open Inference Protocol: model readiness${suffix ? ' (a version)' : ''}`,
          description:
            'Status 200 with an empty body once the model is loaded in this replica (this request loads it); 404 for an unknown model.',
          params,
          response: { 200: z.undefined().describe('Ready'), ...notFound },
        },
      },
      ready,
    );
    app.post(
      `${path}/infer`,
      {
        bodyLimit: config.predictBodyLimit,
        config: { bodyLimitSetting: 'PREDICT_BODY_LIMIT' },
        schema: {
          operationId: `inferenceModelInfer${suffix}`,
          summary: `Open Inference Protocol: inference${suffix ? ' (a version)' : ''}`,
          description:
            'Inputs: one tensor per feature named as the feature (shape [N] or [N, 1]; FP32 for numeric, BYTES for ' +
            'categorical), or one [N, features] tensor in feature order. Outputs, classification: `label` (BYTES), ' +
            '`class_index` (INT64), `probabilities` (FP32 [N, classes]); regression: `prediction` (FP64). The same ' +
            'predict path and limits as /v1 (MAX_PREDICT_ROWS, PREDICT_BODY_LIMIT); warnings in `parameters.warnings`.',
          params,
          body: v2InferRequestSchema,
          response: { 200: v2InferResponseSchema, 400: v2ErrorSchema, ...notFound },
        },
      },
      infer,
    );
  }
};

function serializeV2Error(data: unknown): string {
  const error = (data as { error?: unknown }).error;
  if (typeof error === 'object' && error !== null)
    return JSON.stringify({ error: (error as { message: string }).message });
  return JSON.stringify(data);
}

// Encapsulated (its hooks stay its own, the prefix applies); the name and dependencies are checked at register.
export default fp(openInferenceRoutes, {
  name: 'fitwell-routes-open-inference',
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
