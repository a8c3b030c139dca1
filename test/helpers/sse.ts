import http from 'node:http';

export interface SseEvent {
  event: string;
  id?: string;
  data: unknown;
  /** Date.now() when the event was parsed. */
  receivedAt: number;
}

/**
 * A minimal Server-Sent Events client over node:http, like `curl -N`: it parses events as bytes
 * arrive and lets a test wait for the next event or for the server to end the stream.
 */
export class SseClient {
  readonly events: SseEvent[] = [];
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  /** Resolves when the server ends the response (or the client aborts). */
  readonly ended: Promise<void>;
  private read = 0;
  private wake?: () => void;

  private constructor(
    private readonly request: http.ClientRequest,
    private readonly response: http.IncomingMessage,
  ) {
    this.status = response.statusCode ?? 0;
    this.headers = response.headers;
    let buffer = '';
    response.setEncoding('utf8');
    response.on('data', (chunk: string) => {
      buffer += chunk;
      let boundary: number;
      while ((boundary = buffer.indexOf('\n\n')) >= 0) {
        this.parse(buffer.slice(0, boundary));
        buffer = buffer.slice(boundary + 2);
      }
    });
    this.ended = new Promise((resolve) => {
      response.on('end', resolve);
      response.on('close', resolve);
      response.on('error', () => resolve());
    });
    void this.ended.then(() => this.wake?.());
  }

  static open(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
    return new Promise((resolve, reject) => {
      const request = http.get(url, { headers: { accept: 'text/event-stream', ...headers } }, (response) =>
        resolve(new SseClient(request, response)),
      );
      request.on('error', reject);
    });
  }

  /** The next event not yet returned, waiting for it if need be; undefined once the stream ended. */
  async next(timeoutMs = 60_000): Promise<SseEvent | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.read < this.events.length) return this.events[this.read++];
      if (this.response.complete || this.response.destroyed) return undefined;
      if (Date.now() > deadline)
        throw new Error(`no event within ${timeoutMs} ms (got ${this.events.map((e) => e.event)})`);
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, deadline - Date.now()).unref();
      });
    }
  }

  /** Every remaining event until the server closes the stream. */
  async rest(timeoutMs = 120_000): Promise<SseEvent[]> {
    const out: SseEvent[] = [];
    for (let event = await this.next(timeoutMs); event; event = await this.next(timeoutMs)) out.push(event);
    return out;
  }

  /** Goes away like a client that closed its terminal. */
  abort(): void {
    this.request.destroy();
  }

  private parse(block: string): void {
    let event = 'message';
    let id: string | undefined;
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line.startsWith(':') || line === '') continue; // comment (keep-alive)
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'event') event = value;
      else if (field === 'id') id = value;
      else if (field === 'data') data.push(value);
    }
    if (data.length === 0) return; // e.g. a lone "retry:" line
    this.events.push({ event, id, data: JSON.parse(data.join('\n')), receivedAt: Date.now() });
    this.wake?.();
  }
}
