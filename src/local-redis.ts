import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createRedis } from './store/redis';

/** True when a Redis server answers PING at `url` within `timeoutMs`. */
export async function redisAnswers(url: string, timeoutMs = 1_500): Promise<boolean> {
  const client = createRedis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
    connectTimeout: timeoutMs,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

function hasRedisServer(): boolean {
  return spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
}

/**
 * For `npm start` on a fresh machine: when nothing answers at a local REDIS_URL and a
 * `redis-server` binary exists, start a private one on that port (append-only file on, data in
 * ./.redis, so queued jobs survive a restart). Returns the child to stop on exit, or null when
 * Redis was already there. Throws with a plain explanation when neither is possible.
 */
export async function ensureLocalRedis(url: string, log: (msg: string) => void): Promise<ChildProcess | null> {
  if (await redisAnswers(url)) return null;
  const { hostname, port } = new URL(url);
  const local = ['127.0.0.1', 'localhost', '::1', '[::1]'].includes(hostname);
  if (!local) {
    throw new Error(`no Redis answers at REDIS_URL=${url}; start it or point REDIS_URL at a running server`);
  }
  if (!hasRedisServer()) {
    throw new Error(
      `no Redis answers at ${url} and no redis-server binary was found to start one. ` +
        `Install Redis (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis) ` +
        `or set REDIS_URL to a running server.`,
    );
  }
  const dir = join(process.cwd(), '.redis');
  mkdirSync(dir, { recursive: true });
  const child = spawn(
    'redis-server',
    [
      '--port',
      port || '6379',
      '--bind',
      '127.0.0.1',
      '--dir',
      dir,
      '--appendonly',
      'yes',
      '--save',
      '',
      '--maxmemory-policy',
      'noeviction',
    ],
    // Its own process group: a terminal's Ctrl-C (SIGINT to the foreground group) reaches fitwell,
    // which stops the trainers first and this server last, not all of them at once.
    { stdio: 'ignore', detached: true },
  );
  // Not left behind when fitwell exits some other way (a fatal error ends in process.exit).
  const stopOnExit = () => child.kill('SIGTERM');
  process.once('exit', stopOnExit);
  child.once('exit', () => process.off('exit', stopOnExit));
  for (let i = 0; i < 50; i++) {
    if (await redisAnswers(url, 500)) {
      log(`started a private redis-server on port ${port || 6379} (data in ${dir})`);
      return child;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill();
  throw new Error(`started redis-server on port ${port || 6379} but it did not answer`);
}
