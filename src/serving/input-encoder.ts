import type { Preprocessing } from '../data/preprocessing';
import { isPlainObject, numberFromText, outsideFloat32 } from '../data/json-cell';
import { PredictWarnings } from './predict-warnings';

type FeaturePlan =
  | { name: string; type: 'numeric'; offset: number; mean: number; std: number }
  | { name: string; type: 'categorical'; offset: number; slots: Map<string, number>; categories: string[] };

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
  private readonly names: string[];
  private readonly nameSet: Set<string>;

  constructor(readonly prep: Preprocessing) {
    this.names = prep.features.map((feature) => feature.name);
    // The target is often sent along (rows copied from the training data): ignored without a warning.
    this.nameSet = new Set([...this.names, prep.target.name]);
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
        categories: feature.categories,
      };
    });
  }

  /**
   * rows × inputSize, row-major, and what the input had that the model cannot use (unseen
   * categories, keys that are no feature); null when the table path must decide.
   */
  encode(
    input: { rows?: unknown[]; inputs?: unknown[] },
    maxRows: number,
  ): { x: Float32Array; rows: number; warnings: PredictWarnings } | null {
    const list = input.rows ?? input.inputs;
    if (!Array.isArray(list) || list.length === 0 || list.length > maxRows) return null;
    const width = this.prep.inputSize;
    const x = new Float32Array(list.length * width);
    const byName = input.rows !== undefined;
    const warnings = new PredictWarnings();
    for (let r = 0; r < list.length; r++) {
      const row: unknown = list[r];
      if (byName ? !isPlainObject(row) : !Array.isArray(row) || row.length !== this.plan.length) return null;
      if (byName) this.checkKeys(row as Record<string, unknown>, r, warnings);
      for (let f = 0; f < this.plan.length; f++) {
        const feature = this.plan[f];
        let value: unknown;
        if (byName) {
          if (!Object.prototype.hasOwnProperty.call(row, feature.name)) return null;
          value = (row as Record<string, unknown>)[feature.name];
        } else {
          value = (row as unknown[])[f];
        }
        if (!this.put(x, r * width, feature, value, r, warnings)) return null;
      }
    }
    return { x, rows: list.length, warnings };
  }

  /** Every feature is required, so a row has keys that are no feature exactly when it has more keys. */
  private checkKeys(row: Record<string, unknown>, r: number, warnings: PredictWarnings): void {
    let keys = 0;
    for (const _key in row) keys++;
    if (keys <= this.plan.length) return;
    for (const key of Object.keys(row)) if (!this.nameSet.has(key)) warnings.unknownKey(key, this.names, r);
  }

  /** As encodeFeatures does for one cell (a missing value: 0, or no category); false if refused. */
  private put(
    x: Float32Array,
    rowOffset: number,
    feature: FeaturePlan,
    value: unknown,
    row: number,
    warnings: PredictWarnings,
  ): boolean {
    if (value === null) return true;
    if (feature.type === 'numeric') {
      const number = typeof value === 'string' ? numberFromText(value) : value;
      if (typeof number !== 'number' || !Number.isFinite(number) || outsideFloat32(number)) return false;
      x[rowOffset + feature.offset] = (number - feature.mean) / feature.std;
      return true;
    }
    let category: string;
    if (typeof value === 'string') category = value;
    else if (typeof value === 'boolean') category = value ? 'true' : 'false';
    else if (typeof value === 'number' && Number.isFinite(value)) category = String(value);
    else return false;
    const slot = feature.slots.get(category);
    if (slot !== undefined) x[rowOffset + feature.offset + slot] = 1;
    else warnings.unseenCategory(feature.name, value, feature.categories, row);
    return true;
  }
}
