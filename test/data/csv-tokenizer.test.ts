import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parse } from 'csv-parse/sync';
import { CsvTokenizer } from '../../src/data/csv-tokenizer';

/**
 * The upload's CSV tokenizer against csv-parse, which the upload used before, with the options it
 * used then: every record, its line number and every syntax error message must be the same, on
 * hand-picked inputs and on a corpus of generated ones (random quoting, delimiters, quotes, CR,
 * LF and CRLF inside fields, mixed line ends, empty lines, BOMs, broken quoting), each fed in
 * random pieces, and the small ones split at every position and fed a byte at a time.
 */

type Outcome = { records: [string[], number][] } | { error: string };

function reference(input: Buffer, delimiter: string): Outcome {
  try {
    const rows = parse(input, {
      bom: true,
      info: true,
      delimiter,
      relax_column_count: true,
      skip_empty_lines: true,
    }) as unknown as { record: string[]; info: { lines: number } }[];
    return { records: rows.map(({ record, info }) => [record, info.lines]) };
  } catch (error) {
    return { error: (error as Error).message };
  }
}

/** The tokenizer fed `input` cut at `cuts` (ascending offsets), with a small budget per run. */
function tokenize(input: Buffer, delimiter: string, cuts: number[] = [], budget = 5): Outcome {
  const records: [string[], number][] = [];
  const tokenizer = new CsvTokenizer(delimiter.charCodeAt(0), (fields, line) => {
    records.push([fields.texts(), line]);
    // Pausing after some records exercises the resume path.
    return records.length % 3 === 0;
  });
  const drain = () => {
    while (tokenizer.run(budget) !== 'drained');
  };
  try {
    let from = 0;
    for (const cut of [...cuts, input.length]) {
      tokenizer.push(input.subarray(from, cut));
      drain();
      from = cut;
    }
    tokenizer.end();
    drain();
    return { records };
  } catch (error) {
    return { error: (error as Error).message };
  }
}

/** A small PRNG (mulberry32), so a failing case can be reproduced from its seed. */
function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const DELIMITERS = [',', ';', '\t', '|'];
const LINE_ENDS = ['\n', '\r\n', '\r'];

function generate(rand: () => number): { input: Buffer; delimiter: string } {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)];
  const delimiter = pick(DELIMITERS);
  const mainEnd = pick(LINE_ENDS);
  const plainChars = ['a', 'Z', '7', '0', '.', '-', 'e', ' ', 'é', '€', '😀', 'NA', delimiter === '|' ? ',' : '|'];
  const quotedChars = [...plainChars, delimiter, '\n', '\r', '\r\n', '""', ';', ','];
  const text = (chars: string[], max: number) => {
    let out = '';
    const n = Math.floor(rand() * max);
    for (let i = 0; i < n; i++) out += pick(chars);
    return out;
  };
  const field = (): string => {
    const r = rand();
    if (r < 0.15) return '';
    if (r < 0.55) return text(plainChars, 6);
    if (r < 0.93) return `"${text(quotedChars, 6)}"`;
    // Broken or odd on purpose.
    return pick([
      `"${text(quotedChars, 4)}`, // unclosed
      `"${text(plainChars, 3)}"x`, // junk after the closing quote
      `${text(plainChars, 3)}"${text(plainChars, 2)}`, // a quote inside an unquoted field
      `"${text(plainChars, 3)}"\0${text(plainChars, 2)}`, // NUL after the closing quote (kept, as csv-parse does)
      ` "${text(plainChars, 2)}"`, // space before the quote
      `"${text(plainChars, 2)}"""`,
      '"',
      '""',
    ]);
  };
  const lines: string[] = [];
  const records = Math.floor(rand() * 7);
  for (let r = 0; r < records; r++) {
    if (rand() < 0.1) lines.push(''); // an empty line
    const fields = 1 + Math.floor(rand() * 4);
    lines.push(Array.from({ length: fields }, field).join(delimiter));
  }
  let body = '';
  for (const line of lines) body += line + (rand() < 0.85 ? mainEnd : pick(LINE_ENDS));
  if (rand() < 0.3) body = body.replace(/(\r\n|\r|\n)$/, '');
  if (rand() < 0.1) body = '\uFEFF' + body;
  return { input: Buffer.from(body, 'utf8'), delimiter };
}

function randomCuts(rand: () => number, length: number): number[] {
  const cuts: number[] = [];
  let at = 0;
  for (;;) {
    at += 1 + Math.floor(rand() * 9);
    if (at >= length) return cuts;
    cuts.push(at);
  }
}

