import { PassThrough } from 'node:stream';
import type { SearchView } from '../schemas/search.schema';
import { formatEvent } from './training-event-stream';

/**
 * The Server-Sent Events stream of one search, read from its state in Redis every `intervalMs`:
 *
 *   event: progress   data: {"state","progress","best"?}   (at start and whenever it changes)
 *   id: end
 *   event: end        data: the search as GET /v1/searches/:searchId returns it
 *
 * `end` comes once the search has finished and every trial has settled. Polling, not queue
 * events: the coordinator writes the state every pass, and one read of it is cheap.
 */
export function searchEventStream(
  read: () => Promise<SearchView>,
  options: { intervalMs?: number; onClose?: () => void } = {},
): PassThrough {
  const out = new PassThrough();
  let last = '';
  let done = false;
  let timer: NodeJS.Timeout | undefined;
  const finish = () => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    out.end();
    options.onClose?.();
  };
  out.on('close', finish);
  const tick = async () => {
    if (done) return;
    try {
      const view = await read();
      const progress = { state: view.state, progress: view.progress, ...(view.best ? { best: view.best } : {}) };
      const text = JSON.stringify(progress);
      if (text !== last) {
        last = text;
        out.write(formatEvent('progress', progress));
      }
      if (view.state !== 'running' && view.progress.running === 0) {
        out.write(formatEvent('end', view, 'end'));
        finish();
        return;
      }
    } catch {
      // Redis away for a moment: try again at the next tick (the client keeps its connection).
    }
    timer = setTimeout(() => void tick(), options.intervalMs ?? 500);
  };
  void tick();
  return out;
}
