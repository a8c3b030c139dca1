import type { Preprocessing } from '../data/preprocessing';
import { isPlainObject, numberFromText, outsideFloat32 } from '../data/json-cell';
import { PredictWarnings } from './predict-warnings';

/** An encoding under way (see `InputEncoder.start`). */
export interface Encoding {
  readonly list: unknown[];
  /** `rows` (objects by feature name) rather than `inputs` (arrays in feature order). */
  readonly byName: boolean;
  readonly x: Float32Array;
  readonly rows: number;
  readonly warnings: PredictWarnings;
}

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
    const encoding = this.start(input, maxRows);
    if (!encoding || !this.encodeRows(encoding, 0, encoding.rows)) return null;
    return encoding;
  }

  /**
   * The first step of `encode` for input encoded a block of rows at a time (large requests, so
   * the event loop gets turns between blocks): checks the list and allocates the matrix; null
   * when the table path must decide. Then `encodeRows` over consecutive ranges gives exactly what
   * `encode` gives (warnings name rows by their index in the whole list).
   */
  start(input: { rows?: unknown[]; inputs?: unknown[] }, maxRows: number): Encoding | null {
    const list = input.rows ?? input.inputs;
    if (!Array.isArray(list) || list.length === 0 || list.length > maxRows) return null;
    return {
      list,
      byName: input.rows !== undefined,
      x: new Float32Array(list.length * this.prep.inputSize),
      rows: list.length,
      warnings: new PredictWarnings(),
    };
  }

  /** Encodes rows [from, to) of the list into `encoding.x`; false when the table path must decide. */
  encodeRows(encoding: Encoding, from: number, to: number): boolean {
    const { list, byName, x, warnings } = encoding;
    const width = this.prep.inputSize;
    for (let r = from; r < to; r++) {
      const row: unknown = list[r];
      if (byName ? !isPlainObject(row) : !Array.isArray(row) || row.length !== this.plan.length) return false;
      if (byName) this.checkKeys(row as Record<string, unknown>, r, warnings);
      for (let f = 0; f < this.plan.length; f++) {
        const feature = this.plan[f];
        let value: unknown;
        if (byName) {
          if (!Object.prototype.hasOwnProperty.call(row, feature.name)) return false;
          value = (row as Record<string, unknown>)[feature.name];
        } else {
          value = (row as unknown[])[f];
        }
        if (!this.put(x, r * width, feature, value, r, warnings)) return false;
      }
    }
    return true;
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
