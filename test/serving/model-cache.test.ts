import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { Redis } from 'ioredis';
import type { Config } from '../../src/config';
import { runFrozen } from '../../src/ml/frozen-model';
import { ModelCache } from '../../src/serving/model-cache';
import { ModelStore, type StoredModel } from '../../src/store/model-store';
import { xorCsv } from '../helpers/app';
import { deletePrefix, testConfig } from '../helpers/config';
import { assertClose, useWasmBackend } from '../helpers/tf';
import { trainStoredModel, withNewId } from './stored-model';

describe('ModelCache', () => {
  let config: Config;
  let redis: Redis;
  let store: ModelStore;
  let small: StoredModel;
  const rowsOf = (n: number) => Float32Array.from({ length: n * small.frozen.inputSize }, (_, i) => Math.sin(i));

  before(async () => {
    await useWasmBackend();
    config = testConfig();
    redis = new Redis(config.redisUrl);
    store = new ModelStore(redis, config.redisPrefix);
    small = await trainStoredModel(xorCsv(200), {
      target: 'label',
      task: 'classification',
      model: {
        hidden: [
          { units: 64, normalization: 'batch', dropout: 0.3 },
          { units: 64, normalization: 'layer', dropout: 0.3 },
        ],
      },
      training: { epochs: 2, batchSize: 32, seed: 3 },
    });
  });

  after(async () => {
    redis.disconnect();
    await deletePrefix(config);
  });

  async function saveCopies(n: number): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < n; i++) {
      const copy = withNewId(small);
      await store.save(copy.meta, copy.frozen);
      ids.push(copy.meta.id);
    }
    return ids;
  }

  test('a cached model predicts what runFrozen does', async () => {
    const [id] = await saveCopies(1);
    const cache = new ModelCache(store, 10);
    const served = await cache.get(id);
    for (const n of [1, 64]) {
      assertClose(await served.infer(rowsOf(n), n), runFrozen(small.frozen, rowsOf(n), n), 1e-5, `${n} rows`);
    }
    assert.equal(await cache.get(id), served, 'the second get is a hit');
    served.dispose();
  });

  test('evicts the least recently used model beyond MODEL_CACHE_SIZE', async () => {
    const [a, b, c, d] = await saveCopies(4);
    const cache = new ModelCache(store, 3);
    for (const id of [a, b, c]) await cache.get(id);
    await cache.get(a); // a is now the most recently used
    await cache.get(d);
    assert.equal(cache.size, 3);
    assert.deepEqual(
      [a, b, c, d].map((id) => cache.has(id)),
      [true, false, true, true],
    );
  });

  test('evicts beyond MODEL_CACHE_BYTES, counting each model’s estimated bytes', async () => {
    const ids = await saveCopies(4);
    const one = (await new ModelCache(store, 1).get(ids[0])).bytes;
    const cache = new ModelCache(store, 100, { maxBytes: Math.floor(2.5 * one) });
    for (const id of ids) await cache.get(id);
    assert.equal(cache.size, 2);
    assert.equal(cache.bytes, 2 * one);
    assert.deepEqual(
      ids.map((id) => cache.has(id)),
      [false, false, true, true],
    );
  });

  test('a model larger than MODEL_CACHE_BYTES is served but not kept, and frees its tf weights', async () => {
    const [id] = await saveCopies(1);
    const cache = new ModelCache(store, 100, { maxBytes: 1024 });
    const tensors = tf.memory().numTensors;
    const served = await cache.get(id);
    assert.equal(cache.size, 0);
    assert.equal(cache.bytes, 0);
    assertClose(await served.infer(rowsOf(64), 64), runFrozen(small.frozen, rowsOf(64), 64), 1e-5, 'served');
    assert.equal(tf.memory().numTensors, tensors, 'no resident tensors left behind');
  });

  test('eviction frees the evicted model’s resident tf weights', async () => {
    const [a, b] = await saveCopies(2);
    const cache = new ModelCache(store, 1);
    const tensors = tf.memory().numTensors;
    const first = await cache.get(a);
    await first.infer(rowsOf(64), 64); // the tf path uploads the weights once
    assert.ok(tf.memory().numTensors > tensors);
    await cache.get(b);
    assert.equal(tf.memory().numTensors, tensors);
  });

  test('concurrent gets of one model load it once; an unknown id is not kept', async () => {
    const [id] = await saveCopies(1);
    let loads = 0;
    const counting: Pick<ModelStore, 'load'> = { load: (modelId: string) => (loads++, store.load(modelId)) };
    const cache = new ModelCache(counting, 10);
    const [x, y] = await Promise.all([cache.get(id), cache.get(id)]);
    assert.equal(x, y);
    assert.equal(loads, 1);
    await assert.rejects(cache.get('mdl_nope'), /mdl_nope/);
    assert.equal(cache.size, 1);
    assert.equal(cache.has('mdl_nope'), false);
  });
});
