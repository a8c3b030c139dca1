import { AppError } from '../errors';
import type { DatasetStore } from '../store/dataset-store';
import type { Combination } from './grid';

/**
 * The dataset checks POST /v1/training-jobs makes, for every combination of a sweep (a grid
 * may vary the dataset or the target), so a sweep that cannot train is a 400 now rather than
 * failed runs later. Each dataset is read once.
 */
export async function assertTrainable(datasets: DatasetStore, combinations: Combination[]): Promise<void> {
  const metas = new Map<string, Awaited<ReturnType<DatasetStore['meta']>>>();
  for (const { index, settings, request } of combinations) {
    let meta = metas.get(request.datasetId);
    if (!meta) {
      meta = await datasets.meta(request.datasetId);
      metas.set(request.datasetId, meta);
    }
    const where = combinations.length > 1 ? `grid combination ${index + 1} ${JSON.stringify(settings)}: ` : '';
    const target = meta.columns.find((c) => c.name === request.target);
    if (!target) {
      throw invalid(
        `${where}target: dataset ${meta.id} has no column "${request.target}"; its columns are ` +
          meta.columns.map((c) => `"${c.name}"`).join(', '),
      );
    }
    if (request.task === 'regression' && target.type !== 'numeric') {
      throw invalid(`${where}task: regression needs a numeric target, but "${request.target}" is categorical`);
    }
    const features = meta.columns.filter((c) => c.name !== request.target && !request.features.drop.includes(c.name));
    if (features.length === 0) {
      throw invalid(`${where}dataset ${meta.id} has no feature columns left besides the target`);
    }
  }
}

function invalid(message: string): AppError {
  return new AppError('INVALID_SWEEP', { message });
}
