import { ResponseSerializationError } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { epochMetricsSchema, trainingJobSchema } from '../schemas/api.schema';
import { forEachBlock } from '../data/slices';
import { METRICS_BLOCK } from './stored-metrics';

const metricsBlockSchema = z.array(epochMetricsSchema);

/** The route's (fastify-type-provider-zod's) serializer: the schema's encoded copy, as JSON. */
function encodeJson(schema: z.ZodType, data: unknown): string {
  const result = z.safeEncode(schema, data);
  if (!result.success) {
    throw new ResponseSerializationError('GET', '/v1/training-jobs/:jobId', { cause: result.error });
  }
  return JSON.stringify(result.data);
}

/**
 * Exactly what GET /v1/training-jobs/:jobId's zod serializer writes for `view` (trainingJobSchema:
 * checked, unknown keys left out, keys in the schema's order, then JSON.stringify), for a job with
 * a long metrics list: the metrics are checked and written METRICS_BLOCK epochs at a time with a
 * turn of the event loop between blocks, so that 10,000 epochs do not hold the event loop for the
 * whole check and stringify (32–213 ms and 57–199 ms at load 9). Every item of the array is
 * encoded and written on its own, so the blocks joined are the whole array's text. The rest of the
 * view is encoded with an empty metrics list, and the blocks are put in its place: `"metrics":[]`
 * can only be that key (a quote inside a JSON string is escaped), and it comes before any field
 * after it. Throws what the zod serializer would when the view does not match the schema.
 */
export async function serializeJobViewInPieces(view: { metrics: readonly unknown[] }): Promise<string> {
  const head = encodeJson(trainingJobSchema, { ...view, metrics: [] });
  const at = head.indexOf('"metrics":[]');
  if (at < 0) throw new Error('the job view has no metrics field');
  const { metrics } = view;
  const pieces: string[] = [];
  await forEachBlock(metrics.length, METRICS_BLOCK, (from, to) => {
    pieces.push(encodeJson(metricsBlockSchema, metrics.slice(from, to)).slice(1, -1));
  });
  const open = at + '"metrics":['.length;
  return `${head.slice(0, open)}${pieces.join(',')}${head.slice(open)}`;
}
