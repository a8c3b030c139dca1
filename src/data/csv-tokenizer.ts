import { TextDecoder } from 'node:util';

/**
 * A streaming CSV tokenizer over bytes, for the upload path (dataset-stream.ts): it finds the
 * fields of each record as byte ranges in the buffer it holds and hands the record to a sink
 * without creating a string per field; the sink (DatasetBuilder) reads numbers straight from the
 * bytes. It reads exactly what csv-parse read with the options the upload used before
 * (`{ bom: true, relax_column_count: true, skip_empty_lines: true }`, quote and escape `"`, one
 * delimiter byte), records, line numbers and error messages alike, and is checked against it
 * (test/data/csv-tokenizer.test.ts):
 *
 * - A field that starts with `"` is quoted: delimiters, CR and LF inside it are data, and `""` is
 *   one `"`. The closing quote must be followed by the delimiter, the record delimiter or the end
 *   (else CSV_INVALID_CLOSING_QUOTE); a `"` inside an unquoted field is CSV's
 *   INVALID_OPENING_QUOTE; the end of the input inside quotes is CSV_QUOTE_NOT_CLOSED.
 * - The record delimiter is the first of CRLF, LF or CR met outside quotes, and only that one for
 *   the rest of the input (a lone LF in a CRLF file is data, as csv-parse has it).
 * - Empty lines are skipped; a line is numbered from 1 and every CR and LF byte counts as one
 *   line (a CRLF record delimiter as one), as csv-parse's `info.lines`.
 *
 * It reads UTF-8 bytes, where the delimiter, quote, CR and LF bytes never occur inside a
 * multi-byte character (a UTF-16LE file, known by its byte-order mark, is transcoded first). Memory: the current record's bytes (carried from one input chunk to the next) and
 * its field offsets.
 */

const QUOTE = 0x22;
const LF = 0x0a;
const CR = 0x0d;

/** Record delimiter, once discovered. */
const enum Rd {
  Unknown = 0,
  Lf = 1,
  Crlf = 2,
  Cr = 3,
}

const enum State {
  /** At the start of a field (nothing read of it). */
  FieldStart = 0,
  /** In an unquoted field with at least one byte. */
  Unquoted = 1,
  /** Inside quotes. */
  Quoted = 2,
  /** After a field's closing quote. */
  AfterClose = 3,
}

/** Field kinds in CsvFields.kinds (numbers, as the Uint8Array holds them). */
export const FieldKind = {
  /** The bytes from start to end are the value (a quoted field's quotes are outside them). */
  Plain: 0,
  /** A quoted field with `""` escapes (or bytes after its closing quote): starts at its opening quote; decode it. */
  Quoted: 1,
} as const;
export type FieldKind = (typeof FieldKind)[keyof typeof FieldKind];

/** A syntax error, worded as csv-parse worded it. */
export class CsvSyntaxError extends Error {
  constructor(
    readonly code: 'CSV_QUOTE_NOT_CLOSED' | 'CSV_INVALID_CLOSING_QUOTE' | 'INVALID_OPENING_QUOTE',
    message: string,
  ) {
    super(message);
  }
}

/**
 * The fields of one record, valid only during the sink's call: byte ranges into `buf`.
 */
export class CsvFields {
  buf: Buffer = Buffer.alloc(0);
  count = 0;
  starts = new Int32Array(64);
  ends = new Int32Array(64);
  kinds = new Uint8Array(64);

  /** Field `i` as csv-parse gave it (a UTF-8 string). */
  text(i: number): string {
    return this.kinds[i] === FieldKind.Plain
      ? this.buf.toString('utf8', this.starts[i], this.ends[i])
      : decodeQuoted(this.buf, this.starts[i], this.ends[i]);
  }

  texts(): string[] {
    const out: string[] = [];
    for (let i = 0; i < this.count; i++) out.push(this.text(i));
    return out;
  }

