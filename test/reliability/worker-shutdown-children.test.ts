import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { configToEnv } from '../../src/config';
import { startService, xorCsv, type TestService } from '../helpers/app';

const FIXTURE = join(__dirname, '..', 'helpers', 'worker-with-bystander.js');

/**
 * The worker's graceful shutdown stops the trainers BullMQ forked for it, and nothing else: a
 * child the process started for another reason (in `npm start` mode, the private redis-server
 * the trainers write to) keeps running. Real processes: a worker process, its sandboxed
 * trainer, and a bystander child.
 */
describe('graceful shutdown signals only the training children', () => {
  let svc: TestService;
  let datasetId: string;

  before(async () => {
    svc = await startService({ worker: false });
    const upload = await svc.http.post('/v1/datasets').set('content-type', 'text/csv').send(xorCsv(3_000));
    datasetId = upload.body.id;
  });
  after(() => svc.close());

  test('past the grace period the trainer hands its job back and exits; the bystander survives', async () => {
    let output = '';
    const child = spawn(process.execPath, [FIXTURE], {
      env: { ...process.env, ...configToEnv(svc.config), SHUTDOWN_GRACE_MS: '1000' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const exited = new Promise<number | string>((resolve) =>
      child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')),
    );
    try {
      // Far more epochs than a second's training: the job is still running when the grace ends.
      const res = await svc.http.post('/v1/training-jobs').send({
        datasetId,
        target: 'label',
        task: 'classification',
        model: { hidden: [{ units: 96 }, { units: 96 }] },
        training: { epochs: 500, batchSize: 16, seed: 3 },
      });
      assert.equal(res.status, 202);
      const jobId: string = res.body.jobId;
      await svc.waitForEpoch(jobId, 1);

      const pgrep = spawnSync('pgrep', ['-P', String(child.pid)], { encoding: 'utf8' }).stdout;
      const bystander = Number(/bystander (\d+)/.exec(output)?.[1]);
      const trainers = pgrep
        .split('\n')
        .filter(Boolean)
        .map(Number)
        .filter((pid) => pid !== bystander);
      assert.equal(trainers.length, 1, `one sandboxed trainer besides the bystander: ${pgrep}\n${output}`);

      child.kill('SIGTERM');
      assert.equal(await exited, 0, output);
      const report = JSON.parse(output.trim().split('\n').at(-1)!) as {
        bystanderRunning: boolean;
        bystanderExit: string | null;
        otherChildren: number[];
      };
      assert.equal(report.bystanderExit, null, `the bystander was stopped (${report.bystanderExit})`);
      assert.equal(report.bystanderRunning, true);
      assert.deepEqual(report.otherChildren, [], 'the trainer has exited once the worker is closed');
      const job = await svc.app.trainingQueue.getJob(jobId);
      assert.equal(await job!.getState(), 'waiting', 'the trainer handed its job back to the queue');
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    }
  });
});
