import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { enqueueTraining } from '../jobs/training-queue';
import { AppError, invalid } from '../src/errors';
import { IdempotencyStore, REPLAYED_HEADER } from '../src/http/idempotency';
import { requireRedis } from '../src/http/redis-errors';
import {
  enqueuedJobSchema,
  errorSchema,
  idParams,
  trainingJobSchema,
} from '../src/schemas/api.schema';
import { trainingRequestSchema } from '../src/schemas/training-request.schema';
import { resolveSeed } from '../src/training/train-from-request';
import { checkSubmission } from '../src/training/trainable';
import { apiState } from '../src/training-jobs/contract';
import { cancelKey, cancelledJobKey, metricsKey } from '../src/training-jobs/keys';
import { cancelledWaitingView, describeJob } from '../src/training/job-view';

const trainingJobRoutes: FastifyPluginAsyncZod = async (app) => {
  const { queue, datasets, redis, config } = app.services;
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
      warnings ??= await checkSubmission(datasets, body).then((c) => c.warnings, () => []);
      return reply.status(202).send({ jobId, state: 'waiting' as const, ...(warnings.length ? { warnings } : {}) });
    },
  );

  const tombstoneKey = (jobId: string) => cancelledJobKey(config.redisPrefix, jobId);

  app.get(
    '/training-jobs/:jobId',
    {
      schema: {
        operationId: 'getTrainingJob',
        description: 'State, progress, one metrics entry per finished epoch and, once completed, the model and its diagnosis.',
        params: idParams('jobId'),
        response: { 200: trainingJobSchema, 404: errorSchema },
      },
    },
    async (request) => {
      const { jobId } = request.params;
      const job = await queue.getJob(jobId);
      if (!job) {
        const tombstone = await redis.get(tombstoneKey(jobId));
        if (tombstone) return JSON.parse(tombstone) as ReturnType<typeof cancelledWaitingView>;
        throw new AppError('JOB_NOT_FOUND', { id: jobId });
      }
      const [state, rawMetrics] = await Promise.all([
        job.getState(),
        redis.lrange(metricsKey(config.redisPrefix, jobId), 0, -1),
      ]);
      return describeJob(job, state, rawMetrics);
    },
  );

  /**
   * Cancels a job from any API replica: a waiting job is removed from the queue; an active one
   * sees the cancel flag after its current batch and stops, keeping the metrics of the epochs it
   * finished. The job then reads as `cancelled`.
   */
  app.delete(
    '/training-jobs/:jobId',
    {
      schema: {
        operationId: 'cancelTrainingJob',
        description:
          'A waiting job is removed ("cancelled"); an active one stops after its current batch ("cancelling"), ' +
          'keeping the metrics of the epochs it finished. 409 for a job that has already finished.',
        params: idParams('jobId'),
        response: { 202: z.object({ jobId: z.string(), state: z.enum(['cancelled', 'cancelling']) }), 404: errorSchema, 409: errorSchema },
      },
    },
    async (request, reply) => {
      const { jobId } = request.params;
      const job = await queue.getJob(jobId);
      if (!job) {
        if (await redis.exists(tombstoneKey(jobId))) return reply.status(202).send({ jobId, state: 'cancelled' as const });
        throw new AppError('JOB_NOT_FOUND', { id: jobId });
      }
      const state = await job.getState();
      if (state === 'completed' || state === 'failed') {
        throw new AppError('JOB_FINISHED', { id: jobId, state: apiState(state, job.failedReason) });
      }
      // The flag first: if the job turns active meanwhile, the worker still sees it.
      await redis.set(cancelKey(config.redisPrefix, jobId), '1', 'EX', config.jobKeepSeconds);
      if (state !== 'active') {
        // The record first, so whoever sees the job disappear can already read why.
        await redis.set(tombstoneKey(jobId), JSON.stringify(cancelledWaitingView(job)), 'EX', config.jobKeepSeconds);
        try {
          await job.remove();
          return reply.status(202).send({ jobId, state: 'cancelled' as const });
        } catch {
          // It became active (locked) between the two calls: the flag stops it.
          await redis.del(tombstoneKey(jobId));
        }
      }
      return reply.status(202).send({ jobId, state: 'cancelling' as const });
    },
  );
};

export default trainingJobRoutes;
