import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A redis-server of a test's own, on a free port, that the test can stop (a crash: SIGKILL, or
 * SHUTDOWN NOSAVE) and start again on the same port, to test what fitwell does while Redis is
 * away and after it returns. Never touches the shared test Redis.
 */
export class PrivateRedis {
  private child: ChildProcess | undefined;

  private constructor(
    readonly port: number,
    private readonly dir: string,
    private readonly args: string[],
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  /** `args` are extra redis-server options, e.g. ['--maxmemory-policy', 'allkeys-lru']. */
  static async start(args: string[] = []): Promise<PrivateRedis> {
    const redis = new PrivateRedis(await freePort(), mkdtempSync(join(tmpdir(), 'fitwell-private-redis-')), args);
    await redis.restart();
    return redis;
  }

  /** Starts the server (again) on its port and resolves when it answers PING. */
  async restart(): Promise<void> {
    if (this.child) throw new Error('redis-server is already running');
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--dir',
        this.dir,
        '--save',
        '',
        '--appendonly',
        'no',
        ...this.args,
      ],
      { stdio: 'ignore' },
    );
    this.child = child;
    // A test process that dies or hangs up must not leave a redis-server behind.
    const killOnExit = () => child.kill('SIGKILL');
    process.once('exit', killOnExit);
    child.once('exit', () => {
      process.off('exit', killOnExit);
      if (this.child === child) this.child = undefined;
    });
    const deadline = Date.now() + 10_000;
    while (!(await ping(this.port))) {
      if (!this.child) throw new Error(`redis-server on port ${this.port} exited at start`);
      if (Date.now() > deadline) throw new Error(`redis-server on port ${this.port} did not answer`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Kills the server (SIGKILL, like a crash) and resolves once its port refuses connections. */
  async kill(): Promise<void> {
    // A frozen server would not die of SIGKILL any later, but make sure it is not left stopped.
    await this.stopWith(() => {
      this.child?.kill('SIGKILL');
      this.child?.kill('SIGCONT');
    });
  }

  /** Freezes the server (SIGSTOP): connections stay open, nothing is answered until thaw(). */
  freeze(): void {
    if (!this.child?.pid) throw new Error('redis-server is not running');
    process.kill(this.child.pid, 'SIGSTOP');
  }

  /** Lets a frozen server run again (SIGCONT). */
  thaw(): void {
    if (!this.child?.pid) throw new Error('redis-server is not running');
    process.kill(this.child.pid, 'SIGCONT');
  }

  /** Asks the server to exit without saving (SHUTDOWN NOSAVE). */
  async shutdown(): Promise<void> {
    await this.stopWith(() => sendCommand(this.port, 'SHUTDOWN NOSAVE'));
  }

  async close(): Promise<void> {
    if (this.child) await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async stopWith(stop: () => unknown): Promise<void> {
    const child = this.child;
    if (!child) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    stop();
    await exited;
    this.child = undefined;
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

/** Writes one inline command and resolves with the first reply (or '' when the server closes). */
function sendCommand(port: number, command: string, timeoutMs = 1_000): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.setTimeout(timeoutMs);
    socket.once('connect', () => socket.write(`${command}\r\n`));
    socket.once('data', (data) => {
      socket.destroy();
      resolve(data.toString());
    });
    socket.once('close', () => resolve(''));
    socket.once('error', () => resolve(''));
    socket.once('timeout', () => {
      socket.destroy();
      resolve('');
    });
  });
}

async function ping(port: number): Promise<boolean> {
  return (await sendCommand(port, 'PING', 500)).startsWith('+PONG');
}
