/**
 * `node dist/bench/redis-ping-latency.js [--seconds N] [--writers N] [--readers N]`: how long a
 * PING on a connection of its own takes while Redis is busy with the largest writes the service
 * does — a dataset chunk of DATASET_CHUNK_ROWS (65,536) rows × 30 columns (float32 cells plus a
 * missing-value bit each, ~8 MB) written with SET … EX, as an upload does, and read back with
 * GET, as a training worker does. The Redis watchdog (src/http/redis-watchdog.ts) declares Redis
 * frozen when a PING stays unanswered past UNRESPONSIVE_AFTER_MS; that threshold must sit well
 * above what this prints, or a busy Redis would count as a frozen one.
 *
 * Runs against a redis-server of its own on a free port (never the shared one); the writers,
 * readers and the pinger are connections of this one process, as in the API process (its stores'
 * connection writes the chunk, the watchdog's own connection PINGs).
 */
import { loadavg } from 'node:os';
import { Redis } from 'ioredis';
import { PrivateRedis } from '../test/helpers/private-redis';

function option(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? Number(process.argv[index + 1]) : fallback;
}

const SECONDS = option('seconds', 10);
const WRITERS = option('writers', 2);
const READERS = option('readers', 1);
const ROWS = 65_536;
const COLUMNS = 30;
/** The watchdog's cadence: one PING sent every PING_EVERY_MS. */
const PING_EVERY_MS = 100;
/** Thresholds tried: how many PINGs each would have taken for a frozen Redis. */
const THRESHOLDS_MS = [100, 200, 300, 400, 500, 600, 800];

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function quantile(sorted: number[], q: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : NaN;
}

async function main(): Promise<void> {
  const server = await PrivateRedis.start();
  const connect = () => new Redis(server.url, { maxRetriesPerRequest: 1 });
  const chunk = Buffer.alloc(ROWS * COLUMNS * 4 + Math.ceil((ROWS * COLUMNS) / 8));
  for (let i = 0; i < chunk.length; i += 4096) chunk[i] = i & 0xff;
  const started = loadavg()[0];
  let stop = false;
  let written = 0;
  let read = 0;
  const writers = Array.from({ length: WRITERS }, () => connect());
  const readers = Array.from({ length: READERS }, () => connect());
  const pinger = connect();
  try {
    await Promise.all([...writers, ...readers, pinger].map((c) => c.ping()));
    await pinger.set('bench:chunk:read', chunk); // before the measurement
    const work = [
      ...writers.map(async (c, w) => {
        for (let i = 0; !stop; i++) {
          await c
            .pipeline()
            .set(`bench:chunk:${w}:${i % 4}`, chunk, 'EX', 60)
            .exec();
          written++;
        }
      }),
      ...readers.map(async (c) => {
        while (!stop) {
          await c.getBuffer('bench:chunk:read');
          read++;
        }
      }),
    ];
    const latencies: number[] = [];
    const pings: Promise<void>[] = [];
    // As the watchdog judges: a timer at the threshold, then one more turn of the event loop
    // (setImmediate, after the poll phase has read what arrived) before a PING counts as unanswered.
    const falseAlarms = new Map(THRESHOLDS_MS.map((t) => [t, 0]));
    const deadline = performance.now() + SECONDS * 1000;
    while (performance.now() < deadline) {
      const sentAt = performance.now();
      let answered = false;
      pings.push(
        pinger.ping().then(() => {
          answered = true;
          latencies.push(performance.now() - sentAt);
        }),
      );
      for (const t of THRESHOLDS_MS) {
        setTimeout(
          () =>
            setImmediate(() => {
              if (!answered) falseAlarms.set(t, (falseAlarms.get(t) ?? 0) + 1);
            }),
          t,
        );
      }
      await sleep(PING_EVERY_MS);
    }
    await Promise.all(pings);
    await sleep(Math.max(...THRESHOLDS_MS) + 100);
    stop = true;
    await Promise.all(work);
    latencies.sort((a, b) => a - b);
    const mb = (chunk.length / 1e6).toFixed(1);
    console.log(
      `${SECONDS} s, ${WRITERS} writer(s) of ${mb} MB chunks (${written} written), ${READERS} reader(s) (${read} read); ` +
        `load average ${started.toFixed(1)} at the start, ${loadavg()[0].toFixed(1)} at the end`,
    );
    console.log(
      `PING (${latencies.length}): p50 ${quantile(latencies, 0.5).toFixed(1)} ms, p99 ${quantile(latencies, 0.99).toFixed(1)} ms, ` +
        `max ${latencies[latencies.length - 1].toFixed(1)} ms (answer read; includes this process' event-loop delay)`,
    );
    console.log(
      `taken for a frozen Redis, by threshold (timer + one turn of the loop): ` +
        THRESHOLDS_MS.map((t) => `${t} ms: ${falseAlarms.get(t)}`).join(', '),
    );
  } finally {
    stop = true;
    for (const c of [...writers, ...readers, pinger]) c.disconnect();
    await server.close();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
