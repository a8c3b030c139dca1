#!/usr/bin/python3
"""Reference runs for fitwell's proximal L1 step with each optimizer, computed with PyTorch.

Run from the repository root with Debian's python3-torch (hence /usr/bin/python3):

    /usr/bin/python3 scripts/reference/make_proximal_fixtures.py

It writes test/fixtures/proximal-l1-reference.json, which is committed: the TypeScript test
(test/ml/proximal-l1.test.ts) reads it and needs no Python. Rerunning it gives the same file
(fixed seeds; float64 throughout, every input rounded to float32 first so that both sides hold
the same numbers).

Each case is a whole short run of an I -> U (ReLU) -> K network, one full batch per epoch (so
the row order does not matter), from given initial weights. After each optimizer step, on the
kernels only: decoupled weight decay w <- w*(1 - lr*lambda), then soft-thresholding
w <- sign(w)*max(|w| - tau*alpha, 0), where tau is

  * l1Mode "proximal" (fitwell's default): the optimizer's own per-weight step size, i.e. the
    proximal gradient step in the metric the optimizer steps in:
      - SGD (torch.optim.SGD):     tau = lr
      - Adam (torch.optim.Adam):   tau = lr / (sqrt(v_hat) + eps_t), read from torch's own state
        (exp_avg_sq, step). fitwell's Adam is Keras' (eps 1e-7 added to sqrt(v), not to
        sqrt(v_hat)), which is torch.optim.Adam with eps_t = 1e-7/sqrt(1 - beta2^t), set before
        each step; then tau = lr*sqrt(1 - beta2^t)/(sqrt(v) + 1e-7), fitwell's formula.
      - RMSprop: written out here, because torch.optim.RMSprop adds eps outside the root and
        fitwell (Keras, tf.train.rmsprop) inside: ms <- rho*ms + (1 - rho)*g^2,
        w <- w - lr*g/sqrt(ms + eps), tau = lr/sqrt(ms + eps), rho 0.9, eps 1e-7.
  * l1Mode "proximal-lr": tau = lr whatever the optimizer.

The first kernel of the "large" case has more than 4096 values, so fitwell updates it on its own
rather than in a group of small parameters (src/ml/optimizers.ts): both code paths are covered.
That case keeps the weights of its last epoch only (and every epoch's count of zeros), to keep
the file small.
"""
import json
import math
import os

import numpy as np
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
OUT = os.path.join(os.path.dirname(__file__), '..', '..', 'test', 'fixtures', 'proximal-l1-reference.json')

rng = np.random.RandomState(20261202)


def f32(a):
    return np.asarray(a, dtype=np.float32).astype(np.float64)


def flat(t):
    if isinstance(t, torch.Tensor):
        t = t.detach().cpu().numpy()
    # 9 significant digits: every float32 input round-trips exactly, and the float64 references
    # keep far more precision than the test's float32 tolerance needs.
    return [float(f'{v:.9g}') for v in np.asarray(t, dtype=np.float64).reshape(-1)]


