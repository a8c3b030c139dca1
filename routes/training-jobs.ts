import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { cancelKey, cancelledJobKey, enqueueTraining, metricsKey } from '../jobs/training-queue';
import { AppError, invalid } from '../src/errors';
import { IdempotencyStore, REPLAYED_HEADER } from '../src/http/idempotency';
import {
  enqueuedJobSchema,
  errorSchema,
  idParams,
  trainingJobSchema,
} from '../src/schemas/api.schema';
import { trainingRequestSchema } from '../src/schemas/training-request.schema';
import { resolveSeed } from '../src/training/train-from-request';
import { classWeightsReason, needsTargetValues, untrainableReason } from '../src/training/trainable';
import { apiState, cancelledWaitingView, describeJob } from '../src/training/job-view';
import { findJob } from '../src/training-jobs/find-job';

const trainingJobRoutes: FastifyPluginAsyncZod = async (app) => {
  const { queue, datasets, redis, config } = app.services;
  const idempotency = new IdempotencyStore(redis, config.redisPrefix, config.idempotencyTtlSeconds);

  app.post(
    '/training-jobs',
    {
      schema: {
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
      const { jobId, replayed } = await idempotency.submit(request, body, async (newJobId) => {
        // Checked now, so that a request that cannot train is a 400 here, not a failed job later.
        const reason =
          untrainableReason(await datasets.meta(body.datasetId), body) ??
          (needsTargetValues(body) ? classWeightsReason(await datasets.table(body.datasetId), body) : null);
        if (reason) throw invalid('INVALID_TRAINING_REQUEST', reason);
        return enqueueTraining(queue, body, resolveSeed(body), newJobId);
      });
      if (replayed) reply.header(REPLAYED_HEADER, 'true');
      return reply.status(202).send({ jobId, state: 'waiting' as const });
    },
  );

  const tombstoneKey = (jobId: string) => cancelledJobKey(config.redisPrefix, jobId);

  app.get(
    '/training-jobs/:jobId',
    {
      schema: {
        params: idParams('jobId'),
        response: { 200: trainingJobSchema, 404: errorSchema },
      },
    },
    async (request) => {
      const { jobId } = request.params;
      const job = await findJob(queue, jobId);
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
        params: idParams('jobId'),
        response: { 202: z.object({ jobId: z.string(), state: z.enum(['cancelled', 'cancelling']) }), 404: errorSchema, 409: errorSchema },
      },
    },
    async (request, reply) => {
      const { jobId } = request.params;
      const job = await findJob(queue, jobId);
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
