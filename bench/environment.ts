import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { loadConfig, type Config } from '../src/config';
import { Rng } from '../src/random';
import { deleteKeysUnder } from '../src/store/redis';

/**
 * The bench's config: the Redis at REDIS_URL with a key prefix of its own (every key is deleted
 * afterwards, see `deletePrefix`), no rate limit (it would cap the predict runs at 600 a minute),
 * silent logs. Everything else is the service's defaults or the caller's environment.
 */
export function benchConfig(extra: Record<string, string> = {}): Config {
  return loadConfig({
    ...process.env,
    REDIS_PREFIX: `fwbench-${randomBytes(4).toString('hex')}`,
    LOG_LEVEL: 'silent',
    RATE_LIMIT_MAX: '0',
    NODE_ENV: 'development',
    ...extra,
  });
}

/** Deletes every key under the bench's prefix, and nothing else. */
export function deletePrefix(config: Config): Promise<void> {
  return deleteKeysUnder(config.redisUrl, config.redisPrefix);
}

export interface Machine {
  nproc: number;
  cpu: string;
  node: string;
  platform: string;
}

export function machine(): Machine {
  let cpu = cpus()[0]?.model ?? 'unknown';
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('model name'));
    if (line) cpu = line.split(':')[1].trim();
  } catch {
    // not Linux: os.cpus() has it
  }
  return { nproc: cpus().length, cpu, node: process.version, platform: `${process.platform}-${process.arch}` };
}

/** The reference network's input width and classes (issue 5). */
export const REFERENCE_INPUTS = 64;
export const REFERENCE_CLASSES = 10;

/**
 * Random rows for the reference network: standard-normal features and uniformly drawn classes.
 * Nothing to learn, which does not matter for speed.
 */
export function randomRows(rows: number, seed = 1): { x: Float32Array; labels: Int32Array } {
  const rng = new Rng(seed);
  const x = new Float32Array(rows * REFERENCE_INPUTS);
  for (let i = 0; i < x.length; i++) {
    x[i] = Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
  }
  const labels = Int32Array.from({ length: rows }, () => Math.floor(rng.next() * REFERENCE_CLASSES));
  return { x, labels };
}

/**
 * The reference network as a fitwell training request (the schema fills in every default):
 * 64 inputs → Dense 256 (no bias) → batch norm → ReLU → dropout 0.3 → Dense 256 → layer norm →
 * ReLU → dropout 0.3 → Dense 10, softmax cross-entropy, Adam 1e-3, L2 1e-4 on the first kernel.
 */
export function referenceRequest(datasetId: string, batchSize: number, epochs: number) {
  return {
    datasetId,
    target: 'label',
    task: 'classification' as const,
    model: {
      hidden: [
        { units: 256, normalization: 'batch', dropout: 0.3, regularization: { l2: 1e-4 } },
        { units: 256, normalization: 'layer', dropout: 0.3 },
      ],
    },
    regularization: { l1: 0, l2: 0 },
    training: { epochs, batchSize, optimizer: 'adam', learningRate: 1e-3, validationSplit: 0, seed: 1 },
  };
}

/** The same rows as a JSON dataset body, features f0 … f63 and the class as "c0" … "c9". */
export function referenceDataset(rows: number, seed = 1): { rows: Record<string, number | string>[] } {
  const { x, labels } = randomRows(rows, seed);
  return {
    rows: Array.from(labels, (label, r) => {
      const row: Record<string, number | string> = {};
      for (let f = 0; f < REFERENCE_INPUTS; f++) row[`f${f}`] = Number(x[r * REFERENCE_INPUTS + f].toFixed(4));
      row.label = `c${label}`;
      return row;
    }),
  };
}