function same(input: Buffer, delimiter: string, cuts: number[], label: string): void {
  const expected = reference(input, delimiter);
  const actual = tokenize(input, delimiter, cuts);
  assert.deepEqual(actual, expected, `${label}: ${JSON.stringify(input.toString('utf8'))} cut at ${cuts.join(',')}`);
}

const EVERY_CUT_MAX = 80;

/** At every single cut, and in one-byte pieces. */
function sameEverywhere(input: Buffer, delimiter: string, label: string): void {
  same(input, delimiter, [], label);
  for (let cut = 1; cut < input.length; cut++) same(input, delimiter, [cut], label);
  same(
    input,
    delimiter,
    Array.from({ length: Math.max(0, input.length - 1) }, (_, i) => i + 1),
    label,
  );
}

const HAND_PICKED: [string, string][] = [
  ['', ','],
  ['\n\n\r\n', ','],
  ['a', ','],
  ['a,b\n1,2\n3,4\n', ','],
  ['a,b\r\n1,2\r\n3,4', ','],
  ['a,b\r1,2\r3,4\r', ','],
  ['a,b\r\n1,2\n3,4\r\n', ','],
  ['a,b\n1,2\r\n3,4\n', ','],
  ['a;b\n"x;y";"say ""hi"""\n', ';'],
  ['name,city\n"Smith, J","Paris, FR"\n"say ""hi""","two\nlines"\n', ','],
  ['a,b\n"x\r\ny",2\n3,4\n', ','],
  ['a,b\n\n\n1,2\n\n3\n', ','],
  ['a,b\n1,"open\n', ','],
  ['a,b\n"1,2\n3,4\n', ','],
  ['a,b\n1,x"y\n', ','],
  ['a,b\n1,"x"y\n', ','],
  ['a,b\n1,"x"\r2\n', ','],
  ['a,b\r\n1,"x"\n2\r\n', ','],
  ['"a\nb",c', ','],
  ['"a"\r\n"b"\r\n', ','],
  ['"a"\r"b"\r', ','],
  ['""\n""\n', ','],
  ['a\n"x"\0b\n', ','],
  ['a\n"x"\0"\n', ','],
  ['a\tb\n1\t"2\t3"\n', '\t'],
  ['a|b\n1|2\n', '|'],
  ['\uFEFFa,b\n1,2\n', ','],
  ['\uFEFF', ','],
  ['a,b\n1,2\r', ','],
  ['a,b\n1,2\r\r', ','],
  ['a,b\r\n1,2\n', ','],
  ['a,b\n"x\n', ','],
  ['a,b\n"x\r\n', ','],
  [' a , b \n 1 , 2 \n', ','],
  ['a,b\n,\n,,\n', ','],
];

describe('CSV tokenizer against csv-parse', () => {
  test('hand-picked inputs, split at every position and fed a byte at a time', () => {
    for (const [text, delimiter] of HAND_PICKED) sameEverywhere(Buffer.from(text, 'utf8'), delimiter, 'hand-picked');
  });

  test('a UTF-16LE file (byte-order mark FF FE) reads as csv-parse read it', () => {
    for (const text of ['a,b\r\n"x,""y",2\r\n3,4\r\n', 'a;b\n1;"é\n€"\n', 'x\n']) {
      const delimiter = text.includes(';') ? ';' : ',';
      sameEverywhere(Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]), delimiter, 'utf-16le');
    }
  });

  test('3,000 generated inputs in random pieces; the small ones split everywhere', () => {
    const rand = rng(20261203);
    let errors = 0;
    for (let n = 0; n < 3000; n++) {
      const { input, delimiter } = generate(rand);
      const label = `case ${n}`;
      same(input, delimiter, randomCuts(rand, input.length), label);
      if (n % 10 === 0 && input.length <= EVERY_CUT_MAX) sameEverywhere(input, delimiter, label);
      if ('error' in reference(input, delimiter)) errors++;
    }
    // The corpus holds both kinds: inputs that parse, and inputs csv-parse refuses.
    assert.ok(errors > 300 && errors < 2700, `${errors} of 3000 generated inputs are refused`);
  });

  test('a large field across many pieces is read once (no quadratic rescans)', () => {
    const big = 'x'.repeat(3_000_000);
    const input = Buffer.from(`a,b\n"${big}",1\n`);
    const cuts = Array.from({ length: Math.floor(input.length / 1000) }, (_, i) => (i + 1) * 1000);
    const outcome = tokenize(input, ',', cuts, 1 << 16);
    assert.ok('records' in outcome);
    assert.equal(outcome.records[1][0][0].length, big.length);
  });
});
