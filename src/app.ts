import Fastify, { type FastifyInstance, type RouteOptions } from 'fastify';
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Config } from './config';
import authPlugin from './http/auth';
import { clientErrorHandler, frameworkErrors, registerErrorHandler } from './http/error-handler';
import openapiPlugin from './http/openapi';
import { registerJsonBodyParser } from './http/json-body';
import overloadPlugin from './http/overload';
import rateLimitPlugin from './http/rate-limit';
import redisChecksPlugin from './http/redis-checks';
import { serverTimeouts } from './http/timeouts';
import httpObservability from './observability/http-observability';
import { loggerOptions, requestId, type LogDestination } from './observability/logger';
import { MAX_ID_LENGTH } from './schemas/api.schema';
import configPlugin from './plugins/config';
import backendPlugin from './plugins/backend';
import redisPlugin from './plugins/redis';
import trainingQueuePlugin from './plugins/training-queue';
import sweepQueuesPlugin from './plugins/sweep-queues';
import searchQueuePlugin from './plugins/search-queue';
import trainingJobsPlugin from './plugins/training-jobs';
import datasetsPlugin from './plugins/datasets';
import modelStorePlugin from './plugins/model-store';
import modelRegistryPlugin from './plugins/model-registry';
import modelCachePlugin from './plugins/model-cache';
import modelEventsPlugin from './plugins/model-events';
import queueEventsPlugin from './plugins/queue-events';
import jobEventsPlugin from './plugins/job-events';
import metricsPlugin from './plugins/metrics';
import healthRoutes from '../routes/health';
import docsRoutes from '../routes/docs';
import metricsRoutes from '../routes/metrics';
import datasetRoutes from '../routes/datasets';
import trainingJobRoutes from '../routes/training-jobs';
import trainingJobEventRoutes from '../routes/training-job-events';
import modelRoutes from '../routes/models';
import modelNameRoutes from '../routes/model-names';
import openInferenceRoutes from '../routes/open-inference';
import modelExportRoutes from '../routes/model-export';
import dashboardRoutes from '../routes/dashboard';
import trainingJobReportRoutes from '../routes/training-job-report';
import sweepRoutes from '../routes/sweeps';
import searchRoutes from '../routes/searches';

export interface BuildOptions {
  /** Where JSON log lines go instead of stdout (tests read them); logs even with LOG_LEVEL=silent. */
  logStream?: LogDestination;
  /** Called for every route as it is added (tests check each one is documented). */
  onRoute?: (route: RouteOptions) => void;
}

/** The API's version in the OpenAPI document: the package version (read from dist/src/app.js). */
// A require, not an import: an import would make tsc copy package.json into dist/.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const API_VERSION: string = (require('../../package.json') as { version: string }).version;

/** Builds the API without listening: the entry point listens, tests inject or use supertest. */
export async function buildApp(config: Config, options: BuildOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: loggerOptions(config, options.logStream),
    // Our own request ids: a client's x-request-id when it is sane, else a UUID (see logger.ts).
    requestIdHeader: false,
    genReqId: requestId,
    bodyLimit: config.bodyLimit,
    // Ids up to the documented length route; a longer one is a 414 (frameworkErrors).
    routerOptions: { maxParamLength: MAX_ID_LENGTH },
    ...serverTimeouts(config),
    frameworkErrors,
    clientErrorHandler: clientErrorHandler(config.requestTimeoutMs),
  }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  if (options.onRoute) app.addHook('onRoute', options.onRoute);
  registerErrorHandler(app, { onStorageFull: () => app.metrics.storageFull.inc() });
  registerJsonBodyParser(app);
  // Cheapest refusal first: overload (503), then API keys (401), then rate limits (429).
  await app.register(overloadPlugin, { config });
  await app.register(authPlugin, { config });
  await app.register(rateLimitPlugin, { config });
  // Before any route: it collects the routes as they are added.
  await app.register(openapiPlugin, {
    version: API_VERSION,
    apiKeys: config.apiKeys.length > 0,
    rateLimited: config.rateLimitMax > 0,
  });

  // The app's own decorators, one plugin each (src/plugins/), before the routes that declare them.
  await app.register(configPlugin, { config });
  for (const plugin of [
    backendPlugin,
    redisPlugin,
    trainingQueuePlugin,
    sweepQueuesPlugin,
    searchQueuePlugin,
    trainingJobsPlugin,
    datasetsPlugin,
    modelStorePlugin,
    modelRegistryPlugin,
    modelCachePlugin,
    modelEventsPlugin,
    queueEventsPlugin,
    jobEventsPlugin,
    metricsPlugin,
  ]) {
    await app.register(plugin);
  }
  await app.register(redisChecksPlugin);
  await app.register(httpObservability);
  await app.register(healthRoutes);
  await app.register(docsRoutes);
  await app.register(metricsRoutes);
  await app.register(datasetRoutes, { prefix: '/v1' });
  await app.register(trainingJobRoutes, { prefix: '/v1' });
  await app.register(trainingJobEventRoutes, { prefix: '/v1' });
  await app.register(modelRoutes, { prefix: '/v1' });
  await app.register(modelExportRoutes, { prefix: '/v1' });
  await app.register(modelNameRoutes, { prefix: '/v1' });
  await app.register(openInferenceRoutes, { prefix: '/v2' });
  await app.register(trainingJobReportRoutes, { prefix: '/v1' });
  await app.register(sweepRoutes, { prefix: '/v1' });
  await app.register(searchRoutes, { prefix: '/v1' });
  // /admin/queues: behind the API keys through the auth plugin's onRequest hook, registered above.
  await app.register(dashboardRoutes);
  return app;
}
