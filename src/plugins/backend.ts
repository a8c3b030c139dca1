import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { initBackend, type BackendInfo } from '../ml/backend';

declare module 'fastify' {
  interface FastifyInstance {
    /** The TensorFlow.js backend predictions run on (chosen by TF_BACKEND, initialised once). */
    backend: BackendInfo;
  }
}

export default fp(
  async (app: FastifyInstance) => {
    app.decorate('backend', await initBackend(app.config.tfBackend));
  },
  { name: 'fitwell-backend', dependencies: ['fitwell-config'] },
);
