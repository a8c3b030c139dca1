import fastifySwagger, { type SwaggerTransform } from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { createJsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod';
import { registerApiComponents } from '../schemas/openapi-components';

/**
 * The OpenAPI 3 description of the API, generated from the same zod schemas the routes validate
 * and serialize with (fastify-type-provider-zod's transforms), served as /openapi.json with
 * Swagger UI at /docs. It must be registered before any route: @fastify/swagger collects routes
 * as they are added.
 *
 * On top of what the schemas say, the transform adds what every route shares: the error
 * responses that any route can give (400 for bad input, 401/429 for keys and limits, 500, 503),
 * response descriptions, a tag from the path and, for routes whose schema has none, a summary.
 */

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
  'POST /v1/training-jobs': 'Queue a training job',
  'GET /v1/training-jobs/{jobId}': 'A training job: state, progress, per-epoch metrics, result',
  'DELETE /v1/training-jobs/{jobId}': 'Cancel a training job',
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
  401: 'Missing or invalid API key (when the server has API_KEYS set)',
  404: 'Not found',
  409: 'Conflict with the current state',
  413: 'Request body over the limit',
  415: 'Unsupported content type',
  422: 'Understood but cannot be done',
  429: 'Rate limit exceeded (see Retry-After)',
  500: 'A bug: internal details are logged, not returned',
  503: 'Redis unreachable or the server overloaded (see Retry-After)',
};

/** Routes that need no key even when API_KEYS is set (see src/http/auth.ts). */
const OPEN_PATHS = new Set(['/healthz', '/readyz', '/metrics', OPENAPI_PATH]);

const baseTransform = createJsonSchemaTransform({ skipList: [] });

const transform: SwaggerTransform = (input) => {
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
  const takesInput = ['body', 'querystring', 'params', 'headers'].some((part) => input.schema[part as never]);
  const common: string[] = ['500'];
  if (takesInput) common.push('400');
  if (path.startsWith('/v1/')) common.push('503');
  const protectedRoute = !OPEN_PATHS.has(path) && !path.startsWith(DOCS_PREFIX);
  if (protectedRoute) common.push('401', '429');
  for (const status of common) responses[status] ??= { ...ERROR_REF };
  for (const [status, response] of Object.entries(responses)) {
    responses[status] = withDescription(status, response as JsonObject);
  }
  schema.response = responses;
  if (protectedRoute) schema.security = [{ apiKey: [] }];
  return result;
};

/** @fastify/swagger takes a response's description from its schema's `description` (a $ref's siblings are dropped). */
function withDescription(status: string, response: JsonObject): JsonObject {
  if (typeof response.description === 'string') return response;
  return { ...response, description: STATUS_TEXT[status] ?? `HTTP ${status}` };
}

function tagOf(path: string): string {
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
    if (Array.isArray(value)) return value.forEach(visit);
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
const HTML_PAGES = {
  [DOCS_PREFIX]: {
    get: {
      tags: ['documentation'],
      summary: 'Swagger UI for this document',
      responses: { 200: { description: 'HTML page', content: { 'text/html': { schema: { type: 'string' } } } } },
    },
  },
  [DASHBOARD_PATH]: {
    get: {
      tags: ['operations'],
      summary: 'Job dashboard (bull-board): the training queue, each job with its progress, data and result',
      description:
        'A browser page behind the API keys: a browser asks for a user name (any) and a password (an API key); ' +
        'scripts may send `Authorization: Bearer <key>`.',
      security: [{ dashboardLogin: [] }, { apiKey: [] }],
      responses: {
        200: { description: 'HTML page', content: { 'text/html': { schema: { type: 'string' } } } },
        401: { description: STATUS_TEXT[401], content: { 'application/json': { schema: ERROR_REF } } },
      },
    },
  },
};

const transformObject: typeof jsonSchemaTransformObject = (input) => {
  const document = jsonSchemaTransformObject(input) as JsonObject;
  return pruneComponents({ ...document, paths: { ...(document.paths as JsonObject), ...HTML_PAGES } });
};

async function openapiPlugin(app: FastifyInstance, opts: { version: string }): Promise<void> {
  registerApiComponents();
  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'fitwell',
        version: opts.version,
        description:
          'Train neural networks on tabular data with the normalization, dropout and L1/L2 regularization you ' +
          'choose, follow training live, and serve the trained models. Errors are always ' +
          '`{"error":{"code","message"}}`.',
      },
      components: {
        securitySchemes: {
          apiKey: { type: 'http', scheme: 'bearer', description: 'One of the keys in API_KEYS, when set.' },
          dashboardLogin: { type: 'http', scheme: 'basic', description: 'Any user name, an API key as the password.' },
        },
      },
      tags: [
        { name: 'datasets', description: 'Upload and inspect training data' },
        { name: 'training-jobs', description: 'Queue training, follow it, cancel it' },
        { name: 'models', description: 'Trained models: inspect, predict, export' },
        { name: 'sweeps', description: 'Grids of training jobs compared side by side' },
        { name: 'operations', description: 'Health, metrics and the job dashboard' },
        { name: 'documentation', description: 'This document and its UI' },
      ],
    },
    transform,
    transformObject,
  });
  await app.register(fastifySwaggerUi, {
    routePrefix: DOCS_PREFIX,
    uiConfig: { docExpansion: 'list', deepLinking: true, defaultModelsExpandDepth: 0 },
  });
}

export default fp(openapiPlugin, { name: 'fitwell-openapi' });
