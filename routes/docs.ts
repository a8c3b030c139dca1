import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import fp from 'fastify-plugin';
import { OPENAPI_PATH } from '../src/http/openapi';

const openapiDocumentSchema = z.looseObject({
  openapi: z.string(),
  info: z.looseObject({}),
  paths: z.looseObject({}),
});

/** The OpenAPI document at a conventional path (Swagger UI at /docs shows the same document). */
const docsRoutes: FastifyPluginAsyncZod = async (app) => {
  app.get(
    OPENAPI_PATH,
    {
      schema: {
        operationId: 'getOpenApiDocument',
        summary: 'This API described in OpenAPI 3',
        description: 'Generated at start from the zod schemas the routes validate and serialize with.',
        response: { 200: openapiDocumentSchema },
      },
    },
    // @fastify/swagger builds the document once and caches it.
    async () => app.swagger() as unknown as z.infer<typeof openapiDocumentSchema>,
  );
};

// Encapsulated (its hooks stay its own, the prefix applies); the name and dependencies are checked at register.
export default fp(docsRoutes, { name: 'fitwell-routes-docs', encapsulate: true });
