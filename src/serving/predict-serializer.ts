import type { FastifySerializerCompiler } from 'fastify';
import { serializerCompiler } from 'fastify-type-provider-zod';
import type { Prediction } from './predict';

/**
 * A model's class list as JSON, by the array's identity: `predict` answers every request of a
 * model with the same array (its preprocessing's), which is never changed.
 */
const classesJson = new WeakMap<readonly (number | string)[], string>();

/**
 * The predict route's response serializer. A 200 is a `Prediction` that `predict` built field by
 * field with exactly the schema's keys and types, so it is written with JSON.stringify directly;
 * running it through zod first (what fastify-type-provider-zod's serializerCompiler does: a
 * validating copy of every array) costs as much as the stringify itself: about 2.5 µs of 3.5 µs
 * for a one-row answer and 80 µs of 280 µs for 256 rows (bench/predict.ts measures the whole
 * route). The model's class list is written once per model and reused; the text is exactly
 * JSON.stringify's (test/serving/predict-fast-paths.test.ts). Every other status goes through
 * the zod serializer as usual.
 */
export const predictSerializerCompiler: FastifySerializerCompiler<unknown> = (route) => {
  if (route.httpStatus === '200') return serializePrediction;
  return serializerCompiler(route as Parameters<typeof serializerCompiler>[0]);
};

/** JSON.stringify(prediction), with the keys in the order `predict` sets them. */
export function serializePrediction(prediction: Prediction): string {
  const { predictions, probabilities, classes, warnings, drift } = prediction;
  let json = `{"predictions":${JSON.stringify(predictions)}`;
  if (probabilities !== undefined) json += `,"probabilities":${JSON.stringify(probabilities)}`;
  if (classes !== undefined) {
    let cached = classesJson.get(classes);
    if (cached === undefined) {
      cached = JSON.stringify(classes);
      classesJson.set(classes, cached);
    }
    json += `,"classes":${cached}`;
  }
  if (warnings !== undefined) json += `,"warnings":${JSON.stringify(warnings)}`;
  if (drift !== undefined) json += `,"drift":${JSON.stringify(drift)}`;
  return `${json}}`;
}
