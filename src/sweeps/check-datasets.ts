import type { Table } from '../data/table';
import { AppError } from '../errors';
import type { DatasetStore } from '../store/dataset-store';
import { classWeightsReason, needsTargetValues, untrainableReason } from '../training/trainable';
import type { Combination } from './grid';

/**
 * The dataset checks POST /v1/training-jobs makes, for every combination of a sweep (a grid
 * may vary the dataset or the target), so a sweep that cannot train is a 400 now rather than
 * failed runs later. Each dataset is read once.
 */
export async function assertTrainable(datasets: DatasetStore, combinations: Combination[]): Promise<void> {
  const metas = new Map<string, Awaited<ReturnType<DatasetStore['meta']>>>();
  const tables = new Map<string, Promise<Table>>();
  const table = (id: string) => {
    if (!tables.has(id)) tables.set(id, datasets.table(id));
    return tables.get(id)!;
  };
  for (const { index, settings, request } of combinations) {
    let meta = metas.get(request.datasetId);
    if (!meta) {
      meta = await datasets.meta(request.datasetId);
      metas.set(request.datasetId, meta);
    }
    const where = combinations.length > 1 ? `grid combination ${index + 1} ${JSON.stringify(settings)}: ` : '';
    const reason =
      untrainableReason(meta, request) ??
      (needsTargetValues(request) ? classWeightsReason(await table(request.datasetId), request) : null);
    if (reason) throw invalid(`${where}${reason}`);
  }
}

function invalid(message: string): AppError {
  return new AppError('INVALID_SWEEP', { message });
}
