import { nearestName, quoteNames } from '../data/column-names';

/**
 * Input a prediction accepts but the client probably did not mean: a category never seen in
 * training (encoded as missing, all zeros) and a key that is no feature (ignored). One message
 * per distinct value or key, listing the rows it occurred in; every occurrence is counted for
 * /metrics.
 */
export type PredictWarningKind = 'unseen_category' | 'unknown_key';

/** Messages per response; the rest are summed up in one more. */
const MAX_MESSAGES = 20;
/** Rows listed per message. */
const MAX_ROWS = 10;

interface Entry {
  message: (rows: string) => string;
  rows: number[];
  occurrences: number;
}

export class PredictWarnings {
  readonly counts: Record<PredictWarningKind, number> = { unseen_category: 0, unknown_key: 0 };
  private readonly entries = new Map<string, Entry>();

  unseenCategory(feature: string, value: unknown, known: readonly string[], row: number): void {
    this.add('unseen_category', `c\0${feature}\0${typeof value}\0${String(value)}`, row, (rows) => {
      const what = typeof value === 'string' ? JSON.stringify(value) : `the ${typeof value} ${String(value)}`;
      return (
        `feature "${feature}": ${what} is not a category seen in training (${rows}); it is encoded as missing. ` +
        `Known: ${quoteNames(known)}`
      );
    });
  }

  unknownKey(key: string, features: readonly string[], row: number): void {
    this.add('unknown_key', `k\0${key}`, row, (rows) => {
      const suggestion = nearestName(key, features);
      return `key ${JSON.stringify(key)} is not a feature and is ignored (${rows})${suggestion ? `; did you mean "${suggestion}"?` : ''}`;
    });
  }

  /** The messages, or undefined when there is nothing to say. */
  messages(): string[] | undefined {
    if (this.entries.size === 0) return undefined;
    const entries = [...this.entries.values()];
    const messages = entries.slice(0, MAX_MESSAGES).map(({ message, rows, occurrences }) => {
      const listed = rows.join(', ');
      const more = occurrences > rows.length ? ` and ${occurrences - rows.length} more` : '';
      return message(`${rows.length === 1 && !more ? 'row' : 'rows'} ${listed}${more}`);
    });
    if (entries.length > MAX_MESSAGES) messages.push(`… and ${entries.length - MAX_MESSAGES} more warnings`);
    return messages;
  }

  private add(kind: PredictWarningKind, key: string, row: number, message: (rows: string) => string): void {
    this.counts[kind] += 1;
    let entry = this.entries.get(key);
    if (!entry) {
      entry = { message, rows: [], occurrences: 0 };
      this.entries.set(key, entry);
    }
    entry.occurrences += 1;
    if (entry.rows.length < MAX_ROWS) entry.rows.push(row);
  }
}
