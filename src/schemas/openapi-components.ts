import { z } from 'zod';
import {
  datasetSchema,
  enqueuedJobSchema,
  epochMetricsSchema,
  errorSchema,
  jsonDatasetSchema,
  predictRequestSchema,
  predictResponseSchema,
  trainingJobSchema,
} from './api.schema';
import { modelListSchema, modelSchema, preprocessingSchema } from './model.schema';
import { trainingEndEventSchema, trainingRemovedEventSchema, trainingStateEventSchema } from './training-events.schema';
import { trainingJobListSchema, trainingJobSummarySchema } from './training-job-list.schema';
import { trainingRequestSchema } from './training-request.schema';
import {
  v2ErrorSchema,
  v2InferRequestSchema,
  v2InferResponseSchema,
  v2ModelMetadataSchema,
  v2ServerMetadataSchema,
} from './open-inference.schema';
import {
  aliasSchema,
  modelNameSchema,
  modelVersionSchema,
  moveAliasSchema,
  registerVersionSchema,
} from './model-registry.schema';

/**
 * Names (components), descriptions and examples of the API's schemas in the OpenAPI document.
 * They are attached to the very schema objects the routes use (zod's global registry), so the
 * document describes exactly what is validated, and a test parses every example with its schema
 * so that none drifts from what the API accepts and returns.
 */

const epochExample = {
  epoch: 12,
  trainingModeLoss: 0.412,
  penalty: 0.048,
  trainLoss: 0.371,
  valLoss: 0.395,
  gap: 0.024,
  accuracy: 0.842,
  valAccuracy: 0.868,
  kernelL2: 14.2,
  zeroShare: 0,
  durationMs: 65,
};

