import { once } from 'node:events';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { createGunzip } from 'node:zlib';
import { invalid } from '../errors';
import { CsvSyntaxError, CsvTokenizer } from './csv-tokenizer';
import { DatasetBuilder, type BuilderOptions, type BuiltDataset } from './dataset-builder';
import { sliceClock } from './slices';

/**
 * Reads an upload as its bytes arrive (CSV or NDJSON, optionally gzip-compressed) into a
 * DatasetBuilder, which stores it chunk by chunk: the body is never held whole. The bytes as
 * received are also written to a spool file, read again only when a column changes type after
 * some of its cells were taken as numbers (see DatasetBuilder); the file is deleted at the end.
 */

export type UploadFormat = 'csv' | 'ndjson';

/** The delimiters detected and accepted, by the names the `delimiter` parameter takes. */
export const DELIMITERS = { comma: ',', semicolon: ';', tab: '\t', pipe: '|' } as const;
export type DelimiterName = keyof typeof DELIMITERS;

export interface UploadOptions {
  format: UploadFormat;
  /** CSV only; detected from the header line when absent. */
  delimiter?: DelimiterName;
  /** The body is gzip-compressed (Content-Encoding: gzip). */
  gzip: boolean;
  /** Most bytes of (decompressed) data accepted; more is a BodyTooLargeError. */
  maxBytes: number;
  /** Where the spool file goes (default: the OS's temporary directory). */
  spoolDir?: string;
}

/** Over the byte limit: a 413, worded by the HTTP layer (which knows the route's limit and setting). */
export class BodyTooLargeError extends Error {
  readonly statusCode = 413;
  constructor(readonly limit: number) {
    super(`the data is larger than ${limit} bytes`);
  }
}

/** Bytes of the body held for the spool file while its writes are pending. */
const SPOOL_BUFFER_BYTES = 1 << 20;

/** The header line is looked for in this many bytes at most; a longer header is read with commas. */
const HEADER_SCAN_BYTES = 1 << 20;

export interface IngestResult extends BuiltDataset {
  /** Decompressed bytes read in the pass that was kept. */
  bytes: number;
  /** 2 when a column changed type and the source was read again. */
  passes: 1 | 2;
}

/**
 * Ingests one upload. `beforePass` is called before each pass (the store throws away the chunks
 * of a first pass that has to be redone); `builder.onChunk` receives the chunks.
 */
export async function ingestUpload(
  source: Readable,
  options: UploadOptions,
  builder: Omit<BuilderOptions, 'categorical'>,
  beforePass: (pass: 1 | 2) => Promise<void> = async () => undefined,
): Promise<IngestResult> {
  const dir = await mkdtemp(join(options.spoolDir ?? tmpdir(), 'fitwell-upload-'));
  const spoolPath = join(dir, 'body');
  // A buffer of SPOOL_BUFFER_BYTES: the parser goes on while the file writes catch up, instead of
  // waiting for each network read's bytes to reach the disk.
  const spool = createWriteStream(spoolPath, { highWaterMark: SPOOL_BUFFER_BYTES });
  // Kept, not thrown from an event: a write that failed (disk full) fails the upload at closeSpool.
  let spoolError: Error | undefined;
  spool.on('error', (error) => (spoolError ??= error));
  try {
    await beforePass(1);
    const first = await readPass(source, options, builder, undefined, spool);
    await closeSpool(spool);
    if (spoolError) throw spoolError;
    if ('dataset' in first.result) return { ...first.result.dataset, bytes: first.bytes, passes: 1 };
    await beforePass(2);
    const second = await readPass(createReadStream(spoolPath), options, builder, first.result.secondPass);
    if (!('dataset' in second.result)) throw new Error('a column changed type on the second pass');
    return { ...second.result.dataset, bytes: second.bytes, passes: 2 };
  } finally {
    spool.destroy();
    await rm(dir, { recursive: true, force: true });
  }
}

async function readPass(
  source: Readable,
  options: UploadOptions,
  builderOptions: Omit<BuilderOptions, 'categorical'>,
  categorical: ReadonlySet<string> | undefined,
  spool?: WriteStream,
) {
  const builder = new DatasetBuilder({ ...builderOptions, categorical });
  const counter = { bytes: 0 };
  const bytes = decodedBytes(source, options, counter, spool);
  try {
    if (options.format === 'csv') await readCsv(bytes, options.delimiter, builder);
    else await readNdjson(bytes, builder);
    return { result: await builder.finish(), bytes: counter.bytes };
  } catch (error) {
    // No chunk write may land after the caller's abort has deleted what was written.
    await builder.settle().catch(() => undefined);
    throw error;
  }
}

/**
 * The body's bytes, decompressed and counted. The request is read without being destroyed when
 * reading stops early (an invalid line): the error handler still reads and discards the rest, so
 * the client gets its 400 rather than a reset connection.
 */
