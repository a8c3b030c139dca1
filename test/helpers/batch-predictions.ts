import type supertest from 'supertest';

/** A GET as the caller sends it (with its own headers, e.g. an API key). */
export type Get = (url: string) => supertest.Test;

/** `customer_id,a,b,color,label` rows: label = "yes" when a·b > 0 (xorCsv's task) with an id column. */
export function idXorCsv(rows: number, seed = 1): string {
  let s = seed;
  const rand = () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648;
  };
  const lines = ['customer_id,a,b,color,label'];
  for (let i = 0; i < rows; i++) {
    const a = rand() * 2 - 1;
    const b = rand() * 2 - 1;
    const color = rand() < 0.5 ? 'red' : 'blue';
    lines.push(`c${i},${a.toFixed(4)},${b.toFixed(4)},${color},${a * b > 0 ? 'yes' : 'no'}`);
  }
  return lines.join('\n') + '\n';
}

/** Polls GET /v1/batch-predictions/:id until the batch has finished (completed, failed or cancelled). */
export async function waitForBatch(get: Get, batchId: string, timeoutMs = 120_000): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await get(`/v1/batch-predictions/${batchId}`);
    if (res.status !== 200) throw new Error(`GET batch ${batchId}: ${res.status} ${res.text}`);
    if (['completed', 'failed', 'cancelled'].includes(res.body.state)) return res.body;
    if (Date.now() > deadline) throw new Error(`batch ${batchId} still ${res.body.state} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** A results CSV (no quoted fields in these tests' data) as a header and rows of strings. */
export function parseResults(text: string): { header: string[]; rows: string[][] } {
  const lines = text.trimEnd().split('\n');
  return { header: lines[0].split(','), rows: lines.slice(1).map((line) => line.split(',')) };
}
