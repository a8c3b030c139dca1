import type { FastifySerializerCompiler } from 'fastify';
import { serializerCompiler } from 'fastify-type-provider-zod';
import type { Prediction } from './predict';
import { forEachBlock } from '../data/slices';
import { PIECE_VALUES } from './slices';

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
  const { predictions, probabilities } = prediction;
  let json = `{"predictions":${JSON.stringify(predictions)}`;
  if (probabilities !== undefined) json += `,"probabilities":${JSON.stringify(probabilities)}`;
  return json + tail(prediction);
}

/**
 * Exactly `serializePrediction(prediction)`, for a large answer: the arrays are written
 * PIECE_VALUES numbers at a time, with a turn of the event loop between pieces (slices.ts), so a
 * 10,000-row answer does not hold the event loop for its whole JSON.stringify. An answer of one
 * piece is written without a pause.
 */
export async function serializePredictionInPieces(prediction: Prediction): Promise<string> {
  const { predictions, probabilities } = prediction;
  const perRow = 1 + (probabilities?.[0]?.length ?? 0);
  const rowsPerPiece = Math.max(1, Math.floor(PIECE_VALUES / perRow));
  let json = `{"predictions":${await arrayInPieces(predictions, rowsPerPiece)}`;
  if (probabilities !== undefined) json += `,"probabilities":${await arrayInPieces(probabilities, rowsPerPiece)}`;
  return json + tail(prediction);
}

/** JSON.stringify(items), `per` items at a time (the items of an array are written independently). */
async function arrayInPieces(items: readonly unknown[], per: number): Promise<string> {
  if (items.length <= per) return JSON.stringify(items);
  const pieces: string[] = [];
  await forEachBlock(items.length, per, (from, to) => {
    pieces.push(JSON.stringify(items.slice(from, to)).slice(1, -1));
  });
  return `[${pieces.join(',')}]`;
}

/** The fields after the arrays, and the closing brace. */
function tail({ classes, warnings, drift }: Prediction): string {
  let json = '';
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
