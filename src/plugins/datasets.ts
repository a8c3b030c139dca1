import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { DatasetStore } from '../store/dataset-store';
import { createDatasetStore } from '../store/dataset-store-factory';

declare module 'fastify' {
  interface FastifyInstance {
    /** Datasets: metadata in Redis, rows in Redis or S3 (DATASET_BACKEND). */
    datasets: DatasetStore;
  }
}

export default fp(
  async (app: FastifyInstance) => {
    app.decorate('datasets', createDatasetStore(app.config, app.redis));
  },
  { name: 'fitwell-datasets', dependencies: ['fitwell-config', 'fitwell-redis'] },
);
