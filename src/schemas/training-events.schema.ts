import { z } from 'zod';
import { epochMetricsSchema, jobStateSchema, trainingJobSchema } from './api.schema';

/** The payloads of GET /v1/training-jobs/:jobId/events, one schema per SSE event name. */

/** `event: state`: at the start of the stream and whenever the job changes state. */
export const trainingStateEventSchema = z.object({
  jobId: z.string(),
  state: jobStateSchema,
  progress: z.object({ epoch: z.number().int(), epochs: z.number().int() }),
  attempts: z.number().int(),
});

/** `event: epoch` (id: the epoch number): one finished epoch's metrics. */
export const trainingEpochEventSchema = epochMetricsSchema;

/** `event: end` (id: end): the finished job as GET /v1/training-jobs/:jobId returns it, without the metrics already streamed. */
export const trainingEndEventSchema = trainingJobSchema.omit({ metrics: true });

/** `event: removed` (id: end): the job no longer exists (cancelled while waiting, or removed). */
export const trainingRemovedEventSchema = z.object({ jobId: z.string(), message: z.string() });

export const TRAINING_EVENT_STREAM_DESCRIPTION = [
  'A `text/event-stream` (Server-Sent Events) that follows the job until it ends, then closes:',
  '',
  '- `event: state` — `{jobId, state, progress: {epoch, epochs}, attempts}` at the start and on each state change;',
  "- `event: epoch`, `id: <epoch>` — one finished epoch's metrics (as in the job's `metrics`); epochs finished before",
  '  the client connected come first;',
  '- `event: end`, `id: end` — the final job (as `GET /v1/training-jobs/{jobId}`, without `metrics`); the stream closes;',
  '- `event: removed`, `id: end` — the job was removed (for instance cancelled while waiting); the stream closes;',
  '- `: keep-alive` comment lines every 15 s.',
  '',
  'Reconnecting with `Last-Event-ID: <epoch>` resumes after that epoch; `Last-Event-ID: end` answers 204, which tells',
  "an EventSource to stop reconnecting. Try it with `curl -N`. Each event's `data` is one line of JSON, described by",
  'the schema its name maps to under `x-events`: TrainingStateEvent, EpochMetrics, TrainingEndEvent and',
  'TrainingRemovedEvent.',
].join('\n');
