#!/usr/bin/env node
// Runs every compiled test file (dist/test/**/*.test.js) with Node's built-in test runner.
// Node 20's `--test` takes no globs, so the files are listed here. Pass substrings to filter:
//   node scripts/run-tests.js data/ predict
// Tests need a Redis: REDIS_URL (default redis://127.0.0.1:6379). When none answers there and a
// redis-server binary exists, a private one is started on a free port for this run and stopped
// after it. Each test file uses its own key prefix, so a shared Redis is safe.
'use strict';
const { readdirSync, statSync, mkdtempSync } = require('node:fs');
const { join } = require('node:path');
const { tmpdir } = require('node:os');
const net = require('node:net');
const { spawn, spawnSync } = require('node:child_process');

const root = join(__dirname, '..', 'dist', 'test');
function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return walk(path);
    return name.endsWith('.test.js') ? [path] : [];
  });
}

function answers(url) {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = net.connect({ host: hostname.replace(/^\[|\]$/g, ''), port: Number(port || 6379) });
    socket.setTimeout(1000);
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => {
      socket.destroy();
      resolve(data.toString().startsWith('+PONG'));
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

function freePort() {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function main() {
  const filters = process.argv.slice(2);
  const files = walk(root)
    .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
    .sort();
  if (files.length === 0) {
    console.error('no test files matched');
    process.exit(1);
  }

  let redisUrl = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
  let redis;
  if (!(await answers(redisUrl))) {
    if (spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status !== 0) {
      console.error(`no Redis answers at ${redisUrl} and no redis-server binary exists to start one`);
      process.exit(1);
    }
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'fitwell-test-redis-'));
    redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--dir', dir], {
      stdio: 'ignore',
    });
    redisUrl = `redis://127.0.0.1:${port}`;
    for (let i = 0; i < 50 && !(await answers(redisUrl)); i++) await new Promise((r) => setTimeout(r, 100));
    console.log(`started a private redis-server for the tests at ${redisUrl}`);
  }

  const child = spawn(
    process.execPath,
    // A test that hangs fails after 3 minutes instead of stalling CI; a file whose tests are
    // done exits even if a library left a handle open.
    ['--test', '--test-reporter=spec', '--test-concurrency=1', '--test-timeout=180000', '--test-force-exit', ...files],
    { stdio: 'inherit', env: { ...process.env, NODE_ENV: 'test', REDIS_URL: redisUrl } },
  );
  child.on('exit', (code, signal) => {
    if (redis) redis.kill();
    process.exit(code ?? (signal ? 1 : 0));
  });
}

main();
