import { buildApp } from '../../src/app';
import { loadConfig } from '../../src/config';

/**
 * The real API in a process of its own (forked with --expose-gc by api-memory.test.ts), so its
 * resident memory can be measured apart from the test's. Sends {port} once listening; answers
 * 'rss' with {rss} after a full garbage collection.
 */
async function main(): Promise<void> {
  const app = await buildApp(loadConfig(process.env));
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address() as { port: number };
  process.on('message', (message) => {
    if (message !== 'rss') return;
    (globalThis as unknown as { gc: () => void }).gc();
    process.send?.({
      rss: process.memoryUsage().rss,
      cached: app.modelCache.size,
      bytes: app.modelCache.bytes,
    });
  });
  process.on('disconnect', () => void app.close().then(() => process.exit(0)));
  process.send?.({ port: address.port });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
