import type { PassThrough, Readable } from 'node:stream';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import fp from 'fastify-plugin';
import { enqueueSearch } from '../jobs/search-queue';
import { AppError } from '../src/errors';
import { IdempotencyStore, REPLAYED_HEADER } from '../src/http/idempotency';
import { requireRedis } from '../src/http/redis-errors';
import { searchEventStream } from '../src/http/search-event-stream';
import { errorSchema, idParams } from '../src/schemas/api.schema';
import { searchCreatedSchema, searchRequestSchema, searchViewSchema } from '../src/schemas/search.schema';
import { createSampler } from '../src/search/samplers';
import { SearchStore } from '../src/search/search-store';
import { describeSearch } from '../src/search/search-view';
import { checkObjective, checkSpace } from '../src/search/space';
import { checkSubmission } from '../src/training/trainable';
import { readStoredMetrics } from '../src/training/stored-metrics';
import { emptyChart } from '../src/report/curves-chart';
import { sweepChart } from '../src/report/sweep-chart';
import { renderSvg } from '../src/report/vega';
import { settingsLabel } from '../src/sweeps/sweep-table';

/**
 * Searches: trials proposed by a strategy (grid, random, TPE) over a space of settings, run as
 * ordinary training jobs by every training worker, pruned early by ASHA or the median rule,
 * ranked by the objective. A coordinator job per search (jobs/search-*.ts) does the work; these
 * routes submit, read and cancel it.
 */
