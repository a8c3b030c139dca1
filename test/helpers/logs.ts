/** The app's JSON log lines, captured through buildApp's logStream, with a way to wait for one. */
export type LogLine = Record<string, unknown> & { msg?: string; level?: number };

export class LogCapture {
  readonly raw: string[] = [];
  readonly lines: LogLine[] = [];
  private waiters: { match: (line: LogLine) => boolean; resolve: (line: LogLine) => void }[] = [];

  write(chunk: string): void {
    for (const text of chunk.split('\n').filter(Boolean)) {
      this.raw.push(text);
      const line = JSON.parse(text) as LogLine;
      this.lines.push(line);
      this.waiters = this.waiters.filter((waiter) => {
        if (!waiter.match(line)) return true;
        waiter.resolve(line);
        return false;
      });
    }
  }

  /** Resolves with the first line (already written or to come) that matches. */
  waitFor(match: (line: LogLine) => boolean, timeoutMs = 60_000): Promise<LogLine> {
    const seen = this.lines.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no matching log line')), timeoutMs);
      timer.unref();
      this.waiters.push({
        match,
        resolve: (line) => {
          clearTimeout(timer);
          resolve(line);
        },
      });
    });
  }
}
