import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import fp from 'fastify-plugin';
import { enqueueSweep } from '../jobs/sweep-queue';
import { sweepChart } from '../src/report/sweep-chart';
import { emptyChart } from '../src/report/curves-chart';
import { renderSvg } from '../src/report/vega';
import { requireRedis } from '../src/http/redis-errors';
import { errorSchema, idParams } from '../src/schemas/api.schema';
import { sweepCreatedSchema, sweepRequestSchema, sweepViewSchema } from '../src/schemas/sweep.schema';
import { assertTrainable } from '../src/sweeps/check-datasets';
import { expandGrid } from '../src/sweeps/grid';
import { settingsLabel } from '../src/sweeps/sweep-table';
import { describeSweep, sweepCurves, sweepJob } from '../src/sweeps/sweep-view';
import { resolveSeed } from '../src/training/train-from-request';

/**
 * Sweeps: one training job per combination of a grid of settings, as children of a parent job
 * (a BullMQ flow), compared side by side when all are done. The flow producer and the sweeps
 * queue are the app's (src/plugins/sweep-queues.ts), like the training queue.
 */
const sweepRoutes: FastifyPluginAsyncZod = async (app) => {
  const { config, datasets, redis, trainingQueue: training } = app;
  const { flow, queue: sweeps } = app.sweepQueues;
  app.addHook('onRequest', requireRedis(redis));

  app.post(
    '/sweeps',
    {
      schema: {
        operationId: 'createSweep',
        description:
          'Queue one training job per combination of the grid (at most SWEEP_MAX_COMBINATIONS), all with the same seed.',
        body: sweepRequestSchema,
        response: { 202: sweepCreatedSchema, 400: errorSchema, 404: errorSchema },
      },
    },
    async (request, reply) => {
      const { base, grid } = request.body;
      const combinations = expandGrid(base, grid, config.sweepMaxCombinations);
      const warnings = await assertTrainable(datasets, combinations);
      const seed = resolveSeed(base);
      const sweepId = await enqueueSweep(flow, config, base, grid, combinations, seed);
      const { runs } = (await sweepJob(sweeps, sweepId)).data;
      return reply
        .status(202)
        .send({ sweepId, state: 'running' as const, runs, ...(warnings.length ? { warnings } : {}) });
    },
  );

  app.get(
    '/sweeps/:sweepId',
    {
      schema: {
        operationId: 'getSweep',
        description: 'Progress; when done, the runs ranked by validation loss (ties by the smaller gap).',
        params: idParams('sweepId'),
        response: { 200: sweepViewSchema, 404: errorSchema },
      },
    },
    async (request) => describeSweep(sweeps, training, request.params.sweepId),
  );

  app.get(
    '/sweeps/:sweepId/curves.svg',
    {
      schema: {
        operationId: 'getSweepCurves',
        description: 'The validation loss of every run over the epochs, on one chart.',
        params: idParams('sweepId'),
        response: {
          200: { description: 'An SVG image', content: { 'image/svg+xml': { schema: z.string() } } },
          404: errorSchema,
        },
      },
    },
    async (request, reply) => {
      const { sweepId } = request.params;
      const [view, job] = await Promise.all([describeSweep(sweeps, training, sweepId), sweepJob(sweeps, sweepId)]);
      const curves = await sweepCurves(redis, config.redisPrefix, job);
      const ranks = new Map((view.table ?? []).map((row) => [row.jobId, row.rank]));
      const title = `Validation loss · sweep ${sweepId}`;
      const subtitle = `${view.progress.completed} of ${view.progress.total} runs done · ${view.state}`;
      const spec = curves.some((c) => c.metrics.length > 0)
        ? sweepChart(
            curves.map((c) => ({ label: settingsLabel(c.settings), rank: ranks.get(c.jobId), metrics: c.metrics })),
            { title, subtitle },
          )
        : emptyChart(title, `No run has finished an epoch yet (${subtitle}).`);
      return reply
        .type('image/svg+xml; charset=utf-8')
        .header('cache-control', 'no-store')
        .send(await renderSvg(spec));
    },
  );
};

// Encapsulated (its hooks stay its own, the prefix applies); the name and dependencies are checked at register.
export default fp(sweepRoutes, {
  name: 'fitwell-routes-sweeps',
  dependencies: [
    'fitwell-config',
    'fitwell-redis',
    'fitwell-datasets',
    'fitwell-training-queue',
    'fitwell-sweep-queues',
  ],
  encapsulate: true,
});
