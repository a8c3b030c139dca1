import type { Redis } from 'ioredis';
import { modelEventsChannel } from '../store/model-registry';
import { createRedis } from '../store/redis';
import type { ModelCache } from './model-cache';

export interface ModelEventsOptions {
  redisUrl: string;
  prefix: string;
  cache: ModelCache;
  /** Whether a model was deleted (the registry's mark), for the check after a reconnect. */
  wasDeleted: (id: string) => Promise<boolean>;
  log: { warn: (obj: object, msg: string) => void; debug: (obj: object, msg: string) => void };
}

/**
 * Keeps one replica's model cache in step with the others: a model deleted anywhere is dropped
 * from this cache as soon as its `deleted <id>` message arrives (the delete script publishes it
 * in the same atomic step), and `warm <id>` (an alias about to move to it) loads a model ahead
 * of its first request. Pub/sub delivers nothing to a disconnected subscriber, so after every
 * (re)connection each cached model is checked for the mark the deletion leaves, and dropped when
 * it has one: a replica that missed a deletion while disconnected stops serving the model once it
 * is back. A model merely absent (a Redis that came back without its data) keeps serving from
 * the cache, as it does while Redis is away.
 */
export class ModelEvents {
  private readonly subscriber: Redis;
  private readonly channel: string;
  private readonly subscribed: Promise<unknown>;

  constructor(private readonly options: ModelEventsOptions) {
    this.channel = modelEventsChannel(options.prefix);
    // A subscriber connection of its own (a subscribed connection can run no other command);
    // ioredis resubscribes after reconnecting.
    this.subscriber = createRedis(options.redisUrl, {
      enableOfflineQueue: true,
      maxRetriesPerRequest: null,
      commandTimeout: undefined,
      connectionName: 'fitwell-model-events',
    });
    this.subscriber.on('error', (error) => options.log.debug({ err: error.message }, 'model events connection error'));
    this.subscriber.on('message', (_channel, message: string) => this.onMessage(message));
    this.subscriber.on('ready', () => void this.revalidate());
    this.subscribed = this.subscriber
      .subscribe(this.channel)
      .catch((error: unknown) =>
        options.log.warn(
          { err: error instanceof Error ? error.message : String(error) },
          'could not subscribe to model events',
        ),
      );
  }

  private onMessage(message: string): void {
    const [kind, id] = message.split(' ', 2);
    if (!id) return;
    if (kind === 'deleted') this.options.cache.drop(id);
    else if (kind === 'warm') this.options.cache.get(id).catch(() => undefined);
  }

  /** Drops every cached model that was deleted. */
  async revalidate(): Promise<void> {
    await Promise.all(
      this.options.cache.ids().map(async (id) => {
        try {
          if (await this.options.wasDeleted(id)) this.options.cache.drop(id);
        } catch (error) {
          this.options.log.warn({ err: (error as Error).message, id }, 'could not check a cached model');
        }
      }),
    );
  }

  /** Resolves once subscribed (tests wait for it before deleting elsewhere). */
  async ready(): Promise<void> {
    await this.subscribed;
  }

  close(): void {
    this.subscriber.disconnect();
  }
}
