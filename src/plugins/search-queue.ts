import type { Queue } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { closeBullmq } from '../store/close-bullmq';
import { createSearchQueue, type SearchJobData } from '../../jobs/search-queue';

declare module 'fastify' {
  interface FastifyInstance {
    /** The searches' coordinator queue (one coordinator job per search). */
    searchQueue: Queue<SearchJobData>;
  }
}

export default fp(
  async (app: FastifyInstance) => {
    const queue = createSearchQueue(app.config);
    queue.on('error', (error) => app.log.warn({ err: error.message }, 'search queue connection error'));
    app.decorate('searchQueue', queue);
    app.addHook('onClose', () => closeBullmq(queue));
  },
  { name: 'fitwell-search-queue', dependencies: ['fitwell-config'] },
);
