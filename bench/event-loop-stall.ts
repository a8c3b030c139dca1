/**
 * The harness of the event-loop stall benches (bench/predict-stall.ts, bench/job-view-stall.ts):
 * a fresh API process (`node dist/src/main.js api`) on a free loopback port, and for each round
 * one request measured two ways — the API's own largest event-loop delay during it
 * (monitorEventLoopDelay, prom-client's nodejs_eventloop_lag_max_seconds, reset at every /metrics
 * scrape, as bench/chaos.ts reads it) and, from outside, the slowest /healthz answer while it runs
 * (polled back to back). Prints a line a round and a summary with the load average.
 */
import { loadavg } from 'node:os';
import { createServer } from 'node:net';
import type { Config } from '../src/config';
import { startServiceProcess, stopWorkerProcess } from '../test/helpers/worker-process';
import { deletePrefix, testConfig } from '../test/helpers/config';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** A config for the bench's API: info logging (it says when it listens), open on loopback, a prefix of its own. */
export async function stallBenchConfig(): Promise<Config> {
  return testConfig({ PORT: String(await freePort()), LOG_LEVEL: 'info', RATE_LIMIT_MAX: '0' });
}

/**
 * Runs `rounds` of `request(base)` against a fresh API process with `config` (whose Redis holds
 * what the request needs), printing each round and a summary named `what`; deletes the config's
 * key prefix at the end.
 */
export async function measureStalls(
  config: Config,
  what: string,
  rounds: number,
  request: (base: string) => Promise<Response>,
): Promise<void> {
  const base = `http://127.0.0.1:${config.port}`;
  const api = startServiceProcess('api', config);
  try {
    await Promise.race([api.ready, api.exited.then((code) => Promise.reject(new Error(`API exited: ${code}`)))]);
    // Ready, and past its start-up work (Redis scripts, queue connections), which is no request's.
    for (let ready = 0; ready !== 200;) ready = (await fetch(`${base}/readyz`)).status;
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const lagMaxMs = async () => {
      const text = await (await fetch(`${base}/metrics`)).text();
      const match = /^nodejs_eventloop_lag_max_seconds (\S+)/m.exec(text);
      return match ? Number(match[1]) * 1000 : NaN;
    };
    const lags: number[] = [];
    const health: number[] = [];
    for (let round = 0; round < rounds; round++) {
      await lagMaxMs();
      let done = false;
      let slowestHealth = 0;
      const poll = (async () => {
        while (!done) {
          const started = performance.now();
          await (await fetch(`${base}/healthz`)).text();
          slowestHealth = Math.max(slowestHealth, performance.now() - started);
        }
      })();
      const started = performance.now();
      const response = await request(base);
      const text = await response.text();
      const ms = performance.now() - started;
      done = true;
      await poll;
      const lag = await lagMaxMs();
      lags.push(lag);
      health.push(slowestHealth);
      console.log(
        `round ${round}: ${response.status} (${text.length} bytes) in ${ms.toFixed(0)} ms; API max event-loop delay ` +
          `${lag.toFixed(1)} ms; slowest /healthz during it ${slowestHealth.toFixed(1)} ms`,
      );
    }
    const sorted = (values: number[]) => [...values].sort((a, b) => a - b);
    const median = (values: number[]) => sorted(values)[Math.floor(values.length / 2)];
    console.log(
      `${rounds} rounds of ${what}: max event-loop delay median ${median(lags).toFixed(1)} ms, max ` +
        `${Math.max(...lags).toFixed(1)} ms (first, cold: ${lags[0].toFixed(1)} ms); slowest /healthz median ` +
        `${median(health).toFixed(1)} ms, max ${Math.max(...health).toFixed(1)} ms; load average ${loadavg()
          .map((l) => l.toFixed(2))
          .join(' ')}`,
    );
  } finally {
    await stopWorkerProcess(api);
    await deletePrefix(config);
  }
}
