import { AppError } from '../errors';
import { Rng } from '../random';
import { LENGTH_SUFFIX, type Param, type SearchSpace } from '../schemas/search.schema';
import { trainingRequestSchema, type TrainingRequest } from '../schemas/training-request.schema';
import { describeIssues, setPath } from '../sweeps/grid';

/**
 * A search space's parameters as the samplers see them. A numeric parameter lives on an
 * internal axis: the value itself (uniform, int), its logarithm (loguniform, int with log), or
 * for qint the index of its step; an int's axis is discrete with step 1 (Optuna's
 * IntDistribution). A choice is categorical: the index of its value.
 */
export type Domain =
  | { kind: 'categorical'; size: number }
  | {
      kind: 'numeric';
      low: number;
      high: number;
      /** Spacing of the admissible points on the axis, for ints and qints; undefined for floats. */
      step?: number;
    };

export function domainOf(param: Param): Domain {
  switch (param.type) {
    case 'choice':
      return { kind: 'categorical', size: param.values.length };
    case 'uniform':
      return { kind: 'numeric', low: param.low, high: param.high };
    case 'loguniform':
      return { kind: 'numeric', low: Math.log(param.low), high: Math.log(param.high) };
    case 'int':
      // Optuna's log-int: a continuous log axis over [low − ½, high + ½], rounded back.
      return param.log
        ? { kind: 'numeric', low: Math.log(Math.max(param.low - 0.5, 0.5)), high: Math.log(param.high + 0.5) }
        : { kind: 'numeric', low: param.low, high: param.high, step: 1 };
    case 'qint':
      return { kind: 'numeric', low: 0, high: Math.floor((param.high - param.low) / param.q), step: 1 };
  }
}

/** The setting value for a point `x` on the parameter's axis (snapped to its grid, clipped). */
export function toValue(param: Param, x: number): unknown {
  switch (param.type) {
    case 'choice':
      return structuredClone(param.values[clampIndex(x, param.values.length)]);
    case 'uniform':
      return clamp(x, param.low, param.high);
    case 'loguniform':
      return clamp(Math.exp(x), param.low, param.high);
    case 'int':
      return clamp(Math.round(param.log ? Math.exp(x) : x), param.low, param.high);
    case 'qint': {
      const steps = Math.floor((param.high - param.low) / param.q);
      return param.low + param.q * clamp(Math.round(x), 0, steps);
    }
  }
}

/** The axis point of a setting value (the inverse of toValue); undefined for a value not in the space. */
export function toAxis(param: Param, value: unknown): number | undefined {
  if (param.type === 'choice') {
    const json = JSON.stringify(value);
    const index = param.values.findIndex((v) => JSON.stringify(v) === json);
    return index < 0 ? undefined : index;
  }
  if (typeof value !== 'number' || !Number.isFinite(value)) return undefined;
  switch (param.type) {
    case 'uniform':
      return value;
    case 'loguniform':
      return Math.log(value);
    case 'int':
      return param.log ? Math.log(value) : value;
    case 'qint':
      return (value - param.low) / param.q;
  }
}

/** A uniform draw from the parameter's space (the random sampler; TPE's start-up trials). */
export function sampleUniform(param: Param, rng: Rng): unknown {
  const domain = domainOf(param);
  if (domain.kind === 'categorical') return toValue(param, rng.int(domain.size));
  if (domain.step !== undefined) {
    const points = Math.round((domain.high - domain.low) / domain.step) + 1;
    return toValue(param, domain.low + domain.step * rng.int(points));
  }
  return toValue(param, domain.low + (domain.high - domain.low) * rng.next());
}

/** Every value of a parameter, for the grid; undefined for a continuous one. */
export function gridValues(param: Param): unknown[] | undefined {
  switch (param.type) {
    case 'choice':
      return param.values;
    case 'int':
      return range(param.low, param.high, 1);
    case 'qint':
      return range(param.low, param.high, param.q);
    default:
      return undefined;
  }
}

/** The RNG of trial k of a search: independent of the order in which trials are proposed. */
export function trialRng(seed: number, trial: number): Rng {
  return new Rng((seed ^ Math.imul(trial + 1, 0x9e3779b1)) >>> 0);
}

