/**
 * A CSV cell read from its UTF-8 bytes, with what the string path (trim, MISSING_TOKENS,
 * DECIMAL_NUMBER, Number) would make of it, without making a string for numbers and missing
 * cells. Each function says which string operation it stands for; test/data/cell-bytes.test.ts
 * checks them against those operations.
 */

/** 10^0 … 10^22: every one is exact as a double. */
const POW10 = Array.from({ length: 23 }, (_, k) => Number(`1e${k}`));

/** ASCII whitespace that String.prototype.trim removes: tab, LF, VT, FF, CR, space. */
export function isAsciiSpace(byte: number): boolean {
  return byte === 0x20 || (byte >= 0x09 && byte <= 0x0d);
}

/**
 * `MISSING_TOKENS.has(text.toLowerCase())` for a trimmed ASCII cell: empty, na, nan or null in
 * any case.
 */
export function isMissingBytes(buf: Uint8Array, start: number, end: number): boolean {
  const length = end - start;
  if (length === 0) return true;
  if (length < 2 || length > 4) return false;
  const b0 = buf[start] | 0x20;
  const b1 = buf[start + 1] | 0x20;
  if (length === 2) return b0 === 0x6e && b1 === 0x61; // na
  const b2 = buf[start + 2] | 0x20;
  if (length === 3) return b0 === 0x6e && b1 === 0x61 && b2 === 0x6e; // nan
  return b0 === 0x6e && b1 === 0x75 && b2 === 0x6c && (buf[start + 3] | 0x20) === 0x6c; // null
}

/**
 * `DECIMAL_NUMBER.test(text) ? Number(text) : NaN` for a trimmed cell: NaN when the bytes are
 * not a decimal number (`[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?`), else the number JavaScript reads
 * (±Infinity when it overflows). Up to 15 significant digits and a power of ten within ±22 are
 * computed here, exactly (a double product or quotient of two exact doubles is correctly
 * rounded); anything longer is read by Number() from a latin1 string of the bytes.
 */
export function decimalFromBytes(buf: Buffer, start: number, end: number): number {
  let i = start;
  let c = buf[i];
  let negative = false;
  if (c === 0x2b || c === 0x2d) {
    negative = c === 0x2d;
    i++;
  }
  let mantissa = 0;
  let digits = 0;
  let fraction = 0;
  while (i < end) {
    const d = buf[i] - 0x30;
    if (d < 0 || d > 9) break;
    mantissa = mantissa * 10 + d;
    digits++;
    i++;
  }
  if (i < end && buf[i] === 0x2e) {
    i++;
    while (i < end) {
      const d = buf[i] - 0x30;
      if (d < 0 || d > 9) break;
      mantissa = mantissa * 10 + d;
      digits++;
      fraction++;
      i++;
    }
  }
  if (digits === 0) return NaN;
  let exponent = 0;
  if (i < end) {
    c = buf[i];
    if (c !== 0x65 && c !== 0x45) return NaN;
    i++;
    let negativeExponent = false;
    if (i < end && (buf[i] === 0x2b || buf[i] === 0x2d)) {
      negativeExponent = buf[i] === 0x2d;
      i++;
    }
    const first = i;
    while (i < end) {
      const d = buf[i] - 0x30;
      if (d < 0 || d > 9) return NaN;
      exponent = exponent * 10 + d;
      i++;
    }
    if (i === first) return NaN;
    if (i - first > 4) return Number(buf.toString('latin1', start, end));
    if (negativeExponent) exponent = -exponent;
  }
  if (digits <= 15) {
    const power = exponent - fraction;
    let value: number | undefined;
    if (power === 0) value = mantissa;
    else if (power < 0 && power >= -22) value = mantissa / POW10[-power];
    else if (power > 0 && power <= 22) value = mantissa * POW10[power];
    if (value !== undefined) return negative ? -value : value;
  }
  return Number(buf.toString('latin1', start, end));
}

/**
 * Whether `INFINITY_WORD` (`[+-]?(inf|infinity)`, any case) could match: the first letter after
 * an optional sign is i or I. The caller runs the regular expression only then.
 */
export function mayBeInfinityWord(buf: Uint8Array, start: number, end: number): boolean {
  let i = start;
  if (i < end && (buf[i] === 0x2b || buf[i] === 0x2d)) i++;
  return i < end && (buf[i] | 0x20) === 0x69 && end - i <= 8;
}
