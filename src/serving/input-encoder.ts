import type { Preprocessing } from '../data/preprocessing';
import { isPlainObject, outsideFloat32 } from '../data/json-cell';

type FeaturePlan =
  | { name: string; type: 'numeric'; offset: number; mean: number; std: number }
  | { name: string; type: 'categorical'; offset: number; slots: Map<string, number> };

/**
 * Encodes predict input (`rows` or `inputs`) straight into the network's input matrix, without
 * the column-major Table that `rowsToTable`/`vectorsToTable` + `encodeFeatures` build — for a
 * one-row request that table is most of the work. It accepts only input those functions accept
 * and gives exactly their numbers; for anything else it returns null, and the caller takes the
 * table path, whose messages explain the problem (so every message stays in one place).
 * test/serving/input-encoder.test.ts compares the two.
 */
export class InputEncoder {
  private readonly plan: FeaturePlan[];

  constructor(readonly prep: Preprocessing) {
    let offset = 0;
    this.plan = prep.features.map((feature): FeaturePlan => {
      const at = offset;
      if (feature.type === 'numeric') {
        offset += 1;
        return { name: feature.name, type: 'numeric', offset: at, mean: feature.mean, std: feature.std };
      }
      offset += feature.categories.length;
      return {
        name: feature.name,
        type: 'categorical',
        offset: at,
        slots: new Map(feature.categories.map((category, index) => [category, index])),
      };
    });
  }

  /** rows × inputSize, row-major; null when the table path must decide. */
  encode(input: { rows?: unknown[]; inputs?: unknown[] }, maxRows: number): { x: Float32Array; rows: number } | null {
    const list = input.rows ?? input.inputs;
    if (!Array.isArray(list) || list.length === 0 || list.length > maxRows) return null;
    const width = this.prep.inputSize;
    const x = new Float32Array(list.length * width);
    const byName = input.rows !== undefined;
    for (let r = 0; r < list.length; r++) {
      const row: unknown = list[r];
      if (byName ? !isPlainObject(row) : !Array.isArray(row) || row.length !== this.plan.length) return null;
      for (let f = 0; f < this.plan.length; f++) {
        const feature = this.plan[f];
        let value: unknown;
        if (byName) {
          if (!Object.prototype.hasOwnProperty.call(row, feature.name)) return null;
          value = (row as Record<string, unknown>)[feature.name];
        } else {
          value = (row as unknown[])[f];
        }
        if (!this.put(x, r * width, feature, value)) return null;
      }
    }
    return { x, rows: list.length };
  }

  /** As encodeFeatures does for one cell (a missing value: 0, or no category); false if refused. */
  private put(x: Float32Array, rowOffset: number, feature: FeaturePlan, value: unknown): boolean {
    if (value === null) return true;
    if (feature.type === 'numeric') {
      if (typeof value !== 'number' || !Number.isFinite(value) || outsideFloat32(value)) return false;
      x[rowOffset + feature.offset] = (value - feature.mean) / feature.std;
      return true;
    }
    let category: string;
    if (typeof value === 'string') category = value;
    else if (typeof value === 'boolean') category = value ? 'true' : 'false';
    else if (typeof value === 'number' && Number.isFinite(value)) category = String(value);
    else return false;
    const slot = feature.slots.get(category);
    if (slot !== undefined) x[rowOffset + feature.offset + slot] = 1;
    return true;
  }
}