  push(start: number, end: number, kind: FieldKind): void {
    if (this.count === this.starts.length) {
      const size = this.count * 2;
      const starts = new Int32Array(size);
      const ends = new Int32Array(size);
      const kinds = new Uint8Array(size);
      starts.set(this.starts);
      ends.set(this.ends);
      kinds.set(this.kinds);
      this.starts = starts;
      this.ends = ends;
      this.kinds = kinds;
    }
    this.starts[this.count] = start;
    this.ends[this.count] = end;
    this.kinds[this.count] = kind;
    this.count++;
  }
}

/**
 * A quoted field's value from its raw bytes (opening quote to the end of the field): `""` is one
 * `"`, the closing quote is dropped, and what follows it (csv-parse keeps a NUL byte there and
 * what comes after it) is kept.
 */
export function decodeQuoted(buf: Buffer, start: number, end: number): string {
  const parts: Buffer[] = [];
  let from = start + 1;
  let i = from;
  while (i < end) {
    if (buf[i] === QUOTE) {
      if (i + 1 < end && buf[i + 1] === QUOTE) {
        parts.push(buf.subarray(from, i + 1));
        i += 2;
        from = i;
        continue;
      }
      // The closing quote: the rest is taken as it is.
      parts.push(buf.subarray(from, i));
      parts.push(buf.subarray(i + 1, end));
      return Buffer.concat(parts).toString('utf8');
    }
    i++;
  }
  parts.push(buf.subarray(from, end));
  return Buffer.concat(parts).toString('utf8');
}

/** Receives each record; returning true pauses the tokenizer (`run` returns 'paused'). */
export type RecordSink = (fields: CsvFields, line: number) => boolean;

export type RunStatus = 'drained' | 'paused' | 'more';

export class CsvTokenizer {
  private buf: Buffer = Buffer.alloc(0);
  /** The buffer is this tokenizer's own (it may be written into), not a chunk it was given. */
  private own = false;
  private len = 0;
  private pos = 0;
  /** Where the current record starts: bytes before it are no longer needed. */
  private recordStart = 0;
  private state = State.FieldStart;
  private fieldStart = 0;
  /** The field being read is quoted and needs decoding (escapes, or bytes after its closing quote). */
  private complex = false;
  /** The quoted field just closed is in `fields` already (as plain bytes between its quotes). */
  private recorded = false;
  private rd = Rd.Unknown;
  /** 1-based line at `pos` (csv-parse's info.lines). */
  private line = 1;
  private ended = false;
  private finished = false;
  private lastByte = -1;
  private readonly fields = new CsvFields();
  /** The first bytes, until there are enough to tell whether they start with a byte-order mark. */
  private head: Buffer | undefined = Buffer.alloc(0);
  /** Set after a UTF-16LE byte-order mark: the rest is transcoded to UTF-8. */
  private utf16: TextDecoder | undefined;

  /** 1 for the bytes an unquoted field stops at: the delimiter, the quote, CR and LF. */
  private readonly special = new Uint8Array(256);

  constructor(
    private readonly delimiter: number,
    private readonly sink: RecordSink,
  ) {
    for (const byte of [delimiter, QUOTE, CR, LF]) this.special[byte] = 1;
  }

  /**
   * More bytes of the input. Call only once `run` has returned 'drained'. A byte-order mark is
   * dropped, as csv-parse's `bom` option did: UTF-8's, and UTF-16LE's, after which the input is
   * transcoded to UTF-8 (csv-parse read such a file as UTF-16LE).
   */
  push(chunk: Buffer): void {
    if (this.head !== undefined) {
      const head = this.head.length === 0 ? chunk : Buffer.concat([this.head, chunk]);
      if (head.length < 3) {
        this.head = head;
        return;
      }
      this.head = undefined;
      chunk = this.afterBom(head);
    } else if (this.utf16) {
      chunk = Buffer.from(this.utf16.decode(chunk, { stream: true }), 'utf8');
    }
    this.append(chunk);
  }

  private afterBom(head: Buffer): Buffer {
    if (head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf) return head.subarray(3);
    if (head[0] === 0xff && head[1] === 0xfe) {
      this.utf16 = new TextDecoder('utf-16le');
      return Buffer.from(this.utf16.decode(head.subarray(2), { stream: true }), 'utf8');
    }
    return head;
  }

