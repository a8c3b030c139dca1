#!/usr/bin/python3
"""Reference vectors for fitwell's normalization layers, computed with PyTorch in float64.

Run from the repository root with Debian's python3-torch (apt-get install python3-torch; a
pyenv or venv python usually does not see it, hence /usr/bin/python3):

    /usr/bin/python3 scripts/reference/make_fixtures.py

It writes test/fixtures/normalization-reference.json, which is committed: the TypeScript tests
(test/ml/normalization-reference.test.ts) read it and need no Python. Rerunning it gives the
same file (fixed seeds; the output is deterministic in float64).

Every input (data and parameters) is rounded to float32 first, so the TypeScript side holds
exactly the same numbers; the references are then computed in float64, so the only error left
in the comparison is fitwell's float32 arithmetic.

Layouts follow fitwell: matrices are row-major lists, a dense kernel is [inputSize, units]
(PyTorch's nn.Linear weight is [units, inputSize], transposed here).

Batch-norm conventions, converted explicitly below:
- momentum: fitwell (Keras) running = m·running + (1 − m)·batch; PyTorch running =
  (1 − m_t)·running + m_t·batch. So m_t = 1 − m.
- running variance: fitwell, like PyTorch, moves it towards the batch's unbiased variance
  (divide by n − 1; it normalizes with the biased one, as PyTorch does), so with m_t = 1 − m
  and the start correction off (a warm layer, as the test sets it) the running mean and
  variance are PyTorch's own buffers. The fitwell running variance is still rebuilt step by step
  from the batch's unbiased variance, recovered from PyTorch's update,
  unbiased = (running_after − (1 − m_t)·running_before) / m_t, and fed to fitwell's update,
  which checks that recovery against torch's buffer.
- inference uses whatever running variance is stored, so the inference reference sets
  PyTorch's buffer to fitwell's running variance before switching to eval().
"""
import json
import os

import numpy as np
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
OUT = os.path.join(os.path.dirname(__file__), '..', '..', 'test', 'fixtures', 'normalization-reference.json')


def f32(a):
    """Rounded to float32, held as float64: exactly representable on both sides."""
    return np.asarray(a, dtype=np.float32).astype(np.float64)


def flat(t):
    if isinstance(t, torch.Tensor):
        t = t.detach().cpu().numpy()
    return [float(v) for v in np.asarray(t, dtype=np.float64).reshape(-1)]


def tensor(a, grad=False):
    return torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


rng = np.random.RandomState(20240611)


def data(rows, cols, mean=0.0, std=1.0):
    return f32(rng.normal(mean, std, size=(rows, cols)))


def batch_norm_case():
    units, m, eps = 3, 0.9, 1e-3
    gamma, beta = f32([1.5, 0.5, -2.0]), f32([0.1, -0.3, 2.0])
    start_mean, start_var = f32([0.5, -0.25, 3.0]), f32([2.0, 0.5, 4.0])
    batches = [data(6, units, 2.0, 3.0), data(5, units, -1.0, 0.5)]
    probe = data(4, units, 1.0, 2.0)
    upstream = data(6, units)  # dL/dy for the gradient of the first step: L = Σ y ⊙ upstream

    m_torch = 1 - m  # PyTorch's momentum is the weight of the new batch
    bn = torch.nn.BatchNorm1d(units, eps=eps, momentum=m_torch)
    with torch.no_grad():
        bn.weight.copy_(tensor(gamma))
        bn.bias.copy_(tensor(beta))
        bn.running_mean.copy_(tensor(start_mean))
        bn.running_var.copy_(tensor(start_var))
    bn.train()
    fitwell_var = start_var.copy()
    steps = []
    for k, x in enumerate(batches):
        n = x.shape[0]
        before = bn.running_var.detach().numpy().copy()
        xt = tensor(x, grad=True)
        y = bn(xt)
        step = {'x': flat(x), 'rows': n, 'output': flat(y)}
        if k == 0:
            (y * tensor(upstream)).sum().backward()
            step['upstream'] = flat(upstream)
            step['gradX'] = flat(xt.grad)
            step['gradGamma'] = flat(bn.weight.grad)
            step['gradBeta'] = flat(bn.bias.grad)
        after = bn.running_var.detach().numpy().copy()
        unbiased = (after - (1 - m_torch) * before) / m_torch  # PyTorch's batch variance
        fitwell_var = m * fitwell_var + (1 - m) * unbiased
        assert np.allclose(fitwell_var, after, rtol=1e-12, atol=0)
        step['movingMean'] = flat(bn.running_mean)
        step['movingVariance'] = flat(fitwell_var)
        step['torchRunningVar'] = flat(after)
        steps.append(step)
    with torch.no_grad():
        bn.running_var.copy_(tensor(fitwell_var))
    bn.eval()
    inference = bn(tensor(probe))
    return {
        'units': units, 'momentum': m, 'epsilon': eps,
        'gamma': flat(gamma), 'beta': flat(beta),
        'startMean': flat(start_mean), 'startVariance': flat(start_var),
        'steps': steps,
        'probe': flat(probe), 'inference': flat(inference),
    }