def run_case(name, task, inputs, units, rows, options, last_weights_only=False):
    classes = 3 if task == 'classification' else 1
    x = f32(rng.normal(0, 1, size=(rows, inputs)))
    if task == 'classification':
        y = [float(v) for v in rng.randint(0, classes, size=rows)]
    else:
        y = [float(v) for v in f32(x[:, :4] @ np.array([0.5, -1.0, 0.25, 0.8]) + rng.normal(0, 0.3, size=rows))]
    b1, b2 = 1 / math.sqrt(inputs), 1 / math.sqrt(units)
    start = {
        'hidden0/dense/kernel': f32(rng.uniform(-b1, b1, size=(inputs, units))),
        'hidden0/dense/bias': f32(rng.uniform(-b1, b1, size=units)),
        'output/dense/kernel': f32(rng.uniform(-b2, b2, size=(units, classes))),
        'output/dense/bias': f32(rng.uniform(-b2, b2, size=classes)),
    }
    w = {k: torch.tensor(v, requires_grad=True) for k, v in start.items()}
    params = [w['hidden0/dense/kernel'], w['hidden0/dense/bias'], w['output/dense/kernel'], w['output/dense/bias']]
    kernels = [w['hidden0/dense/kernel'], w['output/dense/kernel']]
    lr, optimizer = options['learningRate'], options['optimizer']
    reg = options['regularization']
    mode = reg.get('l1Mode', 'proximal')
    if optimizer == 'sgd':
        opt = torch.optim.SGD(params, lr=lr)
    elif optimizer == 'adam':
        opt = torch.optim.Adam(params, lr=lr, betas=(0.9, 0.999))
    else:
        rho, eps = 0.9, 1e-7
        ms = {id(p): torch.zeros_like(p) for p in params}
    xt = torch.tensor(x)
    labels = torch.tensor([int(v) for v in y]) if task == 'classification' else torch.tensor(y).reshape(-1, 1)

    def loss_fn():
        h = torch.relu(xt @ w['hidden0/dense/kernel'] + w['hidden0/dense/bias'])
        out = h @ w['output/dense/kernel'] + w['output/dense/bias']
        return F.cross_entropy(out, labels) if task == 'classification' else F.mse_loss(out, labels)

    epochs, zeros = [], 0
    for epoch in range(options['epochs']):
        t = epoch + 1
        for p in params:
            p.grad = None
        loss = loss_fn()
        for k in kernels:
            loss = loss + reg.get('l2', 0.0) * (k ** 2).sum()
        loss.backward()
        with torch.no_grad():
            if optimizer == 'adam':
                opt.param_groups[0]['eps'] = 1e-7 / math.sqrt(1 - 0.999 ** t)
                opt.step()
            elif optimizer == 'sgd':
                opt.step()
            else:
                for p in params:
                    ms[id(p)].mul_(rho).add_((1 - rho) * p.grad ** 2)
                    p.sub_(lr * p.grad / torch.sqrt(ms[id(p)] + eps))
            for k in kernels:
                if reg.get('weightDecay', 0) > 0:
                    k.mul_(1 - lr * reg['weightDecay'])
                if mode == 'proximal-lr' or optimizer == 'sgd':
                    tau = lr
                elif optimizer == 'adam':
                    state, group = opt.state[k], opt.param_groups[0]
                    v_hat = state['exp_avg_sq'] / (1 - group['betas'][1] ** float(state['step']))
                    tau = group['lr'] / (v_hat.sqrt() + group['eps'])
                else:
                    tau = lr / torch.sqrt(ms[id(k)] + eps)
                k.copy_(torch.sign(k) * torch.relu(k.abs() - tau * reg['l1']))
            zeros = sum(int((k == 0).sum()) for k in kernels)
        keep = not last_weights_only or epoch == options['epochs'] - 1
        epochs.append({'zeros': zeros, **({'weights': {k: flat(v) for k, v in w.items()}} if keep else {})})
    return {'name': name, 'task': task, 'classes': classes, 'inputSize': inputs, 'units': units, 'rows': rows,
            'x': flat(x), 'y': y, 'options': options,
            'initialWeights': {k: flat(v) for k, v in start.items()}, 'epochs': epochs}


def main():
    cases = [
        run_case('adam, proximal (per-weight step), small parameters grouped', 'classification', 4, 5, 12, {
            'optimizer': 'adam', 'learningRate': 0.05, 'epochs': 8, 'regularization': {'l1': 0.02}}),
        run_case('adam, proximal, weight decay, a kernel of 4200 values updated alone', 'regression', 70, 60, 30, {
            'optimizer': 'adam', 'learningRate': 0.01, 'epochs': 5,
            'regularization': {'l1': 0.002, 'weightDecay': 0.1}}, last_weights_only=True),
        run_case('rmsprop, proximal (per-weight step)', 'classification', 4, 5, 12, {
            'optimizer': 'rmsprop', 'learningRate': 0.02, 'epochs': 8, 'regularization': {'l1': 0.01}}),
        run_case('sgd, proximal (step size lr), L2 too', 'classification', 4, 5, 12, {
            'optimizer': 'sgd', 'learningRate': 0.5, 'epochs': 8, 'regularization': {'l1': 0.02, 'l2': 0.001}}),
        run_case('adam, proximal-lr (threshold lr*alpha)', 'classification', 4, 5, 12, {
            'optimizer': 'adam', 'learningRate': 0.05, 'epochs': 8,
            'regularization': {'l1': 0.2, 'l1Mode': 'proximal-lr'}}),
    ]
    fixture = {
        'generator': 'scripts/reference/make_proximal_fixtures.py',
        'torch': torch.__version__,
        'precision': 'inputs rounded to float32; references computed in float64',
        'cases': cases,
    }
    with open(OUT, 'w') as f:
        json.dump(fixture, f, separators=(',', ':'))
        f.write('\n')
    for case in cases:
        total = sum(len(v) for k, v in case['initialWeights'].items() if k.endswith('kernel'))
        print(f"{case['name']}: zero kernel weights by epoch {[e['zeros'] for e in case['epochs']]} of {total}")
    print('wrote', os.path.normpath(OUT))


if __name__ == '__main__':
    main()
