import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import fp from 'fastify-plugin';
import { jobCurvesSvg, loadJobReport } from '../src/report/job-report';
import { evaluationSvgs } from '../src/report/evaluation-charts';
import { reportPage } from '../src/report/report-page';
import { requireRedis } from '../src/http/redis-errors';
import { errorSchema, idParams } from '../src/schemas/api.schema';

/**
 * Pictures of one training job: its curves as SVG and a report page. The page has no script and
 * loads nothing, so its Content-Security-Policy allows inline styles only.
 */
export const REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:";

const trainingJobReportRoutes: FastifyPluginAsyncZod = async (app) => {
  const { trainingJobs, redis } = app;
  app.addHook('onRequest', requireRedis(redis));

  app.get(
    '/training-jobs/:jobId/curves.svg',
    {
      schema: {
        operationId: 'getTrainingJobCurves',
        description:
          'Training and validation loss (and accuracy or MAE) per epoch as SVG, best and stopping epochs marked. ' +
          'Before the first epoch ends: an SVG saying so.',
        params: idParams('jobId'),
        response: {
          200: { description: 'An SVG image', content: { 'image/svg+xml': { schema: z.string() } } },
          404: errorSchema,
        },
      },
    },
    async (request, reply) => {
      const report = await loadJobReport(trainingJobs, request.params.jobId);
      const svg = await jobCurvesSvg(report);
      return reply
        .type('image/svg+xml; charset=utf-8')
        .header('cache-control', report.state === 'completed' || report.state === 'failed' ? 'max-age=60' : 'no-store')
        .send(svg);
    },
  );

  app.get(
    '/training-jobs/:jobId/report',
    {
      schema: {
        operationId: 'getTrainingJobReport',
        description:
          'An HTML page: configuration, curves, diagnosis, evaluation (metrics, confusion matrix, ROC, reliability, importance), sparsity per layer, warnings.',
        params: idParams('jobId'),
        response: {
          200: { description: 'An HTML page', content: { 'text/html': { schema: z.string() } } },
          404: errorSchema,
        },
      },
    },
    async (request, reply) => {
      const report = await loadJobReport(trainingJobs, request.params.jobId);
      const html = reportPage(report, await jobCurvesSvg(report), await evaluationSvgs(report.result?.evaluation));
      return reply
        .type('text/html; charset=utf-8')
        .header('content-security-policy', REPORT_CSP)
        .header('cache-control', 'no-store')
        .send(html);
    },
  );
};

// Encapsulated (its hooks stay its own, the prefix applies); the name and dependencies are checked at register.
export default fp(trainingJobReportRoutes, {
  name: 'fitwell-routes-training-job-report',
  dependencies: ['fitwell-redis', 'fitwell-training-jobs'],
  encapsulate: true,
});
