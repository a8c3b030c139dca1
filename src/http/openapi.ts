import fastifySwagger, { type SwaggerTransform } from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { createJsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod';
import { MAX_ID_LENGTH } from '../schemas/api.schema';
import { registerApiComponents } from '../schemas/openapi-components';
import { BROWSER_PAGES } from './auth';

/**
 * The OpenAPI 3 description of the API, generated from the same zod schemas the routes validate
 * and serialize with (fastify-type-provider-zod's transforms), served as /openapi.json with
 * Swagger UI at /docs. It must be registered before any route: @fastify/swagger collects routes
 * as they are added.
 *
 * On top of what the schemas say, the transform adds what every route shares: the error
 * responses the server's own layers give (400 for bad input, 408/413/415 for bodies, 414 for
 * overlong ids, 401/429 for keys and limits as configured, 500, 503), the headers clients act on
 * (Retry-After, x-ratelimit-*, Idempotent-Replayed), response descriptions, a tag from the path
 * and, for routes whose schema has none, a summary. test/routes/contract.test.ts holds the
 * document to what the server really answers.
 */

export interface OpenapiOptions {
  version: string;
  /** API_KEYS is set: protected routes need a key (401 without one). Unset, a key is optional and unchecked. */
  apiKeys: boolean;
  /** RATE_LIMIT_MAX > 0: protected routes send x-ratelimit-* headers and may answer 429. */
  rateLimited: boolean;
}

export const DOCS_PREFIX = '/docs';
export const OPENAPI_PATH = '/openapi.json';
/** The job dashboard's prefix (bull-board); its pages are listed in the document by hand. */
export const DASHBOARD_PATH = '/admin/queues';

type JsonObject = Record<string, unknown>;

const ERROR_REF = { $ref: '#/components/schemas/Error' };

/** Summaries of the routes whose schemas carry none; a route's own `summary` wins. */
const SUMMARIES: Record<string, string> = {
  'POST /v1/datasets': 'Upload a dataset (CSV or JSON rows)',
  'GET /v1/datasets/{datasetId}': "A dataset's columns and row count",
  'GET /v1/datasets': 'Datasets, newest first (paged)',
  'GET /v1/datasets/{datasetId}/schema': "A dataset's schema: columns, types, categories, missing cells",
  'DELETE /v1/datasets/{datasetId}': 'Delete a dataset (409 while a job trains on it)',
  'POST /v1/training-jobs': 'Queue a training job',
  'GET /v1/training-jobs/{jobId}': 'A training job: state, progress, per-epoch metrics, result',
  'GET /v1/training-jobs': 'Training jobs, newest first (filtered by state and dataset, paged)',
  'DELETE /v1/training-jobs/{jobId}': 'Cancel a waiting or active training job; delete a finished one',
  'GET /v1/models': 'Trained models, newest first',
  'GET /v1/models/{modelId}': 'A trained model: spec, preprocessing, metrics, sparsity',
  'POST /v1/models/{modelId}/predict': 'Predict with a trained model',
  'GET /healthz': 'Liveness and the TensorFlow.js backend in use',
  'GET /readyz': 'Readiness: 200 when Redis answers',
};

/**
 * Request bodies that are more than JSON: the zod schema validates what fastify's content-type
 * parsers produce, which for a CSV upload is a string, so the media types are stated here.
 */
const BODY_CONTENT: Record<string, JsonObject> = {
  'POST /v1/datasets': {
    content: {
      'text/csv': {
        schema: {
          type: 'string',
          description: 'A header row, then one row per sample',
          example: 'tenure_months,monthly_spend,plan,churned\n3,95,basic,yes\n41,40,pro,no\n',
        },
      },
      'text/tab-separated-values': {
        schema: { type: 'string', description: 'A CSV with tabs between fields' },
      },
      'application/x-ndjson': {
        schema: {
          type: 'string',
          description: 'One JSON object per line (column → number, string, boolean or null); keys in first-seen order',
          example:
            '{"tenure_months":3,"plan":"basic","churned":"yes"}\n{"tenure_months":41,"plan":"pro","churned":"no"}\n',
        },
      },
      'application/json': { schema: { $ref: '#/components/schemas/JsonDatasetInput' } },
    },
  },
};

const STATUS_TEXT: Record<string, string> = {
  200: 'OK',
  201: 'Created',
  202: 'Accepted',
  204: 'No content',
  400: 'Invalid input: the message names the field and the reason',
  401: 'Missing or invalid API key',
  404: 'Not found',
  408: 'The request was not received within REQUEST_TIMEOUT_MS; the connection is closed',
  409: 'Conflict with the current state',
  413: 'Request body over the limit (the message names the setting that raises it)',
  414: `An id in the path is longer than ${MAX_ID_LENGTH} characters`,
  415: 'Unsupported content type (the message names the accepted ones)',
  422: 'Understood but cannot be done',
  429: 'Rate limit exceeded (see Retry-After)',
  500: 'A bug: internal details are logged, not returned',
  503: 'Redis unreachable or the server overloaded (see Retry-After)',
  507: 'Redis is full (maxmemory reached) and refused the write; nothing was stored',
};

/** The Open Inference Protocol's health probes: open and never refused, like /healthz and /readyz. */
const V2_HEALTH = ['/v2/health/live', '/v2/health/ready'];
/** The Open Inference Protocol's error body (`{"error": "<message>"}`) on every /v2 error. */
const V2_ERROR_REF = { $ref: '#/components/schemas/InferenceErrorResponse' };
/** Routes that write to Redis, so a full Redis refuses them (507 STORAGE_FULL). */
const STORES = new Set([
  'POST /v1/datasets',
  'POST /v1/training-jobs',
  'DELETE /v1/training-jobs/{jobId}',
  'POST /v1/sweeps',
]);

/** Routes that need no key even when API_KEYS is set (see src/http/auth.ts). */
const OPEN_PATHS = new Set(['/healthz', '/readyz', '/metrics', OPENAPI_PATH, ...V2_HEALTH]);
/** Routes answered even when the server is overloaded (see src/http/overload.ts). */
const NEVER_OVERLOADED = new Set(['/healthz', '/readyz', '/metrics', ...V2_HEALTH]);

/** Response headers, described once under components.headers. */
const HEADERS: Record<string, JsonObject> = {
  RetryAfter: {
    description: 'Seconds to wait before retrying',
    required: true,
    schema: { type: 'integer', minimum: 0 },
  },
  RateLimitLimit: {
    description: 'Requests allowed per window (RATE_LIMIT_MAX)',
    schema: { type: 'integer', minimum: 1 },
  },
  RateLimitRemaining: { description: 'Requests left in the current window', schema: { type: 'integer', minimum: 0 } },
  RateLimitReset: { description: 'Seconds until the window resets', schema: { type: 'integer', minimum: 0 } },
  ModelId: {
    description: 'The id of the model that answered (what `name@alias` resolved to)',
    schema: { type: 'string' },
  },
  IdempotentReplayed: {
    description: '"true" when the answer repeats the one given to an earlier request with the same Idempotency-Key',
    schema: { type: 'string', enum: ['true'] },
  },
};
const HEADER_NAMES: Record<string, string> = {
  RetryAfter: 'Retry-After',
  RateLimitLimit: 'x-ratelimit-limit',
  RateLimitRemaining: 'x-ratelimit-remaining',
  RateLimitReset: 'x-ratelimit-reset',
  IdempotentReplayed: 'Idempotent-Replayed',
  ModelId: 'x-model-id',
};
const headerRef = (name: string) => ({ $ref: `#/components/headers/${name}` });

/** Headers of particular operations' responses, by operationId and status. */
const OPERATION_HEADERS: Record<string, Record<string, (keyof typeof HEADERS)[]>> = {
  createTrainingJob: { 202: ['IdempotentReplayed'] },
  predict: { 200: ['ModelId'] },
};

function makeTransform(opts: OpenapiOptions): SwaggerTransform {
  return (input) => {
    const result = baseTransform(input);
    const schema = result.schema as JsonObject;
    if (schema.hide) return result;

    const path = input.url.replace(/:(\w+)/g, '{$1}');
    const method = [input.route.method].flat()[0];
    const key = `${method} ${path}`;
    const description = typeof schema.description === 'string' ? schema.description : undefined;
    schema.summary ??= SUMMARIES[key] ?? (description ? firstSentence(description) : undefined);
    schema.tags ??= [tagOf(path)];
    if (BODY_CONTENT[key]) schema.body = BODY_CONTENT[key];

    const responses = { ...((schema.response as JsonObject | undefined) ?? {}) };
    const protectedRoute = !OPEN_PATHS.has(path) && !path.startsWith(DOCS_PREFIX);
    for (const status of commonStatuses(input.schema as JsonObject, path, protectedRoute, opts, method)) {
      responses[status] ??= { ...(path.startsWith('/v2') ? V2_ERROR_REF : ERROR_REF) };
    }
    for (const [status, response] of Object.entries(responses)) {
      responses[status] = withDescription(status, response as JsonObject);
    }
    schema.response = responses;
    if (protectedRoute) {
      schema.security = securityOf(
        opts,
        BROWSER_PAGES.has(input.url) ? [{ apiKey: [] }, { browserLogin: [] }] : [{ apiKey: [] }],
      );
    }
    return result;
  };
}

/** The error statuses a route gives from the server's shared layers, not from its own code. */
function commonStatuses(
  routeSchema: JsonObject,
  path: string,
  protectedRoute: boolean,
  opts: OpenapiOptions,
  method: string,
): string[] {
  const statuses = ['500'];
  if (STORES.has(`${method} ${path}`)) statuses.push('507');
  if (['body', 'querystring', 'params', 'headers'].some((part) => routeSchema[part])) statuses.push('400');
  if (routeSchema.body) statuses.push('408', '413', '415');
  if (routeSchema.params) statuses.push('414');
  if (!NEVER_OVERLOADED.has(path)) statuses.push('503');
  if (protectedRoute && opts.apiKeys) statuses.push('401');
  if (protectedRoute && opts.rateLimited) statuses.push('429');
  return statuses;
}

/** With keys configured the schemes are required; on an open server a key is optional (and unchecked). */
function securityOf(opts: OpenapiOptions, schemes: JsonObject[]): JsonObject[] {
  return opts.apiKeys ? schemes : [{}, ...schemes];
}

const baseTransform = createJsonSchemaTransform({ skipList: [] });

/** @fastify/swagger takes a response's description from its schema's `description` (a $ref's siblings are dropped). */
function withDescription(status: string, response: JsonObject): JsonObject {
  if (typeof response.description === 'string') return response;
  return { ...response, description: STATUS_TEXT[status] ?? `HTTP ${status}` };
}

function tagOf(path: string): string {
  if (path === '/v2' || path.startsWith('/v2/')) return 'open-inference';
  const resource = /^\/v1\/([^/]+)/.exec(path)?.[1];
  if (resource) return resource;
  if (path === OPENAPI_PATH || path.startsWith(DOCS_PREFIX)) return 'documentation';
  return 'operations';
}

function firstSentence(text: string): string {
  const sentence = text.split(/(?<=[.:;])\s/, 1)[0].replace(/[.:;]$/, '');
  return sentence.length > 100 ? `${sentence.slice(0, 97)}…` : sentence;
}

/** Drops components nothing refers to (the zod registry yields an input and an output variant of each). */
function pruneComponents(document: JsonObject): JsonObject {
  const components = (document.components ?? {}) as { schemas?: Record<string, unknown> };
  const schemas = components.schemas ?? {};
  const used = new Set<string>();
  const visit = (value: unknown) => {
    if (Array.isArray(value)) {
      value.forEach(visit);
      return;
    }
    if (!value || typeof value !== 'object') return;
    for (const [key, child] of Object.entries(value)) {
      if (key === '$ref' && typeof child === 'string' && child.startsWith('#/components/schemas/')) {
        const name = child.slice('#/components/schemas/'.length);
        if (!used.has(name)) {
          used.add(name);
          visit(schemas[name]);
        }
      } else {
        visit(child);
      }
    }
  };
  visit(document.paths);
  return {
    ...document,
    components: {
      ...components,
      schemas: Object.fromEntries(Object.entries(schemas).filter(([name]) => used.has(name))),
    },
  };
}

/** Pages served by third-party UIs, whose own routes are hidden from the document. */
function htmlPages(opts: OpenapiOptions): JsonObject {
  const page = { 200: { description: 'HTML page', content: { 'text/html': { schema: { type: 'string' } } } } };
  const error = (status: string) => ({
    description: STATUS_TEXT[status],
    content: { 'application/json': { schema: ERROR_REF } },
  });
  const errors = (statuses: string[]) => Object.fromEntries(statuses.map((status) => [status, error(status)]));
  return {
    [DOCS_PREFIX]: {
      get: {
        operationId: 'getDocsPage',
        tags: ['documentation'],
        summary: 'Swagger UI for this document',
        description: 'Swagger UI (@fastify/swagger-ui) on /openapi.json: browse the operations and send requests.',
        responses: { ...page, ...errors(['500', '503']) },
      },
    },
    [DASHBOARD_PATH]: {
      get: {
        operationId: 'getDashboard',
        tags: ['operations'],
        summary: 'Job dashboard (bull-board): the training queue, each job with its progress, data and result',
        description:
          'A browser page behind the API keys: a browser asks for a user name (any) and a password (an API key); ' +
          'scripts may send `Authorization: Bearer <key>`.',
        security: securityOf(opts, [{ browserLogin: [] }, { apiKey: [] }]),
        responses: {
          ...page,
          ...errors(['500', '503', ...(opts.apiKeys ? ['401'] : []), ...(opts.rateLimited ? ['429'] : [])]),
        },
      },
    },
  };
}

/** The headers each response sends that a client acts on (see HEADERS). */
function addResponseHeaders(
  paths: Record<string, Record<string, { operationId?: string; responses: Record<string, JsonObject> }>>,
): void {
  for (const item of Object.values(paths)) {
    for (const operation of Object.values(item)) {
      const rateLimited = operation.responses['429'] !== undefined;
      for (const [status, response] of Object.entries(operation.responses)) {
        const names: string[] = [];
        if (status === '429' || status === '503') names.push('RetryAfter');
        // Every response of a limited route except those given before the limiter counts (401).
        if (rateLimited && status !== '401') names.push('RateLimitLimit', 'RateLimitRemaining', 'RateLimitReset');
        names.push(...(OPERATION_HEADERS[operation.operationId ?? '']?.[status] ?? []));
        if (names.length === 0) continue;
        response.headers = {
          ...(response.headers as JsonObject | undefined),
          ...Object.fromEntries(names.map((name) => [HEADER_NAMES[name], headerRef(name)])),
        };
      }
    }
  }
}

/**
 * OpenAPI 3.0 cannot type the events of a text/event-stream; each event's `data` (JSON) is named
 * here, by event name, as an `x-events` extension of the media type, with the component that
 * describes it (the route's description says the same in prose).
 */
const EVENT_PAYLOADS: Record<string, Record<string, string>> = {
  streamTrainingJobEvents: {
    state: 'TrainingStateEvent',
    epoch: 'EpochMetrics',
    end: 'TrainingEndEvent',
    removed: 'TrainingRemovedEvent',
  },
};

function addEventPayloads(paths: Parameters<typeof addResponseHeaders>[0]): void {
  for (const item of Object.values(paths)) {
    for (const operation of Object.values(item)) {
      const events = EVENT_PAYLOADS[operation.operationId ?? ''];
      const media = (operation.responses['200']?.content as Record<string, JsonObject> | undefined)?.[
        'text/event-stream'
      ];
      if (!events || !media) continue;
      media['x-events'] = Object.fromEntries(
        Object.entries(events).map(([event, component]) => [event, { $ref: `#/components/schemas/${component}` }]),
      );
    }
  }
}

/**
 * An example of each path parameter, on the parameter itself (where tools that build requests
 * from the document, such as Dredd, look for one; it refuses a path parameter without it). The
 * ids are shaped like the ones the API hands out, and match the components' examples.
 */
const PATH_PARAMETER_EXAMPLES: Record<string, string> = {
  datasetId: 'ds_3kTq9vYw2mZx',
  jobId: '0b6f5a8e-7f1c-4d0a-9a57-2c4e0f3b9d11',
  modelId: 'mdl_Xr2c8QpLk1vB',
  name: 'churn',
  alias: 'production',
  version: '1',
  sweepId: '5d1c2a9e-3b7f-4e8a-b6d0-9f2e4c1a7b35',
  searchId: '8e3a1f6c-2d4b-4c9e-a7f1-6b5d0e2c9a48',
};

function addPathParameterExamples(paths: Parameters<typeof addResponseHeaders>[0]): void {
  for (const item of Object.values(paths)) {
    for (const operation of Object.values(item)) {
      for (const parameter of (operation as { parameters?: JsonObject[] }).parameters ?? []) {
        const example = PATH_PARAMETER_EXAMPLES[parameter.name as string];
        if (parameter.in === 'path' && example !== undefined) parameter.example ??= example;
      }
    }
  }
}

function makeTransformObject(opts: OpenapiOptions): typeof jsonSchemaTransformObject {
  return (input) => {
    const document = jsonSchemaTransformObject(input) as JsonObject;
    const paths = { ...(document.paths as JsonObject), ...htmlPages(opts) } as Parameters<typeof addResponseHeaders>[0];
    addResponseHeaders(paths);
    addEventPayloads(paths);
    addPathParameterExamples(paths);
    return pruneComponents({ ...document, paths });
  };
}

async function openapiPlugin(app: FastifyInstance, opts: OpenapiOptions): Promise<void> {
  registerApiComponents();
  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'fitwell',
        version: opts.version,
        description:
          'Train neural networks on tabular data with the normalization, dropout and L1/L2 regularization you ' +
          'choose, follow training live, and serve the trained models. Errors are ' +
          '`{"error":{"code","message"}}`, `code` one of a fixed list; under /v2 (the Open Inference Protocol) they ' +
          'are the protocol\'s `{"error": "<message>"}`.' +
          (opts.apiKeys
            ? ''
            : ' This server runs open (API_KEYS is not set): no route needs a key, and a key sent is not checked.'),
      },
      servers: [{ url: '/', description: 'This server' }],
      components: {
        securitySchemes: {
          apiKey: { type: 'http', scheme: 'bearer', description: 'One of the keys in API_KEYS, when set.' },
          browserLogin: {
            type: 'http',
            scheme: 'basic',
            description:
              'For the pages opened in a browser (dashboard, report, curves): any user name, an API key as the password.',
          },
        },
        headers: HEADERS,
      },
      tags: [
        { name: 'datasets', description: 'Upload and inspect training data' },
        { name: 'training-jobs', description: 'Queue training, follow it, cancel it' },
        { name: 'models', description: 'Trained models: inspect, predict, export, delete' },
        {
          name: 'model-names',
          description: 'Named models: versions and aliases (production, staging) that predict can address',
        },
        { name: 'sweeps', description: 'Grids of training jobs compared side by side' },
        {
          name: 'open-inference',
          description: 'The Open Inference Protocol (KServe v2 / Triton REST): metadata, readiness, inference',
        },
        { name: 'searches', description: 'Hyper-parameter searches (grid, random, TPE) with ASHA or median pruning' },
        { name: 'operations', description: 'Health, metrics and the job dashboard' },
        { name: 'documentation', description: 'This document and its UI' },
      ],
    },
    transform: makeTransform(opts),
    transformObject: makeTransformObject(opts),
  });
  await app.register(fastifySwaggerUi, {
    routePrefix: DOCS_PREFIX,
    uiConfig: { docExpansion: 'list', deepLinking: true, defaultModelsExpandDepth: 0 },
  });
}

export default fp(openapiPlugin, { name: 'fitwell-openapi' });
