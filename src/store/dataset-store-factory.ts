import type { Redis } from 'ioredis';
import type { Config } from '../config';
import { DatasetStore } from './dataset-store';

/**
 * The dataset store the configuration names: Redis (DATASET_STORE=redis, the default) or
 * S3-compatible object storage (DATASET_STORE=s3, DATASET_S3_BUCKET, DATASET_S3_ENDPOINT for MinIO
 * and the like; credentials and region from the AWS SDK's standard sources: AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY, AWS_REGION, profiles, instance roles).
 */
export function createDatasetStore(config: Config, redis: Redis): DatasetStore {
  const options = { chunkRows: config.datasetChunkRows, uploadTtlSeconds: config.datasetUploadTtlSeconds };
  if (config.datasetStore === 'redis') return new DatasetStore(redis, config.redisPrefix, options);
  // Loaded only here: the AWS SDK is large, and a Redis-only deployment never needs it.
  /* eslint-disable @typescript-eslint/no-require-imports */
  const { S3Client } = require('@aws-sdk/client-s3') as typeof import('@aws-sdk/client-s3');
  const { S3DatasetBackend } = require('./s3-dataset-backend') as typeof import('./s3-dataset-backend');
  /* eslint-enable @typescript-eslint/no-require-imports */
  const { bucket, endpoint, prefix } = config.datasetS3;
  const client = new S3Client({
    region: process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
    ...(endpoint ? { endpoint, forcePathStyle: true } : {}),
  });
  return new DatasetStore(
    new S3DatasetBackend({ client, bucket, prefix, uploadTtlSeconds: config.datasetUploadTtlSeconds }),
    undefined,
    options,
  );
}
