import { readFileSync } from 'node:fs';
import Fastify, { type FastifyInstance } from 'fastify';
import { buildApp } from '../src/app';
import { loadConfig } from '../src/config';

/**
 * A server process for bench/predict.ts, forked so that it has a core of its own while
 * autocannon loads it from the parent:
 * - `app`: the real API (buildApp with the environment's config), listening on 127.0.0.1;
 * - `bare`: a bare fastify with one POST route at the same path that answers a constant JSON
 *   body (the real predict response, from the file named by the second argument): the framework's floor — body
 *   parsing, routing and sending — with none of fitwell's work.
 * Tells the parent its port over IPC once it listens.
 */
async function main(): Promise<void> {
  const mode = process.argv[2];
  let app: FastifyInstance;
  if (mode === 'app') {
    app = await buildApp(loadConfig(process.env));
  } else if (mode === 'bare') {
    const body = readFileSync(process.argv[3], 'utf8');
    app = Fastify({ logger: false });
    app.post('/v1/models/:modelId/predict', async (_request, reply) => reply.type('application/json').send(body));
  } else {
    throw new Error(`unknown mode "${mode}": use app or bare`);
  }
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  if (!address || typeof address === 'string') throw new Error('no TCP address');
  process.send?.({ port: address.port });
  process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
