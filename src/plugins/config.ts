import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { Config } from '../config';

declare module 'fastify' {
  interface FastifyInstance {
    /** The configuration the app was built with (loaded once, at start). */
    config: Config;
  }
}

/** The app's configuration, for the plugins and routes that read it. */
export default fp(
  async (app: FastifyInstance, opts: { config: Config }) => {
    app.decorate('config', opts.config);
  },
  { name: 'fitwell-config' },
);
