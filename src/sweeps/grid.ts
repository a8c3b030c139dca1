import type { z } from 'zod';
import { AppError } from '../errors';
import { trainingRequestSchema, type TrainingRequest } from '../schemas/training-request.schema';
import type { Grid } from '../training-jobs/sweep-contract';

/** One point of the grid: the values it sets, and the training request they give. */
export interface Combination {
  /** 0-based position in the grid's enumeration (first key slowest, last key fastest). */
  index: number;
  settings: Record<string, unknown>;
  request: TrainingRequest;
}

/** The number of combinations, computed before any is built so an oversized grid costs nothing. */
export function combinationCount(grid: Grid): number {
  return Object.values(grid).reduce((n, values) => n * values.length, 1);
}

/**
 * Every combination of the grid applied to the (already validated) base request, each parsed
 * again with the training request schema. A 400 names the first combination that is not a
 * valid training request, and the field.
 */
export function expandGrid(base: TrainingRequest, grid: Grid, maxCombinations: number): Combination[] {
  const keys = Object.keys(grid);
  if (keys.length === 0) throw sweepError('grid: give at least one setting to vary');
  const count = combinationCount(grid);
  if (count > maxCombinations) {
    const sizes = keys.map((k) => grid[k].length).join(' × ');
    throw sweepError(
      `grid: ${sizes} = ${count} combinations; a sweep may have at most ${maxCombinations} ` +
        '(SWEEP_MAX_COMBINATIONS): use fewer values per setting, or split the sweep',
    );
  }
  const combinations: Combination[] = [];
  for (let index = 0; index < count; index++) {
    const settings: Record<string, unknown> = {};
    let rest = index;
    for (let k = keys.length - 1; k >= 0; k--) {
      const values = grid[keys[k]];
      settings[keys[k]] = values[rest % values.length];
      rest = Math.floor(rest / values.length);
    }
    const ordered = Object.fromEntries(keys.map((k) => [k, settings[k]]));
    const draft = structuredClone(base) as unknown as Record<string, unknown>;
    for (const key of keys) {
      const problem = setPath(draft, key.split('.'), ordered[key], key);
      if (problem) throw sweepError(`grid combination ${index + 1} ${JSON.stringify(ordered)}: ${problem}`);
    }
    const parsed = trainingRequestSchema.safeParse(draft);
    if (!parsed.success) {
      throw sweepError(
        `grid combination ${index + 1} ${JSON.stringify(ordered)} is not a valid training request: ` +
          describeIssues(parsed.error.issues),
      );
    }
    combinations.push({ index, settings: ordered, request: parsed.data });
  }
  return combinations;
}

/** Sets (or with null deletes) the value at `path`; returns a message when the path does not fit. */
export function setPath(
  target: unknown,
  path: string[],
  value: unknown,
  key: string,
  done: string[] = [],
): string | undefined {
  const [head, ...rest] = path;
  const here = [...done, head].join('.');
  if (head === '*') {
    if (!Array.isArray(target))
      return `"${key}": ${done.join('.') || '(request)'} is not a list, so "*" does not apply`;
    for (let i = 0; i < target.length; i++) {
      const problem = rest.length
        ? setPath(target[i], rest, value, key, [...done, String(i)])
        : assign(target, i, value);
      if (problem) return problem;
    }
    return undefined;
  }
  if (Array.isArray(target)) {
    if (!/^\d+$/.test(head)) return `"${key}": ${done.join('.')} is a list; use an index or "*", not "${head}"`;
    const i = Number(head);
    if (i >= target.length) {
      return `"${key}": ${done.join('.')} has ${target.length} element${target.length === 1 ? '' : 's'}, so there is no element ${i}`;
    }
    return rest.length ? setPath(target[i], rest, value, key, here.split('.')) : assign(target, i, value);
  }
  if (typeof target !== 'object' || target === null) {
    return `"${key}": ${done.join('.')} is ${JSON.stringify(target)}, not an object with fields`;
  }
  const record = target as Record<string, unknown>;
  if (!rest.length) {
    // An override's null removes the field (the spec's default applies again).
    // eslint-disable-next-line @typescript-eslint/no-dynamic-delete
    if (value === null) delete record[head];
    else record[head] = structuredClone(value);
    return undefined;
  }
  // A missing object on the way is created: "training.earlyStopping.patience" turns early
  // stopping on with that patience and the other fields' defaults.
  if (record[head] === undefined || record[head] === null) record[head] = /^\d+$|^\*$/.test(rest[0]) ? [] : {};
  return setPath(record[head], rest, value, key, here.split('.'));
}

function assign(list: unknown[], i: number, value: unknown): string | undefined {
  if (value === null) return 'null cannot remove a list element; give the value to use instead';
  list[i] = structuredClone(value);
  return undefined;
}

/** "model.hidden[0].dropout: dropout must be in [0, 1)…", up to three issues. */
export function describeIssues(issues: z.core.$ZodIssue[]): string {
  return issues
    .slice(0, 3)
    .map((issue) => {
      let field = '';
      for (const part of issue.path) {
        field += typeof part === 'number' ? `[${part}]` : field ? `.${String(part)}` : String(part);
      }
      return `${field || '(request)'}: ${issue.message}`;
    })
    .join('; ');
}

function sweepError(message: string): AppError {
  return new AppError('INVALID_SWEEP', { message });
}
