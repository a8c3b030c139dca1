import type { FastifySchemaCompiler } from 'fastify';
import { validatorCompiler } from 'fastify-type-provider-zod';
import { MAX_ID_LENGTH } from '../schemas/api.schema';

/**
 * The predict route's validator compiler: zod's (fastify-type-provider-zod's validatorCompiler),
 * with a structural check in front of it for the two request parts every prediction sends. A
 * part that passes the check is exactly what the zod schema accepts and returns unchanged (no
 * defaults, no transforms), so it is used as it is; anything else goes through zod, which
 * decides and words the 400 as for every other route. Zod's safeParse of the body and the params
 * costs about 1 µs a request, where the checks cost a few dozen ns.
 * test/serving/predict-fast-paths.test.ts holds the checks to the schemas.
 */
export const predictValidatorCompiler: FastifySchemaCompiler<unknown> = (route) => {
  const full = validatorCompiler(route as Parameters<typeof validatorCompiler>[0]);
  const fast =
    route.httpPart === 'body'
      ? isPlainPredictBody
      : route.httpPart === 'params'
        ? isPlainModelParams
        : route.httpPart === 'querystring'
          ? isEmptyQuery
          : null;
  if (!fast) return full;
  return (data: unknown) => (fast(data) ? { value: data } : full(data));
};

/**
 * What `predictRequestSchema` accepts: an object with exactly one key, `rows` or `inputs`,
 * holding an array (its items are checked by the predict path). Only a parsed JSON object (a
 * plain object) passes; the parser refuses `__proto__` keys.
 */
export function isPlainPredictBody(data: unknown): boolean {
  if (typeof data !== 'object' || data === null || Object.getPrototypeOf(data) !== Object.prototype) return false;
  let keys = 0;
  for (const key in data) {
    if (!Object.prototype.hasOwnProperty.call(data, key)) return false;
    keys++;
  }
  if (keys !== 1) return false;
  const body = data as { rows?: unknown; inputs?: unknown };
  return Array.isArray(body.rows) || Array.isArray(body.inputs);
}

/** No query string: what `predictQuerySchema` (every key optional, no defaults) accepts unchanged. */
export function isEmptyQuery(data: unknown): boolean {
  if (typeof data !== 'object' || data === null) return false;
  for (const key in data) return false;
  return true;
}

/** What `idParams('modelId')` accepts unchanged: `{ modelId }`, a string of 1 to 128 characters. */
export function isPlainModelParams(data: unknown): boolean {
  if (typeof data !== 'object' || data === null) return false;
  const id = (data as { modelId?: unknown }).modelId;
  if (typeof id !== 'string' || id.length < 1 || id.length > MAX_ID_LENGTH) return false;
  let keys = 0;
  for (const key in data) {
    if (!Object.prototype.hasOwnProperty.call(data, key)) return false;
    keys++;
  }
  return keys === 1;
}
