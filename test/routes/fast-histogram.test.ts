import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Histogram, Registry } from 'prom-client';
import { FastHistogram } from '../../src/observability/fast-histogram';

const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const LABELS = ['method', 'route', 'status_code'] as const;

function pair() {
  const stock = new Registry();
  const fast = new Registry();
  const config = {
    name: 'fitwell_test_seconds',
    help: 'A test "histogram" \\ with escapes.',
    labelNames: LABELS,
    buckets: BUCKETS,
  };
  return {
    stock,
    fast,
    stockHistogram: new Histogram({ ...config, registers: [stock] }),
    fastHistogram: new FastHistogram({ ...config, registers: [fast] }),
  };
}

/** FastHistogram must read exactly as prom-client's Histogram at /metrics. */
describe('FastHistogram', () => {
  test('the same observations give the same exposition text and JSON as prom-client', async () => {
    const { stock, fast, stockHistogram, fastHistogram } = pair();
    const sets = [
      { method: 'POST', route: '/v1/models/:modelId/predict', status_code: '200' },
      { method: 'GET', route: '/v1/training-jobs/:jobId', status_code: '404' },
      { method: 'GET', route: 'odd "route" \\ with\nnewline', status_code: '500' },
    ];
    // Values inside, on and beyond the bucket bounds, zero and tiny ones.
    const values = [0, 1e-9, 0.005, 0.0050001, 0.3, 1, 2.5, 9.99, 10, 10.5, 1e6];
    let i = 0;
    for (const value of values) {
      for (const labels of sets) {
        stockHistogram.observe(labels, value * (1 + (i++ % 3)));
        // Half through the hot path's form, half through the object form: the same series.
        if (i % 2) fastHistogram.observe(labels, value * (1 + ((i - 1) % 3)));
        else
          fastHistogram.observeValues([labels.method, labels.route, labels.status_code], value * (1 + ((i - 1) % 3)));
      }
    }
    assert.equal(await fast.metrics(), await stock.metrics());
    assert.deepEqual(await fast.getMetricsAsJSON(), await stock.getMetricsAsJSON());

    stock.resetMetrics();
    fast.resetMetrics();
    assert.equal(await fast.metrics(), await stock.metrics());
    stockHistogram.observe(sets[0], 0.02);
    fastHistogram.observe(sets[0], 0.02);
    // A label set with a label left out is a series of its own, in both.
    stockHistogram.observe({ method: 'GET', route: '/x' }, 0.2);
    fastHistogram.observe({ method: 'GET', route: '/x' }, 0.2);
    stockHistogram.observe({ method: 'GET', route: '/x', status_code: '' }, 0.3);
    fastHistogram.observeValues(['GET', '/x', ''], 0.3);
    assert.equal(await fast.metrics(), await stock.metrics());
  });

  test('refuses unknown labels and values that are not finite numbers, as prom-client does', () => {
    const { fastHistogram } = pair();
    assert.throws(
      () => fastHistogram.observe({ method: 'GET', route: '/', status_code: '200', extra: 'x' } as never, 1),
      /extra/,
    );
    assert.throws(
      () => fastHistogram.observe({ method: 'GET', route: '/', status_code: '200' }, Number.NaN),
      /not a valid number/,
    );
    assert.throws(
      () => fastHistogram.observe({ method: 'GET', route: '/', status_code: '200' }, Infinity),
      /not a valid number/,
    );
  });
});
