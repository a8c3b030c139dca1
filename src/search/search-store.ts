import type { Redis } from 'ioredis';
import type { SearchRequest, TrialState } from '../schemas/search.schema';
import type { Diagnosis } from '../training/diagnosis';
import type { EvaluationMetrics } from '../schemas/evaluation.schema';

/**
 * A search's state in Redis, all of it, so that any coordinator can pick it up where the last
 * one stopped: the request (fixed at submission, seed resolved), the status, one record per
 * trial (a hash field per trial number) and the cancel flag. Only the coordinator writes trial
 * records; DELETE sets the flag and cancels the trials' jobs.
 */

export interface SearchSpec {
  searchId: string;
  /** As validated, with the seed resolved: the same for every coordinator that runs it. */
  request: SearchRequest & { seed: number };
  createdAt: string;
}

export interface SearchStatus {
  state: 'running' | 'completed' | 'cancelled' | 'failed';
  finishedAt?: string;
  error?: string;
}

export interface TrialRecord {
  trial: number;
  /** `${searchId}-t${trial}`: a trial is one training job, and BullMQ adds a job id once. */
  jobId: string;
  settings: Record<string, unknown>;
  state: TrialState;
  /** True once the trial's job has ended (a pruned trial is pruned before its job has stopped). */
  settled: boolean;
  /** The objective after each epoch, as a loss (lower is better), as far as read. */
  curve: number[];
  /** Epochs the pruner has judged. */
  judgedThrough: number;
  epochsRun: number;
  prunedAtEpoch?: number;
  /** The objective, in its own direction: of the kept model (completed), of the last epoch (else). */
  value?: number;
  modelId?: string;
  diagnosis?: Diagnosis;
  testMetrics?: EvaluationMetrics;
  error?: string;
}

export function trialJobId(searchId: string, trial: number): string {
  return `${searchId}-t${trial}`;
}

export class SearchStore {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly ttlSeconds: number,
  ) {}

  private key(searchId: string, part: string): string {
    return `${this.prefix}:search:${searchId}:${part}`;
  }

  /** Writes spec and status once; false when the search exists already (an idempotent retry). */
  async create(spec: SearchSpec): Promise<boolean> {
    const created = await this.redis.set(
      this.key(spec.searchId, 'spec'),
      JSON.stringify(spec),
      'EX',
      this.ttlSeconds,
      'NX',
    );
    if (created !== 'OK') return false;
    await this.setStatus(spec.searchId, { state: 'running' });
    return true;
  }

  async spec(searchId: string): Promise<SearchSpec | null> {
    const raw = await this.redis.get(this.key(searchId, 'spec'));
    return raw ? (JSON.parse(raw) as SearchSpec) : null;
  }

  async status(searchId: string): Promise<SearchStatus> {
    const raw = await this.redis.get(this.key(searchId, 'status'));
    return raw ? (JSON.parse(raw) as SearchStatus) : { state: 'running' };
  }

  async setStatus(searchId: string, status: SearchStatus): Promise<void> {
    await this.redis.set(this.key(searchId, 'status'), JSON.stringify(status), 'EX', this.ttlSeconds);
  }

  async trials(searchId: string): Promise<TrialRecord[]> {
    const all = await this.redis.hgetall(this.key(searchId, 'trials'));
    return Object.values(all)
      .map((raw) => JSON.parse(raw) as TrialRecord)
      .sort((a, b) => a.trial - b.trial);
  }

  /**
   * Records a new trial unless one with its number exists: returns the stored record, so a
   * coordinator that proposes again after a crash starts what was proposed first.
   */
  async propose(searchId: string, record: TrialRecord): Promise<TrialRecord> {
    const key = this.key(searchId, 'trials');
    const added = await this.redis.hsetnx(key, String(record.trial), JSON.stringify(record));
    await this.redis.expire(key, this.ttlSeconds);
    if (added === 1) return record;
    return JSON.parse((await this.redis.hget(key, String(record.trial)))!) as TrialRecord;
  }

  async saveTrial(searchId: string, record: TrialRecord): Promise<void> {
    const key = this.key(searchId, 'trials');
    await this.redis.hset(key, String(record.trial), JSON.stringify(record));
    await this.redis.expire(key, this.ttlSeconds);
  }

  async requestCancel(searchId: string): Promise<void> {
    await this.redis.set(this.key(searchId, 'cancel'), '1', 'EX', this.ttlSeconds);
  }

  async cancelRequested(searchId: string): Promise<boolean> {
    return (await this.redis.exists(this.key(searchId, 'cancel'))) === 1;
  }
}