/**
 * The training request of one trial: the base with the settings applied (hidden-layer counts
 * first, so `model.hidden.*.units` then applies to every layer), parsed again by the training
 * schema. A 400 (INVALID_SEARCH) names the trial's settings and the field when they do not fit.
 */
export function applySettings(base: TrainingRequest, settings: Record<string, unknown>): TrainingRequest {
  const draft = structuredClone(base) as unknown as Record<string, unknown>;
  const keys = Object.keys(settings);
  const ordered = [...keys.filter((k) => k.endsWith(LENGTH_SUFFIX)), ...keys.filter((k) => !k.endsWith(LENGTH_SUFFIX))];
  for (const key of ordered) {
    const problem = key.endsWith(LENGTH_SUFFIX)
      ? resize(draft, key.slice(0, -LENGTH_SUFFIX.length), settings[key], key)
      : setPath(draft, key.split('.'), settings[key], key);
    if (problem) throw searchError(`settings ${JSON.stringify(settings)}: ${problem}`);
  }
  const parsed = trainingRequestSchema.safeParse(draft);
  if (!parsed.success) {
    throw searchError(
      `settings ${JSON.stringify(settings)} do not give a valid training request: ${describeIssues(parsed.error.issues)}`,
    );
  }
  return parsed.data;
}

/** Makes the list at `path` `length` long: the last element repeated, or the tail dropped. */
function resize(draft: Record<string, unknown>, path: string, length: unknown, key: string): string | undefined {
  let target: unknown = draft;
  for (const part of path.split('.')) {
    if (typeof target !== 'object' || target === null) return `"${key}": ${path} is not a list`;
    target = (target as Record<string, unknown>)[part];
  }
  if (!Array.isArray(target) || target.length === 0)
    return `"${key}": ${path} must be a non-empty list in the base request`;
  if (typeof length !== 'number' || !Number.isInteger(length) || length < 1) {
    return `"${key}": a list length must be a positive integer, received ${JSON.stringify(length)}`;
  }
  while (target.length > length) target.pop();
  while (target.length < length) target.push(structuredClone(target[target.length - 1]));
  return undefined;
}

/**
 * Checked at submission, so a space that cannot give a valid request is a 400 then, not a
 * failed trial later: every parameter at its low and high end (every value of a choice), the
 * others at their first value.
 */
export function checkSpace(base: TrainingRequest, space: SearchSpace): void {
  const keys = Object.keys(space);
  const first = Object.fromEntries(keys.map((k) => [k, extremes(space[k])[0]]));
  applySettings(base, first);
  for (const key of keys) {
    for (const value of extremes(space[key])) applySettings(base, { ...first, [key]: value });
  }
}

/** The objective must be a validation metric the trials will have: validation rows, and the task's metric. */
export function checkObjective(base: TrainingRequest, metric: 'valLoss' | 'valAccuracy' | 'valMae'): void {
  if (base.training.validationSplit === 0) {
    throw searchError(
      `objective ${metric} is a validation metric, but base.training.validationSplit is 0: give it validation rows`,
    );
  }
  if (metric === 'valAccuracy' && base.task !== 'classification') {
    throw searchError('objective valAccuracy needs a classification task; use valLoss or valMae for regression');
  }
  if (metric === 'valMae' && base.task !== 'regression') {
    throw searchError('objective valMae needs a regression task; use valLoss or valAccuracy for classification');
  }
}

function extremes(param: Param): unknown[] {
  if (param.type === 'choice') return param.values;
  const domain = domainOf(param) as Extract<Domain, { kind: 'numeric' }>;
  return [toValue(param, domain.low), toValue(param, domain.high)];
}

export function searchError(message: string): AppError {
  return new AppError('INVALID_SEARCH', { message });
}

function range(low: number, high: number, step: number): number[] {
  const values: number[] = [];
  for (let v = low; v <= high; v += step) values.push(v);
  return values;
}

function clamp(x: number, low: number, high: number): number {
  return Math.min(high, Math.max(low, x));
}

function clampIndex(x: number, size: number): number {
  return clamp(Math.round(x), 0, size - 1);
}
