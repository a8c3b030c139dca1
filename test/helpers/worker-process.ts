import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { configToEnv, type Config } from '../../src/config';

const MAIN = join(__dirname, '..', '..', 'src', 'main.js');

/** A real fitwell process (`node dist/src/main.js api|worker`), as deployments run it. */
export interface WorkerProcess {
  child: ChildProcess;
  /** The pids of its sandboxed training children. */
  sandboxPids(): number[];
  /** Resolves with the exit code (or signal) once the process has ended. */
  exited: Promise<number | string>;
  /** Resolves once the process says it listens (api) or consumes the queue (worker). */
  ready: Promise<void>;
  output(): string;
}

export function startWorkerProcess(config: Config, env: Record<string, string> = {}): WorkerProcess {
  return startServiceProcess('worker', config, env);
}

export function startServiceProcess(
  mode: 'api' | 'worker',
  config: Config,
  env: Record<string, string> = {},
): WorkerProcess {
  let output = '';
  const child = spawn(process.execPath, [MAIN, mode], {
    env: { ...process.env, ...configToEnv(config), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')),
  );
  const ready = new Promise<void>((resolve) => {
    const onData = () => {
      if (/listening on|Server listening|training worker consuming/.test(output)) {
        child.stdout.off('data', onData);
        resolve();
      }
    };
    child.stdout.on('data', onData);
  });
  return {
    child,
    exited,
    ready,
    output: () => output,
    sandboxPids() {
      const listed = spawnSync('pgrep', ['-P', String(child.pid)], { encoding: 'utf8' }).stdout;
      return listed.split('\n').filter(Boolean).map(Number);
    },
  };
}

export async function stopWorkerProcess(worker: WorkerProcess): Promise<void> {
  if (worker.child.exitCode === null && worker.child.signalCode === null) worker.child.kill('SIGKILL');
  await worker.exited;
}
