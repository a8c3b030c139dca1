import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import SwaggerParser from '@apidevtools/swagger-parser';
import type { FastifyInstance, RouteOptions } from 'fastify';
import { buildApp } from '../../src/app';
import type { Config } from '../../src/config';
import { API_EXAMPLES } from '../../src/schemas/openapi-components';
import { deletePrefix, testConfig } from '../helpers/config';

/**
 * Third-party UIs register their own pages, assets and JSON APIs; the document describes each UI
 * by its entry page (added by hand) and leaves their internals out.
 */
const UI_PREFIXES = [
  { prefix: '/docs/', entry: '/docs' },
  { prefix: '/admin/queues/', entry: '/admin/queues' },
];

/** The repository root (tests run from dist/test/routes). */
const ROOT = join(__dirname, '..', '..', '..');

interface Operation {
  operationId?: string;
  summary?: string;
  description?: string;
  responses: Record<string, { description: string; content?: Record<string, { schema: unknown }> }>;
}
type OpenApiDocument = {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, unknown> };
};

describe('OpenAPI document', () => {
  let config: Config;
  let app: FastifyInstance;
  const routes: { method: string; url: string }[] = [];
  let document: OpenApiDocument;

  before(async () => {
    config = testConfig();
    app = await buildApp(config, {
      onRoute: (route: RouteOptions) => {
        for (const method of [route.method].flat()) routes.push({ method, url: route.url });
      },
    });
    await app.ready();
    const res = await app.inject('/openapi.json');
    assert.equal(res.statusCode, 200, res.body);
    document = res.json();
  });
  after(async () => {
    await app.close();
    await deletePrefix(config);
  });

  test('is a valid OpenAPI 3 document (swagger-parser)', async () => {
    assert.match(document.openapi, /^3\./);
    // validate() dereferences in place: give it a copy.
    await SwaggerParser.validate(structuredClone(document) as never);
  });

  test('describes every registered route', () => {
    assert.ok(routes.length > 20, `only ${routes.length} routes were seen`);
    const missing: string[] = [];
    for (const { method, url } of routes) {
      if (method === 'HEAD') continue; // fastify's automatic HEAD for each GET
      const ui = UI_PREFIXES.find(({ prefix, entry }) => url === `${entry}/` || url.startsWith(prefix));
      const path = (ui ? ui.entry : url).replace(/:(\w+)/g, '{$1}');
      const operation = document.paths[path]?.[(ui ? 'get' : method).toLowerCase()];
      if (!operation) missing.push(`${method} ${url}`);
    }
    assert.deepEqual(missing, [], `routes absent from /openapi.json:\n${missing.join('\n')}`);
    for (const { entry } of UI_PREFIXES) assert.ok(document.paths[entry]?.get, `${entry} is documented`);
  });

  test('every operation has a summary, a success response and described error responses', () => {
    for (const [path, item] of Object.entries(document.paths)) {
      for (const [method, operation] of Object.entries(item)) {
        const name = `${method.toUpperCase()} ${path}`;
        assert.ok(operation.summary, `${name} has no summary`);
        const statuses = Object.keys(operation.responses);
        assert.ok(
          statuses.some((s) => s.startsWith('2')),
          `${name} has no 2xx response`,
        );
        for (const [status, response] of Object.entries(operation.responses)) {
          assert.ok(
            response.description && response.description !== 'Default Response',
            `${name} ${status} has no description`,
          );
          if (Number(status) >= 400) {
            const schema = response.content?.['application/json']?.schema;
            // The API's errors are all {"error":{code,message}}; only the probes answer in their own shape.
            if (path.startsWith('/v1/'))
              assert.deepEqual(schema, { $ref: '#/components/schemas/Error' }, `${name} ${status}`);
            // The Open Inference Protocol's health probes answer "not ready" with an empty body, as it says.
            else if (!path.startsWith('/v2/health/')) assert.ok(schema, `${name} ${status} has a JSON schema`);
          }
        }
        if (path.startsWith('/v1/')) {
          for (const status of ['500', '503']) assert.ok(operation.responses[status], `${name} documents ${status}`);
        }
      }
    }
  });

  test('request bodies and responses come from the zod schemas, with examples', () => {
    const training = document.paths['/v1/training-jobs'].post as unknown as {
      requestBody: { content: Record<string, { schema: { $ref: string } }> };
      responses: Record<string, { content: Record<string, { schema: { $ref: string } }> }>;
    };
    const ref = training.requestBody.content['application/json'].schema.$ref;
    const body = document.components.schemas[ref.split('/').pop()!] as {
      required: string[];
      properties: Record<string, unknown>;
      example: unknown;
    };
    assert.deepEqual([...body.required].sort(), ['datasetId', 'target', 'task']);
    assert.ok(body.properties.model && body.properties.regularization && body.properties.training);
    assert.ok(body.example, 'the training request has an example');
    assert.equal(training.responses['202'].content['application/json'].schema.$ref, '#/components/schemas/EnqueuedJob');

    const csv = (
      document.paths['/v1/datasets'].post as unknown as { requestBody: { content: Record<string, unknown> } }
    ).requestBody.content;
    assert.deepEqual(Object.keys(csv).sort(), [
      'application/json',
      'application/x-ndjson',
      'text/csv',
      'text/tab-separated-values',
    ]);
    const events = document.paths['/v1/training-jobs/{jobId}/events'].get.responses['200'];
    assert.ok(events.content?.['text/event-stream']);
    const zip = document.paths['/v1/models/{modelId}/export'].get.responses['200'];
    assert.ok(zip.content?.['application/zip']);

    for (const [id, component] of Object.entries(document.components.schemas)) {
      if (id.endsWith('Input') && id !== 'TrainingRequestInput') continue;
      assert.ok((component as { example?: unknown }).example !== undefined, `${id} has an example`);
    }
  });

  test('every operation has an operationId of its own', () => {
    const ids = Object.values(document.paths).flatMap((item) =>
      Object.values(item).map((operation) => operation.operationId),
    );
    assert.ok(
      ids.every((id) => typeof id === 'string' && /^[a-z][A-Za-z]+$/.test(id)),
      JSON.stringify(ids),
    );
    assert.equal(new Set(ids).size, ids.length, `duplicate operationIds: ${JSON.stringify(ids)}`);
  });

  test("Spectral's default OpenAPI ruleset (.spectral.yaml) finds nothing", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fitwell-spectral-'));
    try {
      const file = join(dir, 'openapi.json');
      writeFileSync(file, JSON.stringify(document));
      const spectral = join(ROOT, 'node_modules', '.bin', 'spectral');
      const args = ['lint', '--ruleset', join(ROOT, '.spectral.yaml'), '--format', 'json', '--quiet', file];
      // Exits non-zero only for errors; warnings and hints are in the JSON and must be absent too.
      const { stdout } = await promisify(execFile)(spectral, args, { cwd: dir }).catch((error: unknown) => ({
        stdout: (error as { stdout?: string }).stdout ?? '',
      }));
      const problems = JSON.parse(stdout.trim() || '[]') as { code: string; message: string; path: string[] }[];
      assert.deepEqual(
        problems.map((p) => `${p.code} at ${p.path.join('.')}: ${p.message}`),
        [],
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('every example is accepted by its own schema', () => {
    for (const [id, { schema, example }] of Object.entries(API_EXAMPLES)) {
      const parsed = schema.safeParse(example);
      assert.ok(parsed.success, `${id} example: ${parsed.success ? '' : parsed.error.message}`);
    }
  });

  test('Swagger UI is served at /docs and reads the same document', async () => {
    const page = await app.inject('/docs');
    const html = page.statusCode === 302 ? await app.inject(page.headers.location as string) : page;
    assert.equal(html.statusCode, 200);
    assert.match(html.headers['content-type'] as string, /text\/html/);
    assert.match(html.body, /swagger/i);
    const json = await app.inject('/docs/json');
    assert.deepEqual(json.json(), document);
  });
});
