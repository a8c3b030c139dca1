import { INITIALIZERS, type Initializer } from '../src/schemas/training-request.schema';
import { QUALITY_DATASETS, QUALITY_ROWS, type QualityDataset } from './quality';

/**
 * What `npm run bench` runs. Suites are named as arguments (default: the performance suites;
 * `quality` runs only when named, it takes minutes); every figure can be set with
 * `--name=value` or the environment variable beside it:
 *
 *   npm run bench -- predict --seconds=5
 *   BENCH_QUEUE_JOBS=50 npm run bench -- queue
 *   npm run bench -- training --training-turns=3 --layers-fit=0
 *   npm run bench -- api cores --api-turns=2
 *   npm run bench -- quality --quality-datasets=noisy,wine --quality-seeds=1
 *   npm run bench -- quality --quality-datasets=diabetes --quality-seeds=61..120
 *   npm run bench -- quality --quality-inits=he-uniform,glorot-uniform,torch-default
 *   npm run bench -- data --data-sizes=10,100,1000
 *   npm run bench -- search --search-epochs=27
 */
export const SUITES = ['training', 'api', 'cores', 'predict', 'queue', 'quality', 'data', 'search'] as const;
export type Suite = (typeof SUITES)[number];
const DEFAULT_SUITES: Suite[] = ['training', 'api', 'cores', 'predict', 'queue'];

export interface BenchOptions {
  suites: Suite[];
  /** Training: random rows per epoch. */
  rows: number;
  batchSizes: number[];
  /** Training: untimed epochs of every peer first, then `timedEpochs` per peer in every turn. */
  warmupEpochs: number;
  timedEpochs: number;
  /** torch.set_num_threads values to run PyTorch with (none: no PyTorch row). */
  torchThreads: number[];
  /** Predict: load per server in s (split into `rounds` turns), the warm-up, the connections. */
  seconds: number;
  rounds: number;
  warmupSeconds: number;
  connections: number;
  /** Predict: a micro-batching wait (PREDICT_BATCH_WAIT_MS) to run beside the default; 0: none. */
  batchWaitMs: number;
  /** Queue: jobs timed from POST to active. */
  queueJobs: number;
  // Issue 17: turns, the end-to-end and both-cores suites, the predict service settings.
  /** Training: alternating turns of the peers. */
  trainingTurns: number;
  /** Training: 1 runs the tfjs Layers model.fit peer (its epochs take seconds), 0 leaves it out. */
  layersFit: number;
  /** api / cores: turns of (one job, the in-process step) and of (two jobs at once). */
  apiTurns: number;
  /** api / cores: the dataset's rows, and each job's epochs and batch size. */
  apiRows: number;
  apiEpochs: number;
  apiBatchSize: number;
  /** Predict: seconds of load on a freshly started server (its warm-up), reported apart. */
  coldSeconds: number;
  /** Predict: RATE_LIMIT_MAX of the app servers (per minute and key; the limiter runs on every request). */
  predictRateLimit: number;
  /** Quality: the datasets, rows and seeds run (default all, all, and each dataset's QUALITY_SEEDS). */
  qualityDatasets: QualityDataset[];
  qualityRows: string[];
  qualitySeeds: number[];
  /** Quality: the model.init values compared; empty (the default) runs the schema's default. */
  qualityInits: Initializer[];
  /** Data (issue 16): the generated CSVs' sizes in MB. */
  dataSizes: number[];
  /** Epochs of the training run on the largest data size (0: none). */
  dataTrainEpochs: number;
  /** Search (issue 13): each trial's epochs (ASHA's last rung is below it). */
  searchEpochs: number;
}

interface Flag {
  key: keyof Omit<BenchOptions, 'suites'>;
  flag: string;
  env: string;
  fallback: string;
  parse: (raw: string) => number | number[] | string[];
}

const positive = (raw: string) => {
  const value = Number(raw);
  if (!(Number.isFinite(value) && value >= 0)) throw new Error(`expected a number >= 0, received "${raw}"`);
  return value;
};
const list = (raw: string) => raw.split(',').map((v) => positive(v.trim()));
/** Seeds: "1,2,3", a range "1..60", or "" (each dataset's own count, QUALITY_SEEDS). */
const seeds = (raw: string) => {
  const range = /^\s*(\d+)\s*\.\.\s*(\d+)\s*$/.exec(raw);
  if (range) return Array.from({ length: Number(range[2]) - Number(range[1]) + 1 }, (_, i) => Number(range[1]) + i);
  return raw.trim() ? list(raw) : [];
};
/** A comma-separated list of names out of `known`; "" is the empty list. */
const names = (known: readonly string[]) => (raw: string) =>
  raw
    .split(',')
    .map((v) => v.trim())
    .filter(Boolean)
    .map((v) => {
      if (!known.includes(v)) throw new Error(`expected names out of ${known.join(', ')}, received "${v}"`);
      return v;
    });