def layer_norm_case():
    units, eps = 4, 1e-3
    gain, bias = f32([1.0, 2.0, -0.5, 0.25]), f32([0.0, 1.0, -1.0, 0.5])
    x = data(5, units, 3.0, 2.0)
    upstream = data(5, units)
    ln = torch.nn.LayerNorm(units, eps=eps)
    with torch.no_grad():
        ln.weight.copy_(tensor(gain))
        ln.bias.copy_(tensor(bias))
    xt = tensor(x, grad=True)
    y = ln(xt)
    (y * tensor(upstream)).sum().backward()
    return {
        'units': units, 'epsilon': eps, 'gain': flat(gain), 'bias': flat(bias),
        'x': flat(x), 'output': flat(y), 'upstream': flat(upstream),
        'gradX': flat(xt.grad), 'gradGain': flat(ln.weight.grad), 'gradBias': flat(ln.bias.grad),
    }


def weight_norm_case():
    inputs, units = 3, 4
    v = data(inputs, units)  # fitwell layout [inputSize, units]
    g = f32([0.5, 2.0, -1.0, 1.25])  # deliberately not ‖v‖, so the formula is tested
    b = f32([0.1, 0.0, -0.2, 0.3])
    x = data(5, inputs)
    upstream = data(5, units)
    linear = torch.nn.utils.weight_norm(torch.nn.Linear(inputs, units), name='weight', dim=0)
    with torch.no_grad():
        linear.weight_v.copy_(tensor(v.T))  # PyTorch: [units, inputSize]
        linear.weight_g.copy_(tensor(g.reshape(units, 1)))
        linear.bias.copy_(tensor(b))
    xt = tensor(x, grad=True)
    y = linear(xt)
    (y * tensor(upstream)).sum().backward()
    return {
        'inputSize': inputs, 'units': units, 'v': flat(v), 'g': flat(g), 'bias': flat(b),
        'x': flat(x), 'output': flat(y), 'upstream': flat(upstream),
        'kernel': flat(linear.weight.detach().T),  # w = g·v/‖v‖ in [inputSize, units]
        'gradX': flat(xt.grad), 'gradV': flat(linear.weight_v.grad.T),
        'gradG': flat(linear.weight_g.grad), 'gradBias': flat(linear.bias.grad),
    }


def cosine_case():
    """y_j = s·(w_j·x)/(‖w_j‖·‖x‖), norms floored at 1e-6 like fitwell's ε = 1e-12 on ‖·‖²."""
    inputs, units, s = 3, 4, 2.5
    w = data(inputs, units)
    x = data(5, inputs)
    x[2] = 0.0  # an all-zero row: the norm guard must give 0, not NaN
    upstream = data(5, units)
    xt = tensor(x, grad=True)
    wt = tensor(w, grad=True)
    st = tensor(s, grad=True)

    def cosine(a):
        return st * (F.normalize(a, dim=1, eps=1e-6) @ F.normalize(wt, dim=0, eps=1e-6))

    y = cosine(xt)
    # Gradients on the rows that are not zero (at the zero row they are 1e6-scale by the guard).
    keep = [0, 1, 3, 4]
    (y[keep] * tensor(upstream)[keep]).sum().backward()
    return {
        'inputSize': inputs, 'units': units, 'scale': s, 'kernel': flat(w),
        'x': flat(x), 'output': flat(y), 'upstream': flat(upstream), 'gradRows': keep,
        'gradX': flat(xt.grad[keep]), 'gradKernel': flat(wt.grad), 'gradScale': float(st.grad),
    }