  private append(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.lastByte = chunk[chunk.length - 1];
    const keep = this.len - this.recordStart;
    if (keep === 0) {
      this.buf = chunk;
      this.own = false;
      this.len = chunk.length;
      this.rebase(this.recordStart);
      return;
    }
    const need = keep + chunk.length;
    if (this.own && this.buf.length >= need) {
      if (this.recordStart > 0) this.buf.copyWithin(0, this.recordStart, this.len);
    } else {
      const grown = Buffer.allocUnsafe(Math.max(need, 2 * keep, 1 << 16));
      this.buf.copy(grown, 0, this.recordStart, this.len);
      this.buf = grown;
      this.own = true;
    }
    chunk.copy(this.buf, keep);
    this.len = need;
    this.rebase(this.recordStart);
  }

  /** Offsets are relative to the buffer: moved by `by` when the record's bytes move to the front. */
  private rebase(by: number): void {
    if (by === 0) return;
    this.pos -= by;
    this.fieldStart -= by;
    const { fields } = this;
    for (let f = 0; f < fields.count; f++) {
      fields.starts[f] -= by;
      fields.ends[f] -= by;
    }
    this.recordStart = 0;
  }

  /** The input is complete; call `run` until it returns 'drained' to read the rest. */
  end(): void {
    if (this.head !== undefined) {
      const head = this.head;
      this.head = undefined;
      this.append(this.afterBom(head));
    }
    if (this.utf16) this.append(Buffer.from(this.utf16.decode(), 'utf8'));
    this.ended = true;
  }

  /**
   * Reads up to about `budget` bytes: 'more' when bytes are left for another call, 'paused' when
   * the sink asked to pause, 'drained' when everything pushed (and, after `end`, the input) is read.
   */
  run(budget: number): RunStatus {
    const { buf, len, delimiter, fields, special } = this;
    const stop = Math.min(len, this.pos + budget);
    let i = this.pos;
    let state = this.state;
    let line = this.line;
    let rd = this.rd;
    const ended = this.ended;
    let paused = false;
    fields.buf = buf;
    scan: while (i < stop) {
      const c = buf[i];
      if (state === State.Quoted) {
        if (c === QUOTE) {
          // Lookahead: an escape, or what follows the closing quote (CRLF needs two bytes).
          if (i + 2 >= len && !ended) break;
          const next = i + 1 < len ? buf[i + 1] : -1;
          if (next === QUOTE) {
            this.complex = true;
            i += 2;
            continue;
          }
          let closes = next === -1 || next === 0 || next === delimiter;
          if (!closes && (next === LF || next === CR)) {
            if (rd === Rd.Unknown) rd = discover(buf, i + 1, len);
            closes =
              rd === Rd.Lf ? next === LF : rd === Rd.Cr ? next === CR : next === CR && i + 2 < len && buf[i + 2] === LF;
          }
          if (!closes) {
            this.rd = rd;
            throw new CsvSyntaxError(
              'CSV_INVALID_CLOSING_QUOTE',
              `Invalid Closing Quote: got "${String.fromCharCode(next)}" at line ${line} instead of delimiter, ` +
                'record delimiter, trimable character (if activated) or comment',
            );
          }
          state = State.AfterClose;
          // A plain quoted field: its value is the bytes between the quotes.
          this.recorded = !this.complex;
          if (this.recorded) fields.push(this.fieldStart + 1, i, FieldKind.Plain);
          i++;
          continue;
        }
        if (c === LF || c === CR) line++;
        i++;
        continue;
      }
      if (c === delimiter) {
        this.endField(i, state);
        state = State.FieldStart;
        this.fieldStart = i + 1;
        i++;
        continue;
      }
      if (c === LF || c === CR) {
        if (rd === Rd.Unknown) {
          if (c === CR && i + 1 >= len && !ended) break;
          rd = discover(buf, i, len);
        }
        let rdLength = 0;
        if (rd === Rd.Lf) rdLength = c === LF ? 1 : 0;
        else if (rd === Rd.Cr) rdLength = c === CR ? 1 : 0;
        else if (c === CR) {
          if (i + 1 >= len && !ended) break;
          rdLength = i + 1 < len && buf[i + 1] === LF ? 2 : 0;
        }
        if (rdLength === 0) {
          // A line end that is not the record delimiter: data, but a line all the same.
          line++;
          if (state === State.FieldStart) state = State.Unquoted;
          else if (state === State.AfterClose) this.markTrailing();
          i++;
          continue;
        }
        if (state === State.FieldStart && fields.count === 0) {
          // An empty line: skipped.
        } else {
          this.endField(i, state);
          paused = this.sink(fields, line);
          fields.count = 0;
        }
        state = State.FieldStart;
        i += rdLength;
        line++;
        this.recordStart = i;
        this.fieldStart = i;
        if (paused) break scan;
        continue;
      }
      if (c === QUOTE) {
        if (state === State.FieldStart) {
          state = State.Quoted;
          this.fieldStart = i;
          this.complex = false;
          i++;
          continue;
        }
        this.rd = rd;
        throw new CsvSyntaxError(
          'INVALID_OPENING_QUOTE',
          `Invalid Opening Quote: a quote is found on field ${fields.count} at line ${line}, ` +
            `value is ${JSON.stringify(this.partialField(i, state))}`,
        );
      }
      if (state === State.FieldStart) state = State.Unquoted;
      else if (state === State.AfterClose) this.markTrailing();
      i++;
      if (state === State.Unquoted) {
        // The rest of an unquoted field, up to its next byte of note, in a tight loop.
        while (i < stop && special[buf[i]] === 0) i++;
      }
    }
    this.pos = i;
    this.state = state;
    this.line = line;
    this.rd = rd;
    if (paused) return 'paused';
    if (i < stop) return 'drained'; // waiting for lookahead bytes
    if (i < len) return 'more';
    if (ended && !this.finished) {
      this.finished = true;
      this.finish();
    }
    return 'drained';
  }

