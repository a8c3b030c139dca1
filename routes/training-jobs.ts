import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import fp from 'fastify-plugin';
import { enqueueTraining } from '../jobs/training-queue';
import { AppError, invalid } from '../src/errors';
import { IdempotencyStore, REPLAYED_HEADER } from '../src/http/idempotency';
import { requireRedis } from '../src/http/redis-errors';
import { enqueuedJobSchema, errorSchema, idParams, trainingJobSchema } from '../src/schemas/api.schema';
import { trainingJobListQuerySchema, trainingJobListSchema } from '../src/schemas/training-job-list.schema';
import { trainingRequestSchema } from '../src/schemas/training-request.schema';
import { resolveSeed } from '../src/training/train-from-request';
import { checkSubmission } from '../src/training/trainable';
import { describeJobWithMetrics } from '../src/training/job-view';
import { serializeJobViewInPieces } from '../src/training/job-view-serializer';
import { METRICS_BLOCK, readStoredMetrics, readStoredMetricsInSlices } from '../src/training/stored-metrics';

const trainingJobRoutes: FastifyPluginAsyncZod = async (app) => {
  const { trainingQueue: queue, trainingJobs, datasets, redis, config } = app;
  const idempotency = new IdempotencyStore(redis, config.redisPrefix, config.idempotencyTtlSeconds);
  app.addHook('onRequest', requireRedis(redis));

  app.post(
    '/training-jobs',
    {
      schema: {
        operationId: 'createTrainingJob',
        description:
          'Checks the dataset and the target now (a request that cannot train is a 400, not a failed job later) ' +
          'and queues the job. With an Idempotency-Key, a retry of the same request returns the same job.',
        headers: z.looseObject({
          'idempotency-key': z
            .string()
            .min(1)
            .max(255)
            .optional()
            .describe('Same key and body → the same job, for IDEMPOTENCY_TTL_SECONDS (default 24 h)'),
        }),
        body: trainingRequestSchema,
        response: { 202: enqueuedJobSchema, 400: errorSchema, 404: errorSchema, 422: errorSchema },
      },
    },
    async (request, reply) => {
      const body = request.body;
      let warnings: string[] | undefined;
      const { jobId, replayed } = await idempotency.submit(request, body, async (newJobId) => {
        // Checked now, so that a request that cannot train is a 400 here, not a failed job later.
        const check = await checkSubmission(datasets, body);
        if (check.reason) throw invalid('INVALID_TRAINING_REQUEST', check.reason);
        warnings = check.warnings;
        return enqueueTraining(queue, body, resolveSeed(body), newJobId);
      });
      if (replayed) reply.header(REPLAYED_HEADER, 'true');
      // A replay answers with the same warnings as the first response (the dataset is unchanged).
      warnings ??= await checkSubmission(datasets, body).then(
        (c) => c.warnings,
        () => [],
      );
      return reply.status(202).send({ jobId, state: 'waiting' as const, ...(warnings.length ? { warnings } : {}) });
    },
  );

  app.get(
    '/training-jobs',
    {
      schema: {
        operationId: 'listTrainingJobs',
        description:
          'Training jobs (sweep runs and search trials included), newest first, `limit` at a time from `offset`, ' +
          'and how many match: all of them, or those in one `state` and/or on one `datasetId`. Jobs are listed ' +
          'while they are kept (JOB_KEEP_SECONDS, JOB_KEEP_COMPLETED). GET one job for its metrics and result.',
        querystring: trainingJobListQuerySchema,
        response: { 200: trainingJobListSchema },
      },
    },
    async (request) => trainingJobs.list(request.query),
  );

  app.get(
    '/training-jobs/:jobId',
    {
      schema: {
        operationId: 'getTrainingJob',
        description:
          'State, progress, one metrics entry per finished epoch and, once completed, the model and its diagnosis.',
        params: idParams('jobId'),
        response: { 200: trainingJobSchema, 404: errorSchema },
      },
    },
    async (request, reply) => {
      const { jobId } = request.params;
      const stored = await trainingJobs.read(jobId);
      if (!stored) throw new AppError('JOB_NOT_FOUND', { id: jobId });
      if (stored.kind !== 'queued') return stored.view;
      const { job, state, rawMetrics } = stored;
      if (rawMetrics.length <= METRICS_BLOCK) return describeJobWithMetrics(job, state, readStoredMetrics(rawMetrics));
      // A long metrics list (up to 10,000 epochs) is read, checked and written in blocks with turns
      // of the event loop in between; the text is exactly what the route's serializer writes (a
      // JSON string with a JSON type is sent as it is).
      const view = describeJobWithMetrics(job, state, await readStoredMetricsInSlices(rawMetrics));
      const json = await serializeJobViewInPieces(view);
      // The reply is typed by the response schemas, which describe the object this text spells.
      return reply.type('application/json; charset=utf-8').send(json as unknown as typeof view);
    },
  );

  /**
   * Two meanings by the job's state (see TrainingJobRepository.delete): a waiting or active job is
   * cancelled from any API replica (202); a finished one is removed with its metrics and
   * checkpoint (204). The model a removed job trained stays.
   */
  app.delete(
    '/training-jobs/:jobId',
    {
      schema: {
        operationId: 'deleteTrainingJob',
        description:
          'A waiting or active job is cancelled (202): a waiting one is removed from the queue ("cancelled"), an ' +
          'active one stops after its current batch ("cancelling"), keeping the metrics of the epochs it finished; ' +
          'either then reads as `cancelled`. A finished job (completed, failed or cancelled) is deleted (204) with ' +
          'its metrics and checkpoint; the model it trained stays (DELETE /v1/models/{modelId}). So a second ' +
          'DELETE of a job the first one cancelled deletes it, and a third is a 404.',
        params: idParams('jobId'),
        response: {
          202: z.object({ jobId: z.string(), state: z.enum(['cancelled', 'cancelling']) }),
          204: z.undefined().describe('Deleted'),
          404: errorSchema,
        },
      },
    },
    async (request, reply) => {
      const { jobId } = request.params;
      const outcome = await trainingJobs.delete(jobId);
      if (outcome === 'deleted') return reply.status(204).send();
      return reply.status(202).send({ jobId, state: outcome });
    },
  );
};

// Encapsulated (its hooks stay its own, the prefix applies); the name and dependencies are checked at register.
export default fp(trainingJobRoutes, {
  name: 'fitwell-routes-training-jobs',
  dependencies: [
    'fitwell-config',
    'fitwell-redis',
    'fitwell-datasets',
    'fitwell-training-queue',
    'fitwell-training-jobs',
  ],
  encapsulate: true,
});
