import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { JobEventHub } from '../http/job-event-hub';

declare module 'fastify' {
  interface FastifyInstance {
    /** queueEvents fanned out per job, for the event streams. */
    jobEvents: JobEventHub;
  }
}

export default fp(
  async (app: FastifyInstance) => {
    app.decorate('jobEvents', new JobEventHub(app.queueEvents));
  },
  { name: 'fitwell-job-events', dependencies: ['fitwell-queue-events'] },
);
