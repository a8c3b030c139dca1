import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { closeBullmq } from '../store/close-bullmq';
import { createSweepQueues, type SweepQueues } from '../../jobs/sweep-queue';

declare module 'fastify' {
  interface FastifyInstance {
    /** The sweeps' flow producer (adds a parent and its training jobs) and queue (reads them back). */
    sweepQueues: SweepQueues;
  }
}

export default fp(
  async (app: FastifyInstance) => {
    const sweeps = createSweepQueues(app.config);
    sweeps.flow.on('error', (error) => app.log.warn({ err: error.message }, 'sweep flow connection error'));
    sweeps.queue.on('error', (error) => app.log.warn({ err: error.message }, 'sweep queue connection error'));
    app.decorate('sweepQueues', sweeps);
    app.addHook('onClose', async () => {
      await Promise.all([closeBullmq(sweeps.queue), closeBullmq(sweeps.flow)]);
    });
  },
  { name: 'fitwell-sweep-queues', dependencies: ['fitwell-config'] },
);
