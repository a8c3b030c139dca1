import {
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  NoSuchKey,
  PutObjectCommand,
  S3Client,
  type _Object,
} from '@aws-sdk/client-s3';
import type { DatasetBackend, PublishOutcome } from './dataset-backend';

export interface S3DatasetBackendOptions {
  client: S3Client;
  bucket: string;
  /** Every object key starts with it (REDIS_PREFIX by default, so deployments can share a bucket). */
  prefix: string;
  /** Unpublished chunks older than this are removed by cleanupAbandonedUploads. */
  uploadTtlSeconds: number;
}

/** Newest first in a lexicographic listing: 13 digits of (10^13 − creation ms). */
function indexName(createdAtMs: number, id: string): string {
  return `${String(1e13 - createdAtMs).padStart(13, '0')}-${id}`;
}

/**
 * Datasets in S3-compatible object storage (AWS S3, MinIO, …): under `<prefix>/datasets/<id>/`
 * one object per chunk (`chunk-<n>`) and, once published, `dataset.json` holding every field; an
 * empty object `<prefix>/dataset-index/<13 digits>-<id>` lists it, newest first. Publication is
 * the single PUT of `dataset.json` (S3 writes an object whole or not at all); the index entry
 * follows it, so a crash between the two leaves a dataset that loads by id but is not listed.
 * Chunks of an upload that never published are removed by `cleanupAbandonedUploads` (run when the
 * API starts), S3 having no per-object TTL.
 */
export class S3DatasetBackend implements DatasetBackend {
  readonly uploadTtlSeconds: number;
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;
  /** Published datasets' fields, which never change but for late profiles (setField). */
  private readonly fields = new Map<string, Record<string, string>>();

  constructor(options: S3DatasetBackendOptions) {
    this.client = options.client;
    this.bucket = options.bucket;
    this.prefix = options.prefix;
    this.uploadTtlSeconds = options.uploadTtlSeconds;
  }

  private datasetPrefix(id: string): string {
    return `${this.prefix}/datasets/${id}/`;
  }

  private chunkKey(id: string, index: number): string {
    return `${this.datasetPrefix(id)}chunk-${index}`;
  }

  private fieldsKey(id: string): string {
    return `${this.datasetPrefix(id)}dataset.json`;
  }

  private get indexPrefix(): string {
    return `${this.prefix}/dataset-index/`;
  }

  async putChunk(id: string, index: number, bytes: Buffer): Promise<void> {
    await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: this.chunkKey(id, index), Body: bytes }));
  }

  async getChunk(id: string, index: number): Promise<Buffer | null> {
    return this.getObject(this.chunkKey(id, index));
  }

  private async getObject(key: string): Promise<Buffer | null> {
    try {
      const result = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      return Buffer.from(await result.Body!.transformToByteArray());
    } catch (error) {
      if (error instanceof NoSuchKey || (error as { name?: string }).name === 'NoSuchKey') return null;
      throw error;
    }
  }

  private async readFields(id: string): Promise<Record<string, string> | null> {
    const cached = this.fields.get(id);
    if (cached) return cached;
    const raw = await this.getObject(this.fieldsKey(id));
    if (!raw) return null;
    const fields = JSON.parse(raw.toString('utf8')) as Record<string, string>;
    if (this.fields.size >= 64) this.fields.delete(this.fields.keys().next().value!);
    this.fields.set(id, fields);
    return fields;
  }

  async getField(id: string, field: string): Promise<string | null> {
    const fields = await this.readFields(id);
    return fields && Object.prototype.hasOwnProperty.call(fields, field) ? fields[field] : null;
  }

  async setField(id: string, field: string, value: string): Promise<void> {
    const fields = await this.readFields(id);
    if (!fields) return;
    const updated = { ...fields, [field]: value };
    await this.putFields(id, updated);
  }

  private async putFields(id: string, fields: Record<string, string>): Promise<void> {
    await this.client.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: this.fieldsKey(id),
        Body: JSON.stringify(fields),
        ContentType: 'application/json',
      }),
    );
    this.fields.set(id, fields);
  }

  /**
   * S3 has no server-side deadline check: the chunks are checked, then the fields and the index
   * entry are written (the index entry last, so a listing never shows a dataset without fields).
   */
  async publish(
    id: string,
    chunks: number,
    fields: Record<string, string>,
    createdAtMs: number,
  ): Promise<PublishOutcome> {
    for (let i = 0; i < chunks; i++) {
      try {
        await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.chunkKey(id, i) }));
      } catch (error) {
        if (
          (error as { name?: string }).name === 'NotFound' ||
          (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404
        ) {
          return 'missing-chunks';
        }
        throw error;
      }
    }
    await this.putFields(id, fields);
    await this.client.send(
      new PutObjectCommand({ Bucket: this.bucket, Key: this.indexPrefix + indexName(createdAtMs, id), Body: '' }),
    );
    return 'published';
  }

  async deleteChunks(id: string, from: number, to: number): Promise<void> {
    const keys = Array.from({ length: Math.max(0, to - from) }, (_, i) => this.chunkKey(id, from + i));
    await this.deleteKeys(keys);
  }

  private async deleteKeys(keys: string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000);
      if (batch.length === 0) continue;
      await this.client.send(
        new DeleteObjectsCommand({
          Bucket: this.bucket,
          Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true },
        }),
      );
    }
  }

  private async listAll(prefix: string): Promise<_Object[]> {
    const out: _Object[] = [];
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }),
      );
      out.push(...(page.Contents ?? []));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return out;
  }

  async list(offset: number, limit: number): Promise<{ ids: string[]; total: number }> {
    const entries = (await this.listAll(this.indexPrefix)).map((o) => o.Key!.slice(this.indexPrefix.length)).sort();
    return { ids: entries.slice(offset, offset + limit).map((name) => name.slice(14)), total: entries.length };
  }

  async delete(id: string, chunks: number, createdAtMs: number): Promise<void> {
    const keys = [this.indexPrefix + indexName(createdAtMs, id), this.fieldsKey(id)];
    for (let i = 0; i < chunks; i++) keys.push(this.chunkKey(id, i));
    await this.deleteKeys(keys);
    this.fields.delete(id);
  }

  /**
   * Deletes the chunks of uploads that never published (no `dataset.json`) and whose newest chunk
   * is older than `olderThanSeconds` (DATASET_UPLOAD_TTL_SECONDS): the cleanup after a crash
   * mid-upload. Returns the ids cleaned.
   */
  async cleanupAbandonedUploads(olderThanSeconds = this.uploadTtlSeconds, now = Date.now()): Promise<string[]> {
    const root = `${this.prefix}/datasets/`;
    const byId = new Map<string, { keys: string[]; published: boolean; newest: number }>();
    for (const object of await this.listAll(root)) {
      const [id, name] = object.Key!.slice(root.length).split('/');
      const entry = byId.get(id) ?? { keys: [], published: false, newest: 0 };
      entry.keys.push(object.Key!);
      if (name === 'dataset.json') entry.published = true;
      entry.newest = Math.max(entry.newest, object.LastModified?.getTime() ?? now);
      byId.set(id, entry);
    }
    const cleaned: string[] = [];
    for (const [id, entry] of byId) {
      if (entry.published || now - entry.newest < olderThanSeconds * 1000) continue;
      await this.deleteKeys(entry.keys);
      cleaned.push(id);
    }
    return cleaned;
  }
}
