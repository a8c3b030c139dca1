import { AppError } from '../errors';
import type { DatasetStore } from '../store/dataset-store';
import { checkSubmission } from '../training/trainable';
import type { Combination } from './grid';

/**
 * The dataset checks POST /v1/training-jobs makes, for every combination of a sweep (a grid
 * may vary the dataset or the target), so a sweep that cannot train is a 400 now rather than
 * failed runs later. Returns the warnings, each once, prefixed with the first combination that
 * has it when the grid has several. Each dataset and target is read once.
 */
export async function assertTrainable(datasets: DatasetStore, combinations: Combination[]): Promise<string[]> {
  const metas = new Map<string, ReturnType<DatasetStore['meta']>>();
  const profiles = new Map<string, ReturnType<DatasetStore['columnProfile']>>();
  const once: Pick<DatasetStore, 'meta' | 'columnProfile'> = {
    meta: (id) => memo(metas, id, () => datasets.meta(id)),
    columnProfile: (id, name) => memo(profiles, JSON.stringify([id, name]), () => datasets.columnProfile(id, name)),
  };
  const warnings = new Map<string, string>();
  for (const { index, settings, request } of combinations) {
    const where = combinations.length > 1 ? `grid combination ${index + 1} ${JSON.stringify(settings)}: ` : '';
    const { reason, warnings: found } = await checkSubmission(once, request);
    if (reason) throw invalid(`${where}${reason}`);
    for (const warning of found) if (!warnings.has(warning)) warnings.set(warning, `${where}${warning}`);
  }
  return [...warnings.values()];
}

function memo<T>(cache: Map<string, T>, key: string, load: () => T): T {
  let value = cache.get(key);
  if (value === undefined) {
    value = load();
    cache.set(key, value);
  }
  return value;
}

function invalid(message: string): AppError {
  return new AppError('INVALID_SWEEP', { message });
}
