/**
 * Packs a JSON-like value holding Float32Arrays into one Buffer: a 4-byte header length, the JSON
 * (each array replaced by {"$f32":[offset,length]}), then the arrays' float32 data. Used for
 * checkpoints, which are mostly weights and optimizer slots.
 */
export function pack(value: unknown): Buffer {
  const arrays: Float32Array[] = [];
  let offset = 0;
  const json = JSON.stringify(value, function replacer(this: unknown, _key, v: unknown) {
    if (v instanceof Float32Array) {
      const ref = { $f32: [offset, v.length] };
      arrays.push(v);
      offset += v.length;
      return ref;
    }
    return v;
  });
  const header = Buffer.from(json, 'utf8');
  const out = Buffer.alloc(4 + header.length + offset * 4);
  out.writeUInt32LE(header.length, 0);
  header.copy(out, 4);
  let at = 4 + header.length;
  for (const array of arrays) {
    Buffer.from(array.buffer, array.byteOffset, array.byteLength).copy(out, at);
    at += array.byteLength;
  }
  return out;
}

export function unpack(buffer: Buffer): unknown {
  const headerLength = buffer.readUInt32LE(0);
  const dataStart = 4 + headerLength;
  const json = buffer.subarray(4, dataStart).toString('utf8');
  return JSON.parse(json, (_key, v: unknown) => {
    if (v && typeof v === 'object' && '$f32' in v) {
      const [offset, length] = (v as { $f32: [number, number] }).$f32;
      // Copied into a fresh, aligned array: the Buffer may sit at any byte offset.
      const out = new Float32Array(length);
      new Uint8Array(out.buffer).set(buffer.subarray(dataStart + offset * 4, dataStart + (offset + length) * 4));
      return out;
    }
    return v;
  }) as unknown;
}