def replica_case():
    """Full-batch BN on an uneven batch (10 rows over 4 replicas: shards 3, 3, 2, 2): what
    sync-batch must equal; and per-shard BN, what ghost-batch must equal."""
    units, eps, replicas = 3, 1e-3, 4
    gamma, beta = f32([1.25, -0.75, 0.5]), f32([0.2, 0.0, -0.4])
    x = data(10, units, 1.0, 2.0)
    upstream = data(10, units)
    sizes = [3, 3, 2, 2]
    xt = tensor(x, grad=True)
    gt, bt = tensor(gamma, grad=True), tensor(beta, grad=True)
    y = F.batch_norm(xt, None, None, gt, bt, training=True, eps=eps)
    (y * tensor(upstream)).sum().backward()
    full = {
        'output': flat(y), 'gradX': flat(xt.grad), 'gradGamma': flat(gt.grad), 'gradBeta': flat(bt.grad),
        'mean': flat(x.mean(0)), 'variance': flat(x.var(0)),  # numpy var: biased (ddof=0)
        # What the running variance moves to: unbiased (ddof=1), as torch's running_var.
        'unbiasedVariance': flat(x.var(0, ddof=1)),
    }
    ghost_out, means, variances, unbiased, start = [], [], [], [], 0
    for size in sizes:
        shard = x[start:start + size]
        ghost_out.append(F.batch_norm(tensor(shard), None, None, tensor(gamma), tensor(beta), training=True, eps=eps))
        means.append(shard.mean(0))
        variances.append(shard.var(0))
        unbiased.append(shard.var(0, ddof=1))
        start += size
    weights = np.array(sizes, dtype=np.float64) / sum(sizes)
    ghost = {
        'output': flat(torch.cat(ghost_out)),
        # fitwell's choice: running statistics move towards the count-weighted mean of the
        # shards' means and unbiased variances (each shard's ddof=1 variance).
        'mean': flat(np.tensordot(weights, np.array(means), 1)),
        'variance': flat(np.tensordot(weights, np.array(variances), 1)),
        'unbiasedVariance': flat(np.tensordot(weights, np.array(unbiased), 1)),
    }
    return {
        'units': units, 'epsilon': eps, 'replicas': replicas, 'shardSizes': sizes,
        'gamma': flat(gamma), 'beta': flat(beta), 'x': flat(x), 'upstream': flat(upstream),
        'full': full, 'ghost': ghost,
    }


def offset_case():
    """Mean 1e4, std 1: float32 E[x²] − E[x]² cancels catastrophically here."""
    x = data(64, 3, 1e4, 1.0)
    t = tensor(x)
    return {
        'rows': 64, 'units': 3, 'x': flat(x),
        'mean': flat(t.mean(0)), 'variance': flat(t.var(0, unbiased=False)),
    }


def main():
    fixture = {
        'generator': 'scripts/reference/make_fixtures.py',
        'torch': torch.__version__,
        'precision': 'inputs rounded to float32; references computed in float64',
        'batchNorm': batch_norm_case(),
        'layerNorm': layer_norm_case(),
        'weightNorm': weight_norm_case(),
        'cosine': cosine_case(),
        'replicas': replica_case(),
        'offset': offset_case(),
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, 'w') as f:
        json.dump(fixture, f, indent=1)
        f.write('\n')
    print('wrote', os.path.normpath(OUT))


if __name__ == '__main__':
    main()
