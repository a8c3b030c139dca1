import { QueueEvents } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { closeBullmq } from '../store/close-bullmq';
import { bullmqConnection } from '../store/redis';
import { TRAINING_QUEUE } from '../../jobs/training-queue';

declare module 'fastify' {
  interface FastifyInstance {
    /** The app's one subscription to the training queue's events (live progress, job metrics). */
    queueEvents: QueueEvents;
  }
}

/**
 * Events are read from a stream position a little in the past rather than from "now": with "now"
 * (`$`), events written between start-up and the first blocking read would be lost. Replayed
 * events are harmless: nobody is subscribed yet, and job metrics are claimed once per job.
 */
const EVENTS_REPLAY_MS = 10_000;

export default fp(
  async (app: FastifyInstance) => {
    const { config } = app;
    const queueEvents = new QueueEvents(TRAINING_QUEUE, {
      // Reconnects as quickly as the app's other Redis clients after an outage (BullMQ's default
      // waits up to 20 s), so event streams and job metrics resume soon after Redis does.
      connection: bullmqConnection(config.redisUrl, 'blocking'),
      prefix: config.redisPrefix,
      lastEventId: `${Date.now() - EVENTS_REPLAY_MS}-0`,
    });
    queueEvents.on('error', (error) => app.log.warn({ err: error.message }, 'queue events connection error'));
    app.decorate('queueEvents', queueEvents);
    app.addHook('onClose', () => closeBullmq(queueEvents));
  },
  { name: 'fitwell-queue-events', dependencies: ['fitwell-config'] },
);
