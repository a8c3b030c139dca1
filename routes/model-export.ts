import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import fp from 'fastify-plugin';
import { exportArchive } from '../src/export/tfjs-layers-model';
import { errorSchema, idParams } from '../src/schemas/api.schema';

/** A trained model as a TensorFlow.js LayersModel (model.json + weights.bin in one zip). */
const modelExportRoutes: FastifyPluginAsyncZod = async (app) => {
  const { modelCache } = app;

  app.get(
    '/models/:modelId/export',
    {
      schema: {
        operationId: 'exportModel',
        summary: 'Export a model in the TensorFlow.js LayersModel format (zip of model.json + weights.bin)',
        description:
          'The frozen inference form (batch norm folded into the kernels, dropout removed) as Dense, ' +
          'BatchNormalization, LayerNormalization and Activation layers, with a final softmax for classification. ' +
          'The preprocessing (feature encodings, classes or target scaling) is in model.json under ' +
          '`userDefinedMetadata.fitwell`. Load it in plain TensorFlow.js: unzip, then ' +
          '`tf.loadLayersModel("file://…/model.json")` (tfjs-node), from a URL, or `tf.io.fromMemory`. ' +
          'A model with a layer TensorFlow.js has no standard equivalent for (cosine normalization) is a 422 ' +
          'that names the layer.',
        params: idParams('modelId'),
        response: {
          200: {
            description: 'A zip archive: model.json and weights.bin',
            // Sent as a Buffer, which fastify never serializes; described as binary.
            content: { 'application/zip': { schema: z.custom<Buffer>().meta({ type: 'string', format: 'binary' }) } },
          },
          404: errorSchema,
          422: errorSchema,
        },
      },
    },
    async (request, reply) => {
      const { modelId } = request.params;
      const archive = await exportArchive(await modelCache.get(modelId));
      request.log.info({ bytes: archive.byteLength }, 'model exported'); // modelId is bound already
      return reply
        .type('application/zip')
        .header('content-disposition', `attachment; filename="${modelId}.tfjs.zip"`)
        .send(Buffer.from(archive.buffer, archive.byteOffset, archive.byteLength));
    },
  );
};

// Encapsulated (its hooks stay its own, the prefix applies); the name and dependencies are checked at register.
export default fp(modelExportRoutes, {
  name: 'fitwell-routes-model-export',
  dependencies: ['fitwell-model-cache'],
  encapsulate: true,
});