  /** Bytes after a closing quote (csv-parse keeps them): the field is decoded from its raw bytes. */
  private markTrailing(): void {
    if (this.recorded) {
      // It was recorded as plain: taken back, to be decoded from its raw bytes.
      this.fields.count--;
      this.recorded = false;
    }
    this.complex = true;
  }

  private endField(at: number, state: State): void {
    if (state === State.AfterClose) {
      if (!this.recorded) this.fields.push(this.fieldStart, at, FieldKind.Quoted);
      this.recorded = false;
    } else {
      this.fields.push(this.fieldStart, at, FieldKind.Plain);
    }
  }

  /** The field read so far, for the INVALID_OPENING_QUOTE message. */
  private partialField(at: number, state: State): string {
    if (state !== State.AfterClose) return this.buf.toString('utf8', this.fieldStart, at);
    this.markTrailing();
    return decodeQuoted(this.buf, this.fieldStart, at);
  }

  private finish(): void {
    // csv-parse counts a line end when it reads the byte after it: one that ends the input is not counted.
    const line = this.line - (this.lastByte === LF || this.lastByte === CR ? 1 : 0);
    if (this.state === State.Quoted) {
      throw new CsvSyntaxError(
        'CSV_QUOTE_NOT_CLOSED',
        `Quote Not Closed: the parsing is finished with an opening quote at line ${line}`,
      );
    }
    if (this.state === State.FieldStart && this.fields.count === 0) return;
    this.fields.buf = this.buf;
    this.endField(this.len, this.state);
    this.sink(this.fields, line);
    this.fields.count = 0;
  }
}

/** csv-parse's discovery at a line end outside quotes: CRLF first, then LF, then CR. */
function discover(buf: Buffer, at: number, len: number): Rd {
  if (buf[at] === LF) return Rd.Lf;
  return at + 1 < len && buf[at + 1] === LF ? Rd.Crlf : Rd.Cr;
}
