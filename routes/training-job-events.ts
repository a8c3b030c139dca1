import type { PassThrough, Readable } from 'node:stream';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import fp from 'fastify-plugin';
import { AppError } from '../src/errors';
import { trainingEventStream } from '../src/http/training-event-stream';
import { requireRedis } from '../src/http/redis-errors';
import { errorSchema, idParams } from '../src/schemas/api.schema';
import { TRAINING_EVENT_STREAM_DESCRIPTION } from '../src/schemas/training-events.schema';

/** Live progress of a training job as Server-Sent Events (`curl -N …/events`). */
const trainingJobEventRoutes: FastifyPluginAsyncZod = async (app) => {
  const { trainingJobs, redis, jobEvents, metrics } = app;
  const open = new Set<PassThrough>();
  app.addHook('onRequest', requireRedis(redis));

  // Open streams would hold app.close() until their jobs end: end them first. Clients that
  // reconnect (EventSource does) resume from Last-Event-ID on another replica or after restart.
  app.addHook('preClose', async () => {
    for (const stream of open) stream.end();
  });

  app.get(
    '/training-jobs/:jobId/events',
    {
      config: { httpMetrics: false },
      schema: {
        operationId: 'streamTrainingJobEvents',
        summary: "Follow a training job live: each epoch's metrics and the final state (Server-Sent Events)",
        description: TRAINING_EVENT_STREAM_DESCRIPTION,
        params: idParams('jobId'),
        headers: z.looseObject({
          'last-event-id': z
            .string()
            .optional()
            .meta({ description: 'The last event id received: an epoch number, or "end"' }),
        }),
        response: {
          200: {
            description: 'The event stream; it closes when the job ends',
            // A stream, which fastify pipes without serializing.
            content: { 'text/event-stream': { schema: z.custom<Readable>().meta({ type: 'string' }) } },
          },
          204: z
            .undefined()
            .describe('Last-Event-ID was "end": the stream had already ended (EventSource stops reconnecting)'),
          404: errorSchema,
        },
      },
    },
    async (request, reply) => {
      const { jobId } = request.params;
      const lastEventId = request.headers['last-event-id'];
      if (lastEventId === 'end') return reply.status(204).send();
      // A waiting job cancelled by DELETE is not in the queue any more, but its stream ends as cancelled.
      if (!(await trainingJobs.exists(jobId))) throw new AppError('JOB_NOT_FOUND', { id: jobId });

      const afterEpoch = lastEventId && /^\d+$/.test(lastEventId) ? Number(lastEventId) : undefined;
      const stream = trainingEventStream(
        jobId,
        { hub: jobEvents, jobs: trainingJobs },
        {
          afterEpoch,
          onClose: () => {
            open.delete(stream);
            metrics.sseClients.dec();
            request.log.info({ jobId }, 'training event stream closed');
          },
        },
      );
      open.add(stream);
      metrics.sseClients.inc();
      request.log.info({ jobId, afterEpoch }, 'training event stream opened');
      return (
        reply
          .header('content-type', 'text/event-stream; charset=utf-8')
          .header('cache-control', 'no-cache, no-transform')
          // Tells nginx-style proxies not to buffer the stream.
          .header('x-accel-buffering', 'no')
          .send(stream)
      );
    },
  );
};

// Encapsulated (its hooks stay its own, the prefix applies); the name and dependencies are checked at register.
export default fp(trainingJobEventRoutes, {
  name: 'fitwell-routes-training-job-events',
  dependencies: ['fitwell-redis', 'fitwell-training-jobs', 'fitwell-job-events', 'fitwell-metrics'],
  encapsulate: true,
});
