import { PassThrough } from 'node:stream';
import { apiState } from '../training-jobs/contract';
import type { QueuedJob, TrainingJobRepository } from '../training-jobs/job-repository';
import { epochMetricsSchema } from '../schemas/api.schema';
import { trainingEndEventSchema } from '../schemas/training-events.schema';
import { describeJob } from '../training/job-view';
import type { JobEvent, JobEventHub } from './job-event-hub';
import { readStoredEpoch } from '../training/stored-metrics';

/**
 * The Server-Sent Events stream of one training job:
 *
 *   event: state   data: {"jobId","state","progress":{"epoch","epochs"},"attempts"}   (at start and on each change)
 *   id: 3
 *   event: epoch   data: {"epoch":3,"loss":…}                                         (one per finished epoch)
 *   id: end
 *   event: end     data: the job as GET /v1/training-jobs/:jobId returns it, without "metrics"
 *
 * Epochs already finished when the client connects are sent first, so a late client sees
 * everything. Queue events only say *that* something happened; the epoch metrics themselves are
 * read from the job's metrics list in Redis, which is the source of truth. All work runs in one
 * promise chain, so events are never sent twice or out of order, however they interleave.
 */

export interface TrainingEventStreamDeps {
  hub: JobEventHub;
  jobs: TrainingJobRepository;
}

export interface TrainingEventStreamOptions {
  /** Epochs the client already has (from Last-Event-ID): only later ones are sent. */
  afterEpoch?: number;
  /** Comment line interval that keeps proxies from closing an idle stream; also re-reads state. */
  heartbeatMs?: number;
  /** Called once when the stream is over, whatever the reason. */
  onClose?: () => void;
}

const TERMINAL = new Set(['completed', 'failed', 'cancelled']);

export function formatEvent(event: string, data: unknown, id?: string): string {
  return `${id === undefined ? '' : `id: ${id}\n`}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

export function trainingEventStream(
  jobId: string,
  deps: TrainingEventStreamDeps,
  options: TrainingEventStreamOptions = {},
): PassThrough {
  const { hub, jobs } = deps;
  const out = new PassThrough();
  /** Highest epoch sent in the current attempt. */
  let lastEpoch = options.afterEpoch ?? 0;
  let lastState: string | undefined;
  /** Set when a shrunken metrics list already revealed a retry, so its epoch-0 report is not a second reset. */
  let resetSeen = false;
  let done = false;
  let chain: Promise<void> = Promise.resolve();

  const write = (text: string) => {
    if (!done && !out.writableEnded && !out.destroyed) out.write(text);
  };

  const run = (step: () => Promise<void>) => {
    chain = chain
      .then(() => (done ? undefined : step()))
      .catch((error: unknown) => {
        // A lost Redis connection: say so and close; EventSource clients reconnect and resume.
        // (Not named "error": that would look like a connection error to an EventSource.)
        const message = error instanceof Error ? error.message : String(error);
        write(formatEvent('stream-error', { error: { code: 'STREAM_FAILED', message } }));
        close();
      });
  };

  const loadJob = (): Promise<QueuedJob | null> => jobs.queued(jobId);

  const sendNewEpochs = async () => {
    const raw = await jobs.rawMetrics(jobId);
    // A retried attempt starts its list again: the client gets the new attempt's epochs.
    if (raw.length < lastEpoch) {
      lastEpoch = 0;
      resetSeen = true;
    }
    const first = lastEpoch;
    raw.slice(first).forEach((entry, i) => {
      // An entry without the numbers every epoch has (see readStoredEpoch) is skipped.
      const stored = readStoredEpoch(entry);
      const parsed = stored && epochMetricsSchema.safeParse(stored);
      if (parsed?.success) write(formatEvent('epoch', parsed.data, String(parsed.data.epoch)));
      lastEpoch = Math.max(lastEpoch, parsed?.success ? parsed.data.epoch : first + i + 1);
    });
  };

  const sendState = async (loaded?: Awaited<ReturnType<typeof loadJob>>) => {
    const current = loaded === undefined ? await loadJob() : loaded;
    if (!current) return removed();
    const state = apiState(current.state, current.job.failedReason);
    if (TERMINAL.has(state)) return finish(current);
    if (state === lastState) return;
    lastState = state;
    const progress = current.job.progress as { epoch?: number; epochs?: number } | undefined;
    write(
      formatEvent('state', {
        jobId,
        state,
        progress: {
          epoch: typeof progress?.epoch === 'number' ? progress.epoch : 0,
          epochs: current.job.data.request.training.epochs,
        },
        attempts: current.job.attemptsMade,
      }),
    );
  };

  const finish = async (loaded?: Awaited<ReturnType<typeof loadJob>>) => {
    const current = loaded ?? (await loadJob());
    if (!current) return removed();
    await sendNewEpochs();
    const { metrics: _all, ...view } = describeJob(current.job, current.state, []);
    // The documented shape when it holds; the job as it is otherwise (a newer worker's fields).
    const parsed = trainingEndEventSchema.safeParse(view);
    write(formatEvent('end', parsed.success ? parsed.data : view, 'end'));
    close();
  };

  const removed = async () => {
    // A waiting job cancelled by DELETE is removed from the queue but leaves a record: it ends
    // as cancelled, like any other cancelled job.
    const cancelled = await jobs.cancelledWaiting(jobId);
    if (cancelled) {
      const { metrics: _none, ...view } = cancelled.view;
      write(formatEvent('end', view, 'end'));
    } else {
      write(formatEvent('removed', { jobId, message: `training job "${jobId}" was removed` }, 'end'));
    }
    close();
  };

  const onEvent = (event: JobEvent) => {
    switch (event.type) {
      case 'progress': {
        const epoch = (event.data as { epoch?: unknown } | undefined)?.epoch;
        // Epoch 0 is reported when an attempt starts, after its metrics list was cleared; after
        // epochs were sent, it is a retry (announced by the waiting/active state events).
        if (epoch === 0) {
          run(async () => {
            if (!resetSeen) lastEpoch = 0;
            resetSeen = false;
          });
        }
        run(sendNewEpochs);
        break;
      }
      case 'waiting':
      case 'active':
        run(() => sendState());
        break;
      case 'completed':
      case 'failed':
        run(() => finish());
        break;
      case 'removed':
        run(removed);
        break;
    }
  };

  // Subscribe before the first read, so nothing that happens in between is missed.
  const unsubscribe = hub.subscribe(jobId, onEvent);
  const heartbeat = setInterval(() => {
    write(': keep-alive\n\n');
    // A safety net for an event lost while the event connection was re-established.
    run(async () => {
      await sendNewEpochs();
      await sendState();
    });
  }, options.heartbeatMs ?? 15_000);
  heartbeat.unref();

  let closed = false;
  function close() {
    done = true;
    if (!out.writableEnded) out.end();
  }
  const cleanup = () => {
    if (closed) return;
    closed = true;
    done = true;
    clearInterval(heartbeat);
    unsubscribe();
    options.onClose?.();
  };
  // 'close' follows both a normal end and a client that went away (fastify destroys the stream).
  out.on('close', cleanup);
  out.on('error', cleanup);

  write('retry: 3000\n\n');
  run(async () => {
    const current = await loadJob();
    if (!current) return removed();
    if (TERMINAL.has(apiState(current.state, current.job.failedReason))) return finish(current);
    await sendState(current);
    await sendNewEpochs();
  });
  return out;
}
