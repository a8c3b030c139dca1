import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { FastifyError, FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';
import { AppError } from '../src/errors';
import { ApiKeys, presentedKey } from '../src/http/auth';
import { clientCode } from '../src/http/error-handler';
import { DASHBOARD_PATH, DOCS_PREFIX } from '../src/http/openapi';

export { DASHBOARD_PATH };

type BoardServerAdapter = Parameters<typeof createBullBoard>[0]['serverAdapter'];
type BoardErrorHandler = Parameters<FastifyAdapter['setErrorHandler']>[0];

/**
 * bull-board sets an error handler on its routes that turns every error into a 500. Errors thrown
 * by the app's own onRequest hooks (401 from the API keys, 429, 503) must keep their status and
 * the API's error shape, and the headers those hooks set (WWW-Authenticate, Retry-After): a
 * browser only shows its login prompt for a 401.
 */
class DashboardAdapter extends FastifyAdapter {
  override setErrorHandler(handler: BoardErrorHandler): this {
    return super.setErrorHandler((error) => {
      const status = error instanceof AppError ? error.status : (error as FastifyError).statusCode;
      if (status === undefined || (status >= 500 && !(error instanceof AppError))) return handler(error);
      const code = error instanceof AppError ? error.code : clientCode(status);
      // bull-board's status type lists only the codes it uses itself; the adapter passes any on.
      return { status: status as 400, body: { error: { code, message: error.message } } };
    });
  }
}

interface EpochProgress {
  epoch: number;
  epochs: number;
}

function isEpochProgress(value: unknown): value is EpochProgress {
  const p = value as Partial<EpochProgress> | null;
  return typeof p === 'object' && p !== null && typeof p.epoch === 'number' && typeof p.epochs === 'number';
}

/**
 * The job dashboard (bull-board) on the training queue, at /admin/queues.
 *
 * Access: the auth plugin (src/http/auth.ts) guards every route under /admin with the API keys
 * from a global onRequest hook, and answers a browser with a Basic challenge (any user name, a
 * key as the password). Nothing here opens a way around it: this plugin must stay registered
 * after the auth plugin, as buildApp does. Changing the queue (bull-board's PUT/POST/DELETE/PATCH
 * routes: retry, clean, add, update-data, empty, obliterate, pause, …) needs an admin key
 * (ADMIN_API_KEYS) on top; without admin keys the dashboard is read-only.
 *
 * bull-board's routes carry no schemas (only `hide: true`), so the app's zod validator and
 * serializer compilers are never asked to compile anything for them; its error handler applies
 * to its own routes only, since this plugin is encapsulated (wrapped by fastify-plugin with
 * `encapsulate: true`, for its name and dependencies only), and lets the app's own errors
 * through (DashboardAdapter).
 */
const dashboardRoutes: FastifyPluginAsync = async (app) => {
  const admins = new ApiKeys(app.config.adminApiKeys);
  const queue = new BullMQAdapter(app.trainingQueue, {
    displayName: 'training',
    description: 'Training jobs: the data is the training request, progress is epochs done of epochs asked for.',
    // Without admin keys the board shows no buttons; the hook below refuses the requests anyway.
    readOnlyMode: !admins.enabled,
    allowRetries: admins.enabled,
  });
  app.addHook('onRequest', (request, reply, done) => {
    if (request.method === 'GET' || request.method === 'HEAD') {
      done();
      return;
    }
    if (!admins.enabled) {
      done(new AppError('DASHBOARD_READ_ONLY'));
      return;
    }
    const presented = presentedKey(request.headers.authorization, true);
    if (presented !== undefined && admins.identify(presented) !== undefined) {
      done();
      return;
    }
    reply.header('WWW-Authenticate', 'Basic realm="fitwell-admin", charset="UTF-8"');
    done(
      new AppError('UNAUTHORIZED', {
        message:
          'changing jobs from the dashboard needs an admin key (ADMIN_API_KEYS): sign in with it as the password, ' +
          'or send "Authorization: Bearer <admin key>"',
      }),
    );
  });
  // The processor reports {epoch, epochs}; bull-board draws a percentage from `progress` and
  // shows the whole object on the job's Progress tab.
  queue.setFormatter('progress', (progress: unknown) =>
    isEpochProgress(progress) && progress.epochs > 0
      ? { progress: Math.round((100 * progress.epoch) / progress.epochs), ...progress }
      : progress,
  );
  queue.setFormatter('name', (job: { name?: string; data?: { request?: { task?: string; target?: string } } }) => {
    const request = job.data?.request;
    return request?.target ? `${request.task ?? 'train'} → ${request.target}` : (job.name ?? 'train');
  });

  const serverAdapter = new DashboardAdapter();
  serverAdapter.setBasePath(DASHBOARD_PATH);
  createBullBoard({
    queues: [queue],
    // @bull-board/fastify pins its own (older) copy of @bull-board/api, whose types TypeScript
    // sees as distinct; the adapter only talks to the board through this interface.
    serverAdapter: serverAdapter as unknown as BoardServerAdapter,
    options: {
      uiConfig: {
        boardTitle: 'fitwell',
        miscLinks: [{ text: 'API docs', url: DOCS_PREFIX }],
      },
    },
  });
  await app.register(serverAdapter.registerPlugin(), { prefix: DASHBOARD_PATH });
};

// Encapsulated (its hooks stay its own, the prefix applies); the name and dependencies are checked at register.
export default fp(dashboardRoutes, {
  name: 'fitwell-routes-dashboard',
  dependencies: ['fitwell-config', 'fitwell-training-queue'],
  encapsulate: true,
});
