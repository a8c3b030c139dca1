import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { enqueueTraining, metricsKey } from '../jobs/training-queue';
import { AppError, invalid } from '../src/errors';
import {
  enqueuedJobSchema,
  errorSchema,
  idParams,
  trainingJobSchema,
} from '../src/schemas/api.schema';
import { trainingRequestSchema } from '../src/schemas/training-request.schema';
import { resolveSeed } from '../src/training/train-from-request';
import { describeJob } from '../src/training/job-view';

const trainingJobRoutes: FastifyPluginAsyncZod = async (app) => {
  const { queue, datasets, redis, config } = app.services;

  app.post(
    '/training-jobs',
    {
      schema: {
        body: trainingRequestSchema,
        response: { 202: enqueuedJobSchema, 400: errorSchema, 404: errorSchema },
      },
    },
    async (request, reply) => {
      const body = request.body;
      // Checked now, so that a request that cannot train is a 400 here, not a failed job later.
      const dataset = await datasets.meta(body.datasetId);
      const target = dataset.columns.find((c) => c.name === body.target);
      if (!target) {
        throw invalid(
          'INVALID_TRAINING_REQUEST',
          `target: dataset ${dataset.id} has no column "${body.target}"; its columns are ` +
            dataset.columns.map((c) => `"${c.name}"`).join(', '),
        );
      }
      if (body.task === 'regression' && target.type !== 'numeric') {
        throw invalid(
          'INVALID_TRAINING_REQUEST',
          `task: regression needs a numeric target, but "${body.target}" is categorical; use task "classification"`,
        );
      }
      if (dataset.columns.length < 2) {
        throw invalid('INVALID_TRAINING_REQUEST', `dataset ${dataset.id} has no feature columns besides the target`);
      }
      const jobId = await enqueueTraining(queue, body, resolveSeed(body));
      return reply.status(202).send({ jobId, state: 'waiting' as const });
    },
  );

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
      const job = await queue.getJob(jobId);
      if (!job) throw new AppError('JOB_NOT_FOUND', { id: jobId });
      const [state, rawMetrics] = await Promise.all([
        job.getState(),
        redis.lrange(metricsKey(config.redisPrefix, jobId), 0, -1),
      ]);
      return describeJob(job, state, rawMetrics);
    },
  );
};

export default trainingJobRoutes;
