import assert from 'node:assert/strict';
import { startService, type TestService } from './app';
import { overfitCsv } from './overfit-data';

/** One trial's row of GET /v1/searches/:id, as the worker-process search tests read it. */
export interface TrialBody {
  rank?: number;
  trial: number;
  jobId: string;
  state: string;
  epochsRun: number;
  value?: number;
  prunedAtEpoch?: number;
  modelId?: string;
  settings: Record<string, unknown>;
}

export interface SearchBody {
  state: string;
  trials: TrialBody[];
  best?: { trial: number; modelId: string };
  progress: Record<string, number>;
}

/**
 * The API without a worker of its own (the tests start worker processes), with short locks so a
 * SIGKILLed worker's jobs are taken over within seconds, and one small noisy classification
 * dataset uploaded.
 */
export async function startSearchService(): Promise<{ svc: TestService; datasetId: string }> {
  const svc = await startService({
    worker: false,
    env: { JOB_LOCK_MS: '1000', JOB_STALLED_INTERVAL_MS: '1000', JOB_BACKOFF_MS: '200' },
  });
  const upload = await svc.http
    .post('/v1/datasets')
    .set('content-type', 'text/csv')
    .send(overfitCsv({ rows: 600, noiseFeatures: 2, labelNoise: 0.3, seed: 5 }));
  assert.equal(upload.status, 201);
  return { svc, datasetId: upload.body.id as string };
}

export async function readSearch(svc: TestService, id: string): Promise<SearchBody> {
  const res = await svc.http.get(`/v1/searches/${id}`);
  assert.equal(res.status, 200, res.text);
  return res.body as SearchBody;
}
