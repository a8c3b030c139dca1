import type supertest from 'supertest';

/**
 * Waits until GET /readyz answers 200: the app's Redis connection is up, so routes that need
 * Redis answer. `buildApp` + `app.ready()` do not wait for that (the connection has no offline
 * queue, so a command sent before it is ready fails with 503 at once). Tests, like a load
 * balancer, wait on /readyz before sending such requests.
 */
export async function waitForReady(http: ReturnType<typeof supertest>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await http.get('/readyz');
    if (res.status === 200) return;
    if (Date.now() > deadline) throw new Error(`/readyz still answers ${res.status} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
