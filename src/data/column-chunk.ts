import { crc32 } from 'node:zlib';

/**
 * The stored form of a dataset: rows cut into chunks of a fixed row count, each chunk one binary
 * value holding every column as a typed array. Numeric columns are float32 (what training
 * computes in), categorical columns are dictionary codes (uint16 when a chunk's largest code fits,
 * else uint32) into the dataset's category list, and a column with a missing cell in the chunk
 * carries a validity bitmap (bit set = present). So a cell costs 4 bytes or less, plus 1 bit
 * where something is missing.
 *
 * Layout (little-endian, every section starts on a 4-byte boundary):
 *   "FWC1" | rows u32 | columns u32 | per column: kind u8, hasBitmap u8, 2 bytes zero
 *   then per column: [bitmap ceil(rows/8) bytes, padded to 4] values (rows × 4 or 2 bytes, padded to 4)
 * A chunk may hold fewer columns than the dataset (an NDJSON key first seen later): the missing
 * columns read as all missing.
 */

export const CHUNK_MAGIC = 'FWC1';

export const enum ColumnKind {
  Float32 = 0,
  Codes16 = 1,
  Codes32 = 2,
}

/** One column of one chunk, decoded. `codes` for categorical columns, `values` for numeric ones. */
export interface ChunkColumn {
  kind: ColumnKind;
  /** Float32Array for numeric, Uint16Array or Uint32Array for categorical. */
  data: Float32Array | Uint16Array | Uint32Array;
  /** Bit set = present; undefined when every cell is present. */
  validity?: Uint8Array;
}

export interface DecodedChunk {
  rows: number;
  columns: ChunkColumn[];
}

const align4 = (bytes: number) => (bytes + 3) & ~3;

export function bitmapBytes(rows: number): number {
  return (rows + 7) >> 3;
}

export function isPresent(validity: Uint8Array | undefined, row: number): boolean {
  return validity === undefined || (validity[row >> 3] & (1 << (row & 7))) !== 0;
}

/** The chunk's bytes; `columns[i].data` must hold at least `rows` cells (only `rows` are written). */
export function encodeChunk(rows: number, columns: ChunkColumn[]): Buffer {
  let size = 12 + 4 * columns.length;
  for (const column of columns) {
    if (column.validity) size += align4(bitmapBytes(rows));
    size += align4(rows * (column.kind === ColumnKind.Codes16 ? 2 : 4));
  }
  // Not zero-filled (a chunk of 30 columns is 8 MB): every byte is written below, padding included.
  const out = Buffer.allocUnsafe(size);
  out.fill(0, 0, 12 + 4 * columns.length);
  out.write(CHUNK_MAGIC, 0, 'latin1');
  out.writeUInt32LE(rows, 4);
  out.writeUInt32LE(columns.length, 8);
  let offset = 12;
  for (const column of columns) {
    out[offset] = column.kind;
    out[offset + 1] = column.validity ? 1 : 0;
    offset += 4;
  }
  for (const column of columns) {
    if (column.validity) {
      out.set(column.validity.subarray(0, bitmapBytes(rows)), offset);
      out.fill(0, offset + bitmapBytes(rows), offset + align4(bitmapBytes(rows)));
      offset += align4(bitmapBytes(rows));
    }
    const width = column.kind === ColumnKind.Codes16 ? 2 : 4;
    const bytes = new Uint8Array(column.data.buffer, column.data.byteOffset, rows * width);
    out.set(bytes, offset);
    out.fill(0, offset + rows * width, offset + align4(rows * width));
    offset += align4(rows * width);
  }
  return out;
}

/** The kind byte of a column header; any other byte reads as Codes32, as its values always did. */
function kindOf(byte: number): ColumnKind {
  return byte === 0 ? ColumnKind.Float32 : byte === 1 ? ColumnKind.Codes16 : ColumnKind.Codes32;
}

/** Throws on a chunk that is not one (wrong magic, truncated): a stored chunk is never guessed at. */
export function decodeChunk(bytes: Buffer): DecodedChunk {
  if (bytes.length < 12 || bytes.toString('latin1', 0, 4) !== CHUNK_MAGIC) throw new Error('not a dataset chunk');
  const rows = bytes.readUInt32LE(4);
  const count = bytes.readUInt32LE(8);
  // Typed-array views need 4-byte alignment, which a Buffer from Redis (a slice of a pooled
  // allocation) does not promise: an unaligned one is copied into an aligned buffer of its own.
  // An aligned one (a chunk-sized reply is a Buffer of its own, at offset 0) is viewed in place,
  // which saves a copy of the chunk per read (the views then share the caller's bytes).
  let buffer: ArrayBufferLike = bytes.buffer;
  let base = bytes.byteOffset;
  if (base % 4 !== 0) {
    const aligned = new Uint8Array(bytes.length);
    aligned.set(bytes);
    buffer = aligned.buffer;
    base = 0;
  }
  let offset = 12 + 4 * count;
  const columns: ChunkColumn[] = [];
  for (let i = 0; i < count; i++) {
    const kind = kindOf(bytes[12 + 4 * i]);
    const hasBitmap = bytes[12 + 4 * i + 1] === 1;
    let validity: Uint8Array | undefined;
    if (hasBitmap) {
      validity = new Uint8Array(buffer, base + offset, bitmapBytes(rows));
      offset += align4(bitmapBytes(rows));
    }
    const width = kind === ColumnKind.Codes16 ? 2 : 4;
    if (offset + rows * width > bytes.length) throw new Error('dataset chunk is truncated');
    const data =
      kind === ColumnKind.Float32
        ? new Float32Array(buffer, base + offset, rows)
        : kind === ColumnKind.Codes16
          ? new Uint16Array(buffer, base + offset, rows)
          : new Uint32Array(buffer, base + offset, rows);
    offset += align4(rows * width);
    columns.push({ kind, data, validity });
  }
  return { rows, columns };
}

/**
 * CRC-32 of a chunk, kept in the dataset's metadata and checked on every read. `previous` is the
 * checksum of the bytes before these, for a chunk checksummed in pieces.
 */
export function chunkChecksum(bytes: Uint8Array, previous = 0): number {
  return crc32(bytes, previous);
}