const FLAGS: Flag[] = [
  { key: 'rows', flag: 'rows', env: 'BENCH_ROWS', fallback: '8192', parse: positive },
  { key: 'batchSizes', flag: 'batch-sizes', env: 'BENCH_BATCH_SIZES', fallback: '128,512', parse: list },
  { key: 'warmupEpochs', flag: 'warmup-epochs', env: 'BENCH_WARMUP_EPOCHS', fallback: '1', parse: positive },
  { key: 'timedEpochs', flag: 'epochs', env: 'BENCH_EPOCHS', fallback: '1', parse: positive },
  { key: 'torchThreads', flag: 'torch-threads', env: 'BENCH_TORCH_THREADS', fallback: '1', parse: list },
  { key: 'seconds', flag: 'seconds', env: 'BENCH_SECONDS', fallback: '10', parse: positive },
  { key: 'rounds', flag: 'rounds', env: 'BENCH_ROUNDS', fallback: '5', parse: positive },
  { key: 'warmupSeconds', flag: 'warmup-seconds', env: 'BENCH_WARMUP_SECONDS', fallback: '2', parse: positive },
  { key: 'connections', flag: 'connections', env: 'BENCH_CONNECTIONS', fallback: '64', parse: positive },
  { key: 'batchWaitMs', flag: 'batch-wait-ms', env: 'BENCH_BATCH_WAIT_MS', fallback: '0', parse: positive },
  { key: 'queueJobs', flag: 'queue-jobs', env: 'BENCH_QUEUE_JOBS', fallback: '200', parse: positive },
  // Issue 17.
  { key: 'trainingTurns', flag: 'training-turns', env: 'BENCH_TRAINING_TURNS', fallback: '5', parse: positive },
  { key: 'layersFit', flag: 'layers-fit', env: 'BENCH_LAYERS_FIT', fallback: '1', parse: positive },
  { key: 'apiTurns', flag: 'api-turns', env: 'BENCH_API_TURNS', fallback: '3', parse: positive },
  { key: 'apiRows', flag: 'api-rows', env: 'BENCH_API_ROWS', fallback: '8192', parse: positive },
  { key: 'apiEpochs', flag: 'api-epochs', env: 'BENCH_API_EPOCHS', fallback: '8', parse: positive },
  { key: 'apiBatchSize', flag: 'api-batch-size', env: 'BENCH_API_BATCH_SIZE', fallback: '128', parse: positive },
  { key: 'coldSeconds', flag: 'cold-seconds', env: 'BENCH_COLD_SECONDS', fallback: '5', parse: positive },
  {
    key: 'predictRateLimit',
    flag: 'predict-rate-limit',
    env: 'BENCH_PREDICT_RATE_LIMIT',
    fallback: '100000000',
    parse: positive,
  },
  {
    key: 'qualityDatasets',
    flag: 'quality-datasets',
    env: 'BENCH_QUALITY_DATASETS',
    fallback: Object.keys(QUALITY_DATASETS).join(','),
    parse: names(Object.keys(QUALITY_DATASETS)),
  },
  {
    key: 'qualityRows',
    flag: 'quality-rows',
    env: 'BENCH_QUALITY_ROWS',
    fallback: Object.keys(QUALITY_ROWS).join(','),
    parse: names(Object.keys(QUALITY_ROWS)),
  },
  { key: 'qualitySeeds', flag: 'quality-seeds', env: 'BENCH_QUALITY_SEEDS', fallback: '', parse: seeds },
  { key: 'dataSizes', flag: 'data-sizes', env: 'BENCH_DATA_SIZES', fallback: '10,100', parse: list },
  {
    key: 'dataTrainEpochs',
    flag: 'data-train-epochs',
    env: 'BENCH_DATA_TRAIN_EPOCHS',
    fallback: '1',
    parse: (raw) => {
      const n = Number(raw);
      if (!Number.isInteger(n) || n < 0) throw new Error(`expected a whole number of epochs, got "${raw}"`);
      return n;
    },
  },
  { key: 'qualityInits', flag: 'quality-inits', env: 'BENCH_QUALITY_INITS', fallback: '', parse: names(INITIALIZERS) },
  { key: 'searchEpochs', flag: 'search-epochs', env: 'BENCH_SEARCH_EPOCHS', fallback: '27', parse: positive },
];

export function parseOptions(argv: string[], env: NodeJS.ProcessEnv): BenchOptions {
  const suites: Suite[] = [];
  const given = new Map<string, string>();
  for (const arg of argv) {
    const match = /^--([a-z-]+)=(.*)$/.exec(arg);
    if (match) {
      if (!FLAGS.some((f) => f.flag === match[1])) {
        throw new Error(`unknown option --${match[1]}; known: ${FLAGS.map((f) => `--${f.flag}`).join(', ')}`);
      }
      given.set(match[1], match[2]);
    } else if ((SUITES as readonly string[]).includes(arg)) {
      suites.push(arg as Suite);
    } else {
      throw new Error(`unknown argument "${arg}": expected one of ${SUITES.join(', ')} or --option=value`);
    }
  }
  const options = { suites: suites.length ? suites : [...DEFAULT_SUITES] } as BenchOptions;
  for (const f of FLAGS) {
    const raw = given.get(f.flag) ?? env[f.env] ?? f.fallback;
    try {
      (options as unknown as Record<string, unknown>)[f.key] = f.parse(raw);
    } catch (error) {
      throw new Error(`--${f.flag} / ${f.env}: ${(error as Error).message}`);
    }
  }
  return options;
}
