import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { TrainingJobRepository } from '../training-jobs/job-repository';

declare module 'fastify' {
  interface FastifyInstance {
    /** Reading and cancelling one training job (the queue's job, a cancelled waiting job's record, metrics). */
    trainingJobs: TrainingJobRepository;
  }
}

export default fp(
  async (app: FastifyInstance) => {
    const { config } = app;
    app.decorate(
      'trainingJobs',
      new TrainingJobRepository({
        queue: app.trainingQueue,
        redis: app.redis,
        prefix: config.redisPrefix,
        keepSeconds: config.jobKeepSeconds,
      }),
    );
  },
  { name: 'fitwell-training-jobs', dependencies: ['fitwell-config', 'fitwell-redis', 'fitwell-training-queue'] },
);
