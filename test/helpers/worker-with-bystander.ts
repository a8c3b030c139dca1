import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { closeGracefully, createTrainingWorker } from '../../jobs/training-worker';
import { loadConfig } from '../../src/config';

/**
 * A training worker process with a child of its own that has nothing to do with training (a
 * `sleep`, standing in for the private redis-server `npm start` runs beside its worker). On
 * SIGTERM it shuts the worker down with closeGracefully, as src/main.ts does, then prints one
 * JSON line: whether the bystander is still running, and which other children are still there.
 * Run by test/reliability/worker-shutdown-children.test.ts as `node worker-with-bystander.js`.
 */
const config = loadConfig(process.env);
const bystander = spawn('sleep', ['600'], { stdio: 'ignore' });
let bystanderExit: string | null = null;
bystander.once('exit', (code, signal) => (bystanderExit = signal ?? `exit code ${code}`));

/** This process's children that are running (not exited, not a zombie), read from /proc. */
function runningChildren(): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(ppid) === process.pid && state !== 'Z') pids.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return pids;
}

const worker = createTrainingWorker(config);
worker.on('error', (error) => console.error(`worker error: ${error.message}`));
void worker.waitUntilReady().then(() => console.log(`training worker consuming; bystander ${bystander.pid}`));

process.once('SIGTERM', () => {
  void closeGracefully(worker, config.shutdownGraceMs).then(() => {
    const children = runningChildren();
    const report = {
      bystanderRunning: bystanderExit === null && children.includes(bystander.pid!),
      bystanderExit,
      otherChildren: children.filter((pid) => pid !== bystander.pid),
    };
    console.log(JSON.stringify(report));
    bystander.kill('SIGKILL');
    process.exit(0);
  });
});