export const API_EXAMPLES = {
  Error: {
    schema: errorSchema,
    description: 'Every error: a stable code and a message that names the field and the reason.',
    example: {
      error: {
        code: 'VALIDATION',
        message: 'model.hidden[0].dropout: dropout must be in [0, 1): a rate of 1 would drop every unit',
      },
    },
  },
  Dataset: {
    schema: datasetSchema,
    description: 'An uploaded dataset: its columns (typed numeric or categorical) and row count.',
    example: {
      id: 'ds_3kTq9vYw2mZx',
      rows: 1200,
      columns: [
        { name: 'tenure_months', type: 'numeric' },
        { name: 'monthly_spend', type: 'numeric' },
        { name: 'plan', type: 'categorical' },
        { name: 'churned', type: 'categorical' },
      ],
      createdAt: '2026-01-05T10:00:00.000Z',
    },
  },
  JsonDataset: {
    schema: jsonDatasetSchema,
    description:
      'A dataset as JSON rows (the alternative to text/csv): every row an object of column → number, string, ' +
      'boolean or null (missing).',
    example: {
      rows: [
        { tenure_months: 3, monthly_spend: 95, plan: 'basic', churned: 'yes' },
        { tenure_months: 41, monthly_spend: 40, plan: 'pro', churned: 'no' },
      ],
    },
  },
  TrainingRequest: {
    schema: trainingRequestSchema,
    description:
      'What to train. Only datasetId, target and task are required; every other field has the default shown ' +
      'in its schema.',
    example: {
      datasetId: 'ds_3kTq9vYw2mZx',
      target: 'churned',
      task: 'classification',
      model: {
        hidden: [
          { units: 128, activation: 'relu', normalization: 'batch', dropout: 0.3 },
          { units: 128, activation: 'relu', normalization: 'layer', dropout: 0.3 },
        ],
      },
      regularization: { l1: 0, l2: 0.0001 },
      training: {
        epochs: 30,
        batchSize: 32,
        optimizer: 'adam',
        learningRate: 0.001,
        validationSplit: 0.2,
        seed: 42,
      },
    },
  },
  EnqueuedJob: {
    schema: enqueuedJobSchema,
    description: 'The queued job; follow it with GET /v1/training-jobs/{jobId} or its /events stream.',
    example: { jobId: '0b6f5a8e-7f1c-4d0a-9a57-2c4e0f3b9d11', state: 'waiting' },
  },
  TrainingJobSummary: {
    schema: trainingJobSummarySchema,
    description: 'A training job as listed: state, dataset, progress and, when done, its model or its error.',
    example: {
      jobId: '0b6f5a8e-7f1c-4d0a-9a57-2c4e0f3b9d11',
      state: 'completed',
      datasetId: 'ds_3kTq9vYw2mZx',
      progress: { epoch: 30, epochs: 30 },
      attempts: 1,
      createdAt: '2026-01-05T10:00:00.000Z',
      finishedAt: '2026-01-05T10:01:04.000Z',
      modelId: 'mdl_Xr2c8QpLk1vB',
    },
  },
  TrainingJobList: {
    schema: trainingJobListSchema,
    description: 'A page of training jobs, newest first, and how many match the filters.',
    example: {
      jobs: [
        {
          jobId: '0b6f5a8e-7f1c-4d0a-9a57-2c4e0f3b9d11',
          state: 'failed',
          datasetId: 'ds_3kTq9vYw2mZx',
          progress: { epoch: 0, epochs: 30 },
          attempts: 1,
          createdAt: '2026-01-05T10:00:00.000Z',
          finishedAt: '2026-01-05T10:00:01.000Z',
          error: 'dataset "ds_3kTq9vYw2mZx" does not exist',
        },
      ],
      total: 1,
    },
  },
  EpochMetrics: {
    schema: epochMetricsSchema,
    description: "One finished epoch's numbers.",
    example: epochExample,
  },
  TrainingJob: {
    schema: trainingJobSchema,
    description: 'A training job: its state, progress, one metrics entry per finished epoch and, when done, its model.',
    example: {
      jobId: '0b6f5a8e-7f1c-4d0a-9a57-2c4e0f3b9d11',
      state: 'active',
      progress: { epoch: 12, epochs: 30 },
      metrics: [epochExample],
      seed: 42,
      attempts: 0,
      createdAt: '2026-01-05T10:01:00.000Z',
    },
  },
  TrainingStateEvent: {
    schema: trainingStateEventSchema,
    description: 'The data of an `event: state` of the training event stream: sent first and on each state change.',
    example: {
      jobId: '0b6f5a8e-7f1c-4d0a-9a57-2c4e0f3b9d11',
      state: 'active',
      progress: { epoch: 0, epochs: 30 },
      attempts: 0,
    },
  },
  TrainingEndEvent: {
    schema: trainingEndEventSchema,
    description: 'The data of the `event: end` of the training event stream: the finished job, without its metrics.',
    example: {
      jobId: '0b6f5a8e-7f1c-4d0a-9a57-2c4e0f3b9d11',
      state: 'completed',
      progress: { epoch: 30, epochs: 30 },
      modelId: 'mdl_Xr2c8QpLk1vB',
      seed: 42,
      attempts: 0,
      createdAt: '2026-01-05T10:01:00.000Z',
      finishedAt: '2026-01-05T10:01:04.000Z',
    },
  },
  TrainingRemovedEvent: {
    schema: trainingRemovedEventSchema,
    description: 'The data of an `event: removed` of the training event stream: the job no longer exists.',
    example: {
      jobId: '0b6f5a8e-7f1c-4d0a-9a57-2c4e0f3b9d11',
      message: 'training job "0b6f5a8e-7f1c-4d0a-9a57-2c4e0f3b9d11" was removed',
    },
  },
  PredictRequest: {
    schema: predictRequestSchema,
    description:
      'Exactly one of `rows` (objects with every feature by name; null for a missing value) or `inputs` ' +
      '(arrays of raw values in feature order). A numeric feature takes a number or a string that spells one ' +
      '("174.09"); keys that are no feature (other than the target) and unseen categories are answered with `warnings`.',
    example: { rows: [{ tenure_months: 3, monthly_spend: 95, support_calls: 4, plan: 'basic', region: 'north' }] },
  },
  PredictResponse: {
    schema: predictResponseSchema,
    description:
      "One prediction per row, in the target's own values; for classification also the probability of each class.",
    example: { predictions: ['yes'], probabilities: [[0.04, 0.96]], classes: ['no', 'yes'] },
  },
  Preprocessing: {
    schema: preprocessingSchema,
    description: 'How raw feature values become the network input, fitted on the training rows.',
    example: {
      features: [
        { name: 'tenure_months', type: 'numeric', mean: 24.1, std: 15.3 },
        { name: 'plan', type: 'categorical', categories: ['basic', 'pro'] },
      ],
      target: { name: 'churned', task: 'classification', classes: ['no', 'yes'] },
      inputSize: 3,
    },
  },
  Model: {
    schema: modelSchema,
    description:
      'A trained model: the spec as trained (every default filled in), seed, backend, preprocessing, the final ' +
      'metrics, sparsity and warnings.',
    example: {
      id: 'mdl_Xr2c8QpLk1vB',
      jobId: '0b6f5a8e-7f1c-4d0a-9a57-2c4e0f3b9d11',
      createdAt: '2026-01-05T10:01:04.000Z',
      task: 'classification',
      target: 'churned',
      datasetId: 'ds_3kTq9vYw2mZx',
      seed: 42,
      backend: 'wasm',
      epochsRun: 30,
      finalMetrics: epochExample,
      warnings: [],
    },
  },
  ModelList: {
    schema: modelListSchema,
    description: 'Trained models, newest first.',
    example: { models: [] },
  },
  ModelVersion: {
    schema: modelVersionSchema,
    description: 'A trained model registered under a name as a numbered version.',
    example: { name: 'churn', version: 3, modelId: 'mdl_Xr2c8QpLk1vB', registeredAt: '2026-01-05T10:02:00.000Z' },
  },
  RegisterVersionRequest: {
    schema: registerVersionSchema,
    description:
      'The trained model to register as the next version: by its id, or by the completed job that trained it.',
    example: { modelId: 'mdl_Xr2c8QpLk1vB' },
  },
  MoveAliasRequest: {
    schema: moveAliasSchema,
    description: 'The version the alias is to point to.',
    example: { version: 1 },
  },
  ModelName: {
    schema: modelNameSchema,
    description: 'A model name: its versions and the aliases that point to them.',
    example: {
      name: 'churn',
      createdAt: '2026-01-05T10:02:00.000Z',
      latestVersion: 2,
      versions: [
        { version: 1, modelId: 'mdl_Xr2c8QpLk1vB', registeredAt: '2026-01-05T10:02:00.000Z' },
        { version: 2, modelId: 'mdl_9QwErTy4UiOp', registeredAt: '2026-01-06T09:00:00.000Z' },
      ],
      aliases: { production: 1, staging: 2 },
    },
  },
  Alias: {
    schema: aliasSchema,
    description: 'An alias as moved: the version (and model) it points to now, and before.',
    example: { name: 'churn', alias: 'production', version: 2, modelId: 'mdl_9QwErTy4UiOp', previousVersion: 1 },
  },
  InferenceErrorResponse: {
    schema: v2ErrorSchema,
    description: 'Open Inference Protocol: every /v2 error.',
    example: { error: 'model "churn" has no alias "canary"' },
  },
  ServerMetadataResponse: {
    schema: v2ServerMetadataSchema,
    description: 'Open Inference Protocol: server metadata.',
    example: { name: 'fitwell', version: '0.1.0', extensions: [] },
  },
  ModelMetadataResponse: {
    schema: v2ModelMetadataSchema,
    description: 'Open Inference Protocol: model metadata, one input per feature.',
    example: {
      name: 'churn',
      versions: ['1', '2'],
      platform: 'fitwell_tfjs',
      inputs: [
        { name: 'tenure_months', datatype: 'FP32', shape: [-1, 1] },
        { name: 'plan', datatype: 'BYTES', shape: [-1, 1] },
      ],
      outputs: [
        { name: 'label', datatype: 'BYTES', shape: [-1] },
        { name: 'class_index', datatype: 'INT64', shape: [-1] },
        { name: 'probabilities', datatype: 'FP32', shape: [-1, 2] },
      ],
    },
  },
  InferenceRequest: {
    schema: v2InferRequestSchema,
    description: 'Open Inference Protocol: an inference request, one tensor per feature.',
    example: {
      id: 'req-1',
      inputs: [
        { name: 'tenure_months', shape: [2, 1], datatype: 'FP32', data: [3, 41] },
        { name: 'plan', shape: [2, 1], datatype: 'BYTES', data: ['basic', 'pro'] },
      ],
      outputs: [{ name: 'probabilities' }],
    },
  },
  InferenceResponse: {
    schema: v2InferResponseSchema,
    description: 'Open Inference Protocol: an inference response.',
    example: {
      model_name: 'churn',
      model_version: '2',
      id: 'req-1',
      outputs: [{ name: 'probabilities', shape: [2, 2], datatype: 'FP32', data: [0.04, 0.96, 0.81, 0.19] }],
    },
  },
} satisfies Record<string, { schema: z.ZodType; description: string; example: unknown }>;

let registered = false;

/** Idempotent: the registry is global to the process, while apps (in tests) are many. */
export function registerApiComponents(): void {
  if (registered) return;
  registered = true;
  for (const [id, { schema, description, example }] of Object.entries(API_EXAMPLES)) {
    const existing = z.globalRegistry.get(schema) ?? {};
    if (z.globalRegistry.has(schema)) z.globalRegistry.remove(schema);
    z.globalRegistry.add(schema, { ...existing, id, description, example });
  }
}
