import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Preprocessing } from '../data/preprocessing';
import { AppError } from '../errors';
import { decodeFrozen, encodeFrozen, type FrozenModel, type StoredFrozenModel } from '../ml/frozen-model';
import type { EpochMetrics } from '../ml/trainer';
import { upgradeStoredEpochMetrics } from '../schemas/api.schema';
import type { TrainingRequest } from '../schemas/training-request.schema';
import type { TrainingOutcome } from '../training/train-from-request';
import type { TrainingSummary } from '../training-jobs/contract';

/**
 * What the service knows about a trained model, apart from its weights: the job's summary of its
 * run (the same fields as the job's result) and the model's own facts.
 */
export type ModelMeta = TrainingSummary & {
  id: string;
  jobId: string;
  createdAt: string;
  task: TrainingRequest['task'];
  target: string;
  datasetId: string;
  /** The training request as validated, with every default filled in. */
  spec: TrainingRequest;
  preprocessing: Preprocessing;
  /** The metrics of the epoch whose weights the model keeps (the best one when restored). */
  finalMetrics: EpochMetrics;
  rows: TrainingOutcome['rows'];
};

export interface StoredModel {
  meta: ModelMeta;
  frozen: FrozenModel;
}

export function newModelId(): string {
  return `mdl_${randomBytes(9).toString('base64url')}`;
}

export function modelKey(prefix: string, id: string): string {
  return `${prefix}:model:${id}`;
}

/** Model ids scored by creation time. */
export function modelIndexKey(prefix: string): string {
  return `${prefix}:models`;
}

/** The fields of a model's hash. */
export function encodeModel(meta: ModelMeta, frozen: FrozenModel): { meta: string; graph: string; weights: Buffer } {
  const { json, weights } = encodeFrozen(frozen);
  return { meta: JSON.stringify(meta), graph: JSON.stringify(json), weights };
}

/**
 * Models in Redis: one hash per model holding meta, the frozen graph and its weights, written in
 * a single HSET inside MULTI together with the index entry, so a half-written model is never
 * visible. Models are kept independently of job retention.
 */
export class ModelStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  private key(id: string): string {
    return modelKey(this.prefix, id);
  }

  private get indexKey(): string {
    return modelIndexKey(this.prefix);
  }

  async save(meta: ModelMeta, frozen: FrozenModel): Promise<void> {
    const result = await this.redis
      .multi()
      .hset(this.key(meta.id), encodeModel(meta, frozen))
      .zadd(this.indexKey, Date.parse(meta.createdAt), meta.id)
      .exec();
    const failed = result?.find(([error]) => error);
    if (!result || failed) throw failed?.[0] ?? new Error('model write was aborted');
  }

  async meta(id: string): Promise<ModelMeta> {
    const raw = await this.redis.hget(this.key(id), 'meta');
    if (!raw) throw new AppError('MODEL_NOT_FOUND', { id });
    return readMeta(raw);
  }

  async load(id: string): Promise<StoredModel> {
    const [meta, graph] = await this.redis.hmget(this.key(id), 'meta', 'graph');
    const weights = await this.redis.hgetBuffer(this.key(id), 'weights');
    if (!meta || !graph || !weights) throw new AppError('MODEL_NOT_FOUND', { id });
    return {
      meta: readMeta(meta),
      frozen: decodeFrozen(JSON.parse(graph) as StoredFrozenModel, weights),
    };
  }

  /** Newest first. */
  async list(offset = 0, limit = 100): Promise<ModelMeta[]> {
    const ids = await this.redis.zrevrange(this.indexKey, offset, offset + limit - 1);
    if (ids.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.hget(this.key(id), 'meta');
    const rows = (await pipeline.exec()) ?? [];
    return rows.flatMap(([error, raw]) => (error || !raw ? [] : [readMeta(raw as string)]));
  }
}

/** A model's stored meta; `finalMetrics` of models trained by older versions in today's shape. */
function readMeta(raw: string): ModelMeta {
  const meta = JSON.parse(raw) as ModelMeta;
  if (meta.finalMetrics) meta.finalMetrics = upgradeStoredEpochMetrics(meta.finalMetrics);
  return meta;
}
