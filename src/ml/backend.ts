import * as tf from '@tensorflow/tfjs';

/**
 * Backend selection. The native backends (@tensorflow/tfjs-node-gpu, @tensorflow/tfjs-node) are
 * optional dependencies: their install downloads libtensorflow, which fails without general
 * internet access, and npm then simply leaves them out. wasm and cpu always exist.
 */
import { BACKEND_CHOICES, type BackendChoice } from '../config';

export { BACKEND_CHOICES, type BackendChoice };

export interface BackendInfo {
  /** The tfjs backend name in use: 'tensorflow' (native, CPU or GPU), 'wasm' or 'cpu'. */
  name: string;
  /** What was asked for. */
  requested: BackendChoice;
  /** Which package provided it, e.g. '@tensorflow/tfjs-node-gpu'. */
  provider: string;
  /** Why earlier candidates were skipped (auto mode), so a missing GPU is never silent. */
  skipped: string[];
}

interface Candidate {
  choice: Exclude<BackendChoice, 'auto'>;
  provider: string;
  backend: string;
  load: () => void;
}

// A synchronous require of an optional dependency, made only when that backend is chosen (an
// import would load, or fail on, all of them).
/* eslint-disable @typescript-eslint/no-require-imports */
const CANDIDATES: Candidate[] = [
  {
    choice: 'tensorflow-gpu',
    provider: '@tensorflow/tfjs-node-gpu',
    backend: 'tensorflow',
    load: () => {
      require('@tensorflow/tfjs-node-gpu');
    },
  },
  {
    choice: 'tensorflow',
    provider: '@tensorflow/tfjs-node',
    backend: 'tensorflow',
    load: () => {
      require('@tensorflow/tfjs-node');
    },
  },
  {
    choice: 'wasm',
    provider: '@tensorflow/tfjs-backend-wasm',
    backend: 'wasm',
    load: () => {
      require('@tensorflow/tfjs-backend-wasm');
    },
  },
  { choice: 'cpu', provider: '@tensorflow/tfjs (cpu)', backend: 'cpu', load: () => undefined },
];
/* eslint-enable @typescript-eslint/no-require-imports */

let active: BackendInfo | undefined;

/** Selects and initializes the backend once per process; later calls return the same answer. */
export async function initBackend(requested: BackendChoice): Promise<BackendInfo> {
  if (active) return active;
  const candidates = requested === 'auto' ? CANDIDATES : CANDIDATES.filter((c) => c.choice === requested);
  const skipped: string[] = [];
  for (const candidate of candidates) {
    try {
      candidate.load();
      const ok = await tf.setBackend(candidate.backend);
      if (!ok) throw new Error(`tf.setBackend('${candidate.backend}') returned false`);
      await tf.ready();
      active = { name: tf.getBackend(), requested, provider: candidate.provider, skipped };
      return active;
    } catch (error) {
      const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
      skipped.push(`${candidate.choice}: ${reason}`);
    }
  }
  throw new Error(`TF_BACKEND=${requested} is not available here (${skipped.join('; ')})`);
}

export function activeBackend(): BackendInfo | undefined {
  return active;
}