async function* decodedBytes(
  source: Readable,
  options: UploadOptions,
  counter: { bytes: number },
  spool?: WriteStream,
): AsyncGenerator<Buffer> {
  const wire = (async function* () {
    for await (const chunk of source.iterator({ destroyOnReturn: false })) {
      const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
      if (spool) {
        if (spool.destroyed) throw spool.errored ?? new Error('the upload spool file was closed');
        if (!spool.write(buffer)) await once(spool, 'drain');
      }
      yield buffer;
    }
  })();
  let decoded: AsyncIterable<Buffer> = wire;
  if (options.gzip) {
    const input = Readable.from(wire);
    const gunzip = createGunzip();
    input.on('error', (error) => gunzip.destroy(error));
    decoded = input.pipe(gunzip);
  }
  try {
    for await (const chunk of decoded) {
      counter.bytes += chunk.length;
      if (counter.bytes > options.maxBytes) throw new BodyTooLargeError(options.maxBytes);
      yield chunk;
    }
  } catch (error) {
    if (isZlibError(error))
      throw invalid(
        'INVALID_DATASET',
        `the body is not valid gzip (Content-Encoding: gzip): ${(error as Error).message}`,
      );
    throw error;
  }
}

function isZlibError(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  return typeof code === 'string' && code.startsWith('Z_');
}

/**
 * Bytes tokenized between two looks at the clock: well under a millisecond once the code is
 * optimized, a few while it is not yet (the first rows of the first upload).
 */
const SLICE_BYTES = 1 << 14;

async function readCsv(bytes: AsyncGenerator<Buffer>, delimiter: DelimiterName | undefined, builder: DatasetBuilder) {
  // The header line first: the delimiter is decided from it before the tokenizer starts.
  const head: Buffer[] = [];
  let headBytes = 0;
  let ended = false;
  for (;;) {
    const next = await bytes.next();
    if (next.done) {
      ended = true;
      break;
    }
    head.push(next.value);
    headBytes += next.value.length;
    if (next.value.includes(10) || headBytes >= HEADER_SCAN_BYTES) break;
  }
  const chosen = delimiter ? DELIMITERS[delimiter] : detectDelimiter(Buffer.concat(head));
  let header = true;
  const tokenizer = new CsvTokenizer(chosen.charCodeAt(0), (fields, line) => {
    if (header) {
      builder.setHeader(fields.texts());
      header = false;
      return false;
    }
    // Ragged rows are reported by the builder, with parseCsv's message.
    return builder.addCsvRecord(fields, line);
  });
  // Reads what was pushed, a slice at a time; a full chunk is stored before the next row.
  const drain = async () => {
    for (;;) {
      const status = tokenizer.run(SLICE_BYTES);
      if (status === 'paused') await builder.flush();
      await sliceClock.check();
      if (status === 'drained') return;
    }
  };
  try {
    for (const chunk of head) {
      tokenizer.push(chunk);
      await drain();
    }
    if (!ended) {
      for await (const chunk of bytes) {
        tokenizer.push(chunk);
        await drain();
      }
    }
    tokenizer.end();
    await drain();
  } catch (error) {
    if (error instanceof CsvSyntaxError)
      throw invalid('INVALID_DATASET', `the CSV could not be parsed: ${error.message}`);
    throw error;
  } finally {
    // Stops reading the body (its generator's finally runs); the route's error handler drains it.
    await bytes.return(undefined);
  }
  if (header) throw invalid('INVALID_DATASET', 'the CSV is empty; a header row naming the columns is required');
}

/**
 * The delimiter of a header line: whichever of comma, semicolon, tab and pipe occurs most often
 * outside double quotes (comma on a tie or when none occurs, as in a one-column file).
 */
export function detectDelimiter(head: Buffer): string {
  const counts = new Map<number, number>([
    [0x2c, 0],
    [0x3b, 0],
    [0x09, 0],
    [0x7c, 0],
  ]);
  let quoted = false;
  for (const byte of head) {
    if (byte === 0x22) quoted = !quoted;
    else if (!quoted && (byte === 0x0a || byte === 0x0d)) break;
    else if (!quoted && counts.has(byte)) counts.set(byte, counts.get(byte)! + 1);
  }
  let best = 0x2c;
  for (const [byte, count] of counts) if (count > counts.get(best)!) best = byte;
  return String.fromCharCode(best);
}

/** One JSON object per line; blank lines are skipped. Lines are numbered from 1 in messages. */
async function readNdjson(bytes: AsyncGenerator<Buffer>, builder: DatasetBuilder) {
  const decoder = new StringDecoder('utf8');
  let pending = '';
  let line = 0;
  const take = async (text: string) => {
    line++;
    const trimmed = line === 1 ? text.replace(/^\uFEFF/, '').trim() : text.trim();
    if (trimmed === '') return;
    let value: unknown;
    try {
      value = JSON.parse(trimmed);
    } catch (error) {
      throw invalid('INVALID_DATASET', `line ${line} is not valid JSON: ${(error as Error).message.slice(0, 200)}`);
    }
    if (builder.addObjectRow(value, `line ${line}`)) await builder.flush();
  };
  for await (const chunk of bytes) {
    pending += decoder.write(chunk);
    let newline = pending.indexOf('\n');
    let start = 0;
    let lines = 0;
    while (newline !== -1) {
      await take(pending.slice(start, newline));
      start = newline + 1;
      newline = pending.indexOf('\n', start);
      if (++lines % 256 === 0) await sliceClock.check();
    }
    pending = pending.slice(start);
    await sliceClock.check();
  }
  pending += decoder.end();
  if (pending !== '') await take(pending);
}

function closeSpool(spool: WriteStream): Promise<void> {
  return new Promise((resolve, reject) => spool.end((error?: Error | null) => (error ? reject(error) : resolve())));
}
