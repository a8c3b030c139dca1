import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decimalFromBytes, isAsciiSpace, isMissingBytes, mayBeInfinityWord } from '../../src/data/cell-bytes';
import { DECIMAL_NUMBER } from '../../src/data/json-cell';
import { isInfiniteNumberText, MISSING_TOKENS } from '../../src/data/parse-dataset';

/** The byte readers of CSV cells against the string operations they stand for. */

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

const viaString = (text: string) => (DECIMAL_NUMBER.test(text) ? Number(text) : NaN);
const viaBytes = (text: string) => {
  // At an offset inside a larger buffer, as cells are.
  const buf = Buffer.from(`#,${text},#`, 'latin1');
  return decimalFromBytes(buf, 2, buf.length - 2);
};

describe('CSV cells from bytes', () => {
  test('decimal numbers: exactly what DECIMAL_NUMBER and Number() make of the text', () => {
    const fixed = [
      '0',
      '-0',
      '+0',
      '-0.000',
      '0e5',
      '-0e-5',
      '1',
      '1.',
      '.5',
      '+.5',
      '-.5',
      '5.e3',
      '1e22',
      '1e23',
      '9e-22',
      '1e-23',
      '123456789012345',
      '1234567890123456',
      '12345678901234567890',
      '0.1',
      '0.2',
      '0.30000000000000004',
      '174.09',
      '-2.5e-1',
      '3.4028234663852886e38',
      '1e308',
      '1e309',
      '-1e999',
      '1e0000000000000000005',
      '4.9e-324',
      '2e-324',
      '00000000000000000000001',
      '007',
      '1.50',
      '9007199254740993',
      '.',
      '+',
      '-',
      '',
      'e5',
      '.e5',
      '1e',
      '1e+',
      '1e-',
      '1.2.3',
      '1,5',
      '0x1F',
      '0b1',
      '0o7',
      'Infinity',
      'NaN',
      '1 ',
      ' 1',
      '1_000',
      '١',
      '1e5x',
      '--1',
      '+-1',
      '1E5',
      '1E+05',
      '99999999999999999999e-20',
    ];
    for (const text of fixed) assert.ok(Object.is(viaBytes(text), viaString(text)), JSON.stringify(text));
    const rand = rng(16);
    const alphabet = '0123456789.eE+-x ';
    for (let n = 0; n < 200_000; n++) {
      let text = '';
      const length = 1 + Math.floor(rand() * 20);
      for (let i = 0; i < length; i++) text += alphabet[Math.floor(rand() * alphabet.length)];
      assert.ok(Object.is(viaBytes(text), viaString(text)), JSON.stringify(text));
    }
    // Numbers as files have them: up to 17 significant digits, exponents near the fast path's edge.
    for (let n = 0; n < 200_000; n++) {
      const digits = 1 + Math.floor(rand() * 17);
      let mantissa = '';
      for (let i = 0; i < digits; i++) mantissa += Math.floor(rand() * 10);
      const point = Math.floor(rand() * (digits + 1));
      let text = `${rand() < 0.3 ? '-' : ''}${mantissa.slice(0, point)}.${mantissa.slice(point)}`;
      if (text.endsWith('.') && rand() < 0.5) text = text.slice(0, -1);
      if (rand() < 0.3) text += `e${Math.floor(rand() * 60) - 30}`;
      assert.ok(Object.is(viaBytes(text), viaString(text)), JSON.stringify(text));
    }
  });

  test('missing spellings, whitespace and infinity words as the string path has them', () => {
    const cells = [
      '',
      'na',
      'NA',
      'nA',
      'nan',
      'NaN',
      'NAN',
      'null',
      'Null',
      'NULL',
      'nul',
      'nulll',
      'n',
      'a',
      'N/A',
      'none',
      'Na ',
    ];
    for (const text of cells) {
      const buf = Buffer.from(`,${text},`, 'latin1');
      assert.equal(
        isMissingBytes(buf, 1, buf.length - 1),
        MISSING_TOKENS.has(text.toLowerCase()),
        JSON.stringify(text),
      );
    }
    for (let byte = 0; byte < 128; byte++) {
      const char = String.fromCharCode(byte);
      assert.equal(isAsciiSpace(byte), char.trim() === '', `byte ${byte}`);
    }
    for (const text of ['inf', 'INF', '-inf', '+Infinity', 'infinity', 'infinite', 'info', 'i', '-', 'x', 'INFINITY']) {
      const buf = Buffer.from(text, 'latin1');
      if (isInfiniteNumberText(text) && !DECIMAL_NUMBER.test(text)) {
        assert.ok(mayBeInfinityWord(buf, 0, buf.length), `${text} must reach the regular expression`);
      }
    }
  });
});