const searchRoutes: FastifyPluginAsyncZod = async (app) => {
  const { config, datasets, redis, trainingJobs, searchQueue: coordinators } = app;
  const store = new SearchStore(redis, config.redisPrefix, config.jobKeepSeconds);
  const idempotency = new IdempotencyStore(redis, config.redisPrefix, config.idempotencyTtlSeconds);
  app.addHook('onRequest', requireRedis(redis));
  // Open streams would hold app.close() until their searches end: end them first.
  const open = new Set<PassThrough>();
  app.addHook('preClose', async () => {
    for (const stream of open) stream.end();
  });

  async function view(searchId: string) {
    const spec = await store.spec(searchId);
    if (!spec) throw new AppError('SEARCH_NOT_FOUND', { id: searchId });
    const [status, trials, cancelled] = await Promise.all([
      store.status(searchId),
      store.trials(searchId),
      store.cancelRequested(searchId),
    ]);
    return describeSearch(spec, status, trials, cancelled);
  }

  app.post(
    '/searches',
    {
      schema: {
        operationId: 'createSearch',
        description:
          'Checks the space against the base request (every parameter at its ends) and the dataset now, then ' +
          'starts the search. With an Idempotency-Key, a retry of the same request returns the same search.',
        headers: z.looseObject({
          'idempotency-key': z
            .string()
            .min(1)
            .max(255)
            .optional()
            .describe('Same key and body → the same search, for IDEMPOTENCY_TTL_SECONDS (default 24 h)'),
        }),
        body: searchRequestSchema,
        response: { 202: searchCreatedSchema, 400: errorSchema, 404: errorSchema, 422: errorSchema },
      },
    },
    async (request, reply) => {
      const body = request.body;
      let warnings: string[] = [];
      const { jobId: searchId, replayed } = await idempotency.submit(request, body, async (searchId) => {
        createSampler(body.strategy, body.space, 0);
        checkSpace(body.base, body.space);
        checkObjective(body.base, body.objective.metric);
        const check = await checkSubmission(datasets, body.base);
        if (check.reason) throw new AppError('INVALID_SEARCH', { message: check.reason });
        warnings = check.warnings;
        const seed = body.seed ?? body.base.training.seed ?? Math.floor(Math.random() * 2 ** 31);
        await store.create({ searchId, request: { ...body, seed }, createdAt: new Date().toISOString() });
        await enqueueSearch(coordinators, searchId);
        return searchId;
      });
      if (replayed) reply.header(REPLAYED_HEADER, 'true');
      return reply.status(202).send({ searchId, state: 'running' as const, ...(warnings.length ? { warnings } : {}) });
    },
  );

  app.get(
    '/searches/:searchId',
    {
      schema: {
        operationId: 'getSearch',
        description:
          'Progress and the trials ranked by the objective (completed, then pruned by how far they got), with ' +
          'their settings, state, epochs, diagnosis and model; the best trial and its model.',
        params: idParams('searchId'),
        response: { 200: searchViewSchema, 404: errorSchema },
      },
    },
    async (request) => view(request.params.searchId),
  );

  app.get(
    '/searches/:searchId/curves.svg',
    {
      schema: {
        operationId: 'getSearchCurves',
        description: 'The validation loss of every trial over the epochs on one chart, ranked, pruned trials marked.',
        params: idParams('searchId'),
        response: {
          200: { description: 'An SVG image', content: { 'image/svg+xml': { schema: z.string() } } },
          404: errorSchema,
        },
      },
    },
    async (request, reply) => {
      const { searchId } = request.params;
      const search = await view(searchId);
      const curves = await Promise.all(
        search.trials.map(async (t) => ({
          label: `t${t.trial} ${settingsLabel(t.settings)}${t.state === 'pruned' ? ` ✂ pruned at ${t.prunedAtEpoch}` : ''}`,
          rank: t.rank,
          metrics: readStoredMetrics(await trainingJobs.rawMetrics(t.jobId)),
        })),
      );
      const title = `Validation loss · search ${searchId}`;
      const subtitle = `${search.progress.completed} completed, ${search.progress.pruned} pruned of ${search.progress.proposed} · ${search.state}`;
      const spec = curves.some((c) => c.metrics.length > 0)
        ? sweepChart(curves, { title, subtitle })
        : emptyChart(title, `No trial has finished an epoch yet (${subtitle}).`);
      return reply
        .type('image/svg+xml; charset=utf-8')
        .header('cache-control', 'no-store')
        .send(await renderSvg(spec));
    },
  );

  app.get(
    '/searches/:searchId/events',
    {
      config: { httpMetrics: false },
      schema: {
        operationId: 'streamSearchEvents',
        summary: 'Follow a search live (Server-Sent Events)',
        description:
          'A `progress` event (state, progress, best) at the start and whenever it changes; then `end` (id `end`) ' +
          'with the search as GET returns it, once it has finished and every trial has settled.',
        params: idParams('searchId'),
        response: {
          200: {
            description: 'The event stream; it closes when the search ends',
            content: { 'text/event-stream': { schema: z.custom<Readable>().meta({ type: 'string' }) } },
          },
          404: errorSchema,
        },
      },
    },
    async (request, reply) => {
      const { searchId } = request.params;
      await view(searchId);
      const stream = searchEventStream(() => view(searchId), { onClose: () => open.delete(stream) });
      open.add(stream);
      return reply
        .header('content-type', 'text/event-stream; charset=utf-8')
        .header('cache-control', 'no-cache, no-transform')
        .header('x-accel-buffering', 'no')
        .send(stream);
    },
  );

  app.delete(
    '/searches/:searchId',
    {
      schema: {
        operationId: 'cancelSearch',
        description:
          "Starts no more trials and cancels the running ones through the training jobs' cancellation path " +
          '(each stops after its current batch, keeping its metrics). 409 for a search that has finished.',
        params: idParams('searchId'),
        response: {
          202: z.object({ searchId: z.string(), state: z.literal('cancelled') }),
          404: errorSchema,
          409: errorSchema,
        },
      },
    },
    async (request, reply) => {
      const { searchId } = request.params;
      if (!(await store.spec(searchId))) throw new AppError('SEARCH_NOT_FOUND', { id: searchId });
      const status = await store.status(searchId);
      if (status.state !== 'running') throw new AppError('SEARCH_FINISHED', { id: searchId, state: status.state });
      // The flag first: a trial its coordinator starts meanwhile is cancelled by the coordinator.
      await store.requestCancel(searchId);
      const running = (await store.trials(searchId)).filter((t) => !t.settled);
      await Promise.all(
        running.map((t) =>
          trainingJobs.cancel(t.jobId).catch((error: unknown) => {
            if (error instanceof AppError && (error.code === 'JOB_FINISHED' || error.code === 'JOB_NOT_FOUND')) return;
            throw error;
          }),
        ),
      );
      return reply.status(202).send({ searchId, state: 'cancelled' as const });
    },
  );
};

// Encapsulated (its hooks stay its own, the prefix applies); the name and dependencies are checked at register.
export default fp(searchRoutes, {
  name: 'fitwell-routes-searches',
  dependencies: [
    'fitwell-config',
    'fitwell-redis',
    'fitwell-datasets',
    'fitwell-training-jobs',
    'fitwell-search-queue',
  ],
  encapsulate: true,
});
