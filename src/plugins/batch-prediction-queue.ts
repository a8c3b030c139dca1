import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { closeBullmq } from '../store/close-bullmq';
import { createBatchPredictionQueue, type BatchPredictionQueue } from '../../jobs/batch-prediction-queue';

declare module 'fastify' {
  interface FastifyInstance {
    /** The batch prediction queue (its own, beside training's). */
    batchPredictionQueue: BatchPredictionQueue;
  }
}

export default fp(
  async (app: FastifyInstance) => {
    const queue = createBatchPredictionQueue(app.config);
    queue.on('error', (error) => app.log.warn({ err: error.message }, 'batch queue connection error'));
    app.decorate('batchPredictionQueue', queue);
    app.addHook('onClose', () => closeBullmq(queue));
  },
  { name: 'fitwell-batch-prediction-queue', dependencies: ['fitwell-config'] },
);
