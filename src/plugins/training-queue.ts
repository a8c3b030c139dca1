import type { Queue } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { closeBullmq } from '../store/close-bullmq';
import type { TrainingJobData, TrainingJobResult } from '../training-jobs/contract';
import { createTrainingQueue } from '../../jobs/training-queue';

declare module 'fastify' {
  interface FastifyInstance {
    /** The training queue: enqueues, and reads jobs back. Made once per app, closed with it. */
    trainingQueue: Queue<TrainingJobData, TrainingJobResult>;
  }
}

export default fp(
  async (app: FastifyInstance) => {
    const queue = createTrainingQueue(app.config);
    queue.on('error', (error) => app.log.warn({ err: error.message }, 'queue connection error'));
    app.decorate('trainingQueue', queue);
    // Bounded, and dropping the connection when QUIT cannot be sent: see closeBullmq.
    app.addHook('onClose', () => closeBullmq(queue));
  },
  { name: 'fitwell-training-queue', dependencies: ['fitwell-config'] },
);
