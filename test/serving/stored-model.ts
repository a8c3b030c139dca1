import { initBackend } from '../../src/ml/backend';
import { parseCsv } from '../../src/data/parse-dataset';
import { trainingRequestSchema, type TrainingRequestInput } from '../../src/schemas/training-request.schema';
import { type ModelMeta, newModelId, type StoredModel } from '../../src/store/model-store';
import { diagnose } from '../../src/training/diagnosis';
import { trainFromRequest } from '../../src/training/train-from-request';

/**
 * A model trained through the service's own training run (trainFromRequest) and described as the
 * worker describes it, without a queue: for tests that need models in the store quickly.
 */
export async function trainStoredModel(
  csv: string,
  request: Omit<TrainingRequestInput, 'datasetId'>,
  seed = 1,
): Promise<StoredModel> {
  const backend = await initBackend('wasm');
  const spec = trainingRequestSchema.parse({ datasetId: 'ds_test', ...request });
  const outcome = await trainFromRequest(spec, parseCsv(csv, { maxRows: 100_000, maxColumns: 1_000 }), seed);
  const meta: ModelMeta = {
    id: newModelId(),
    jobId: 'test',
    createdAt: new Date().toISOString(),
    task: spec.task,
    target: spec.target,
    datasetId: spec.datasetId,
    spec,
    seed: outcome.seed,
    backend: backend.name,
    preprocessing: outcome.preprocessing,
    finalMetrics: outcome.metrics[outcome.metrics.length - 1],
    epochsRun: outcome.metrics.length,
    restoredBestWeights: outcome.restoredBestWeights,
    rows: outcome.rows,
    diagnosis: diagnose({
      request: spec,
      metrics: outcome.metrics,
      restoredBestWeights: outcome.restoredBestWeights,
      warnings: outcome.warnings,
      baselineLoss: outcome.baselineLoss,
    }),
    sparsity: outcome.sparsity,
    warnings: outcome.warnings,
  };
  return { meta, frozen: outcome.frozen };
}

/** The same model under a new id (a separate copy once loaded from the store). */
export function withNewId(model: StoredModel): StoredModel {
  return { meta: { ...model.meta, id: newModelId() }, frozen: model.frozen };
}
