#!/usr/bin/python3
"""The PyTorch side of the quality benchmark (issue 10): a plain PyTorch script.

Run from the repository root with Debian's python3-torch (hence /usr/bin/python3):

    /usr/bin/python3 bench/quality/quality_reference.py            # writes torch-reference.json
    /usr/bin/python3 bench/quality/quality_reference.py --init=he-uniform --out=/tmp/he.json

It writes bench/quality/torch-reference.json (committed), which `npm run bench -- quality`
prints beside fitwell's figures. Rerunning it gives the same figures (fixed seeds, one thread).

The protocol, as a user would write it, with PyTorch's defaults wherever the protocol says
nothing: an MLP of two hidden layers of 256 ReLU units, nn.Linear with its default
initialization (kernel and bias U(+-1/sqrt(fan_in))), softmax cross-entropy (classification) or
mean squared error on the standardized target (regression), torch.optim.Adam(lr=1e-3) with its
defaults, batch 32, 60 epochs, the training rows reshuffled every epoch (torch.randperm), no
validation split and no early stopping. Each row of the table changes one thing, the same in
both hidden layers:

    none                 Linear -> ReLU
    l2                   + 1e-3 * sum(w**2) over every Linear weight (not biases), in the loss
    l1                   + 1e-4 * sum(|w|) over every Linear weight, in the loss
    dropout              Linear -> ReLU -> nn.Dropout(0.5)
    batch-norm           Linear -> nn.BatchNorm1d -> ReLU            (momentum 0.1, eps 1e-5)
    batch-norm-dropout   Linear -> nn.BatchNorm1d -> ReLU -> nn.Dropout(0.3)
    layer-norm           Linear -> nn.LayerNorm -> ReLU              (eps 1e-5)

The test rows are predicted in eval() mode. The metric is the test accuracy (classification) or
the test R^2 = 1 - SS_res / SS_tot (regression), per seed; the JSON holds every seed's value.
Seeds per dataset (SEEDS below): ten by default, a PyTorch run being cheap; sixty for diabetes,
whose runs spread 0.01 to 0.04 R^2 from seed to seed (3.5x the benchmark's 0.01 tolerance), so
that the standard error of the fitwell - PyTorch difference stays well under the tolerance (the
benchmark runs fitwell with as many seeds there; bench/quality.ts, QUALITY_SEEDS). --seeds sets
one list for every dataset; --update writes only the datasets run into an existing JSON.

Preprocessing is fitwell's (src/data/preprocessing.ts), reproduced exactly: a column whose cells
are all decimal numbers is numeric and standardized with the training rows' mean and population
standard deviation (a constant column gets std 1); any other column is one-hot over its training
categories in code-unit order (an unseen test category is all zeros); the regression target is
standardized the same way; classes are sorted. Computed in float64, fed as float32.

The committed figures use none of the options below; they exist to find out where a difference
between fitwell and PyTorch comes from, by giving PyTorch one of fitwell's conventions at a time:
--init replaces nn.Linear's initialization of every Linear layer (he-uniform, glorot-uniform,
lecun-uniform; zero biases, as fitwell's schemes other than torch-default); --adam-eps, --bn-momentum
(PyTorch's convention: fitwell's 0.99 is 0.01 here), --bn-eps, --ln-eps set those constants;
--no-bias-before-bn drops the Linear bias in front of batch norm (fitwell's Dense has none there);
--l1-mode=proximal applies L1 as fitwell's l1Mode "proximal-lr" does, soft-thresholding
w <- sign(w)*max(|w| - lr*alpha, 0) after each Adam step instead of adding alpha*sum|w| to the
loss, and --l1-mode=proximal-adam thresholds by Adam's own per-weight step size instead
(lr*alpha/(sqrt(v_hat) + eps)), the proximal step of the preconditioned problem and fitwell's
default l1Mode "proximal".
"""
import argparse
import csv
import json
import math
import os
import re
import time

import numpy as np
import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, 'data')
DATASETS = {
    'noisy': 'classification',
    'imbalanced': 'classification',
    'diabetes': 'regression',
    'friedman-cat': 'regression',
    'digits': 'classification',
    'breast-cancer': 'classification',
    'wine': 'classification',
}
DEFAULT_SEEDS = list(range(1, 11))
SEEDS = {'diabetes': list(range(1, 61))}
ROWS = {
    'none': {},
    'l2': {'l2': 1e-3},
    'l1': {'l1': 1e-4},
    'dropout': {'dropout': 0.5},
    'batch-norm': {'norm': 'batch'},
    'batch-norm-dropout': {'norm': 'batch', 'dropout': 0.3},
    'layer-norm': {'norm': 'layer'},
}
UNITS, EPOCHS, BATCH, LR = 256, 60, 32, 1e-3
DECIMAL = re.compile(r'^[+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?$', re.IGNORECASE)


def read_csv(path):
    with open(path, newline='') as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def fit_std(values):
    """fitwell's meanAndStd: population std; a constant column (up to rounding) gets std 1."""
    mean = values.mean()
    std = math.sqrt(((values - mean) ** 2).mean())
    largest = np.abs(values).max() if len(values) else 0.0
    return mean, (1.0 if std <= 1e-10 * largest else std)


def encode(name, task):
    header, train = read_csv(os.path.join(DATA, f'{name}.train.csv'))
    _, test = read_csv(os.path.join(DATA, f'{name}.test.csv'))
    target = header.index('target')
    x_train, x_test = [], []
    for c, column in enumerate(header):
        if c == target:
            continue
        cells = [r[c].strip() for r in train]
        if all(DECIMAL.match(v) for v in cells):
            values = np.array([float(v) for v in cells])
            mean, std = fit_std(values)
            x_train.append(((values - mean) / std)[:, None])
            x_test.append(((np.array([float(r[c]) for r in test]) - mean) / std)[:, None])
        else:
            categories = sorted(set(cells))
            x_train.append(np.array([[v == k for k in categories] for v in cells], dtype=float))
            x_test.append(np.array([[r[c].strip() == k for k in categories] for r in test], dtype=float))
    x_train = torch.tensor(np.hstack(x_train), dtype=torch.float32)
    x_test = torch.tensor(np.hstack(x_test), dtype=torch.float32)
    y_train_raw = np.array([float(r[target]) for r in train])
    y_test_raw = np.array([float(r[target]) for r in test])
    if task == 'classification':
        classes = sorted(set(y_train_raw))
        index = {k: i for i, k in enumerate(classes)}
        y_train = torch.tensor([index[v] for v in y_train_raw])
        y_test = torch.tensor([index[v] for v in y_test_raw])
        return x_train, y_train, x_test, y_test, len(classes), None
    mean, std = fit_std(y_train_raw)
    y_train = torch.tensor((y_train_raw - mean) / std, dtype=torch.float32)[:, None]
    return x_train, y_train, x_test, torch.tensor(y_test_raw), 1, (mean, std)


def build(inputs, outputs, row, init, conv):
    layers, width = [], inputs
    for _ in range(2):
        bn = row.get('norm') == 'batch'
        layers.append(nn.Linear(width, UNITS, bias=not (bn and conv.no_bias_before_bn)))
        if bn:
            layers.append(nn.BatchNorm1d(UNITS, momentum=conv.bn_momentum, eps=conv.bn_eps))
        elif row.get('norm') == 'layer':
            layers.append(nn.LayerNorm(UNITS, eps=conv.ln_eps))
        layers.append(nn.ReLU())
        if row.get('dropout'):
            layers.append(nn.Dropout(row['dropout']))
        width = UNITS
    layers.append(nn.Linear(width, outputs))
    model = nn.Sequential(*layers)
    if init != 'torch-default':
        for layer in model:
            if isinstance(layer, nn.Linear):
                if init == 'he-uniform':
                    nn.init.kaiming_uniform_(layer.weight, nonlinearity='relu')
                elif init == 'glorot-uniform':
                    nn.init.xavier_uniform_(layer.weight)
                elif init == 'lecun-uniform':
                    bound = math.sqrt(3 / layer.weight.shape[1])
                    nn.init.uniform_(layer.weight, -bound, bound)
                else:
                    raise ValueError(f'unknown --init {init}')
                if layer.bias is not None:
                    nn.init.zeros_(layer.bias)
    return model


def proximal_l1(optimizer, weights, alpha, adaptive):
    """Soft-thresholding after the step: by lr*alpha, or by Adam's per-weight step lr*alpha/(sqrt(v_hat)+eps)."""
    group = optimizer.param_groups[0]
    with torch.no_grad():
        for w in weights:
            threshold = group['lr'] * alpha
            if adaptive:
                state = optimizer.state[w]
                v_hat = state['exp_avg_sq'] / (1 - group['betas'][1] ** float(state['step']))
                threshold = threshold / (v_hat.sqrt() + group['eps'])
            w.copy_(w.sign() * (w.abs() - threshold).clamp(min=0))


def run(data, task, row, seed, init, conv):
    x_train, y_train, x_test, y_test, outputs, target_scale = data
    torch.manual_seed(seed)
    model = build(x_train.shape[1], outputs, row, init, conv)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR, eps=conv.adam_eps)
    loss_fn = nn.CrossEntropyLoss() if task == 'classification' else nn.MSELoss()
    weights = [m.weight for m in model if isinstance(m, nn.Linear)]
    n = x_train.shape[0]
    model.train()
    for _ in range(EPOCHS):
        order = torch.randperm(n)
        for start in range(0, n, BATCH):
            index = order[start:start + BATCH]
            loss = loss_fn(model(x_train[index]), y_train[index])
            if row.get('l2'):
                loss = loss + row['l2'] * sum(w.pow(2).sum() for w in weights)
            if row.get('l1') and conv.l1_mode == 'loss':
                loss = loss + row['l1'] * sum(w.abs().sum() for w in weights)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if row.get('l1') and conv.l1_mode != 'loss':
                proximal_l1(optimizer, weights, row['l1'], conv.l1_mode == 'proximal-adam')
    model.eval()
    with torch.no_grad():
        out = model(x_test)
    if task == 'classification':
        return (out.argmax(1) == y_test).double().mean().item()
    mean, std = target_scale
    predicted = out[:, 0].double() * std + mean
    residual = ((y_test - predicted) ** 2).sum()
    total = ((y_test - y_test.mean()) ** 2).sum()
    return (1 - residual / total).item()


def parse_seeds(text):
    if '..' in text:
        first, last = text.split('..')
        return list(range(int(first), int(last) + 1))
    return [int(s) for s in text.split(',')]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--datasets', default=','.join(DATASETS))
    parser.add_argument('--rows', default=','.join(ROWS))
    parser.add_argument('--seeds', help='e.g. 1,2,3 or 1..60 (default: SEEDS, per dataset)')
    parser.add_argument('--update', action='store_true', help='merge the datasets run into --out')
    parser.add_argument('--init', default='torch-default')
    parser.add_argument('--out', default=os.path.join(HERE, 'torch-reference.json'))
    parser.add_argument('--adam-eps', type=float, default=1e-8)
    parser.add_argument('--bn-momentum', type=float, default=0.1)
    parser.add_argument('--bn-eps', type=float, default=1e-5)
    parser.add_argument('--ln-eps', type=float, default=1e-5)
    parser.add_argument('--no-bias-before-bn', action='store_true')
    parser.add_argument('--l1-mode', choices=['loss', 'proximal', 'proximal-adam'], default='loss')
    args = parser.parse_args()
    conventions = {k: getattr(args, k) for k in ('adam_eps', 'bn_momentum', 'bn_eps', 'ln_eps', 'no_bias_before_bn', 'l1_mode')}
    torch.set_num_threads(1)
    chosen = parse_seeds(args.seeds) if args.seeds else None
    started = time.time()
    result = {
        'torch': torch.__version__,
        'init': args.init,
        'conventions': conventions,
        'protocol': {'units': [UNITS, UNITS], 'activation': 'relu', 'optimizer': 'adam', 'learningRate': LR,
                     'batchSize': BATCH, 'epochs': EPOCHS, 'rows': {k: ROWS[k] for k in args.rows.split(',')}},
        'seeds': DEFAULT_SEEDS,
        'datasets': {},
    }
    if args.update and os.path.exists(args.out):
        with open(args.out) as f:
            previous = json.load(f)
        result['datasets'] = previous['datasets']
        for name, entry in result['datasets'].items():
            entry.setdefault('seeds', previous['seeds'])
    for name in args.datasets.split(','):
        task = DATASETS[name]
        data = encode(name, task)
        seeds = chosen or SEEDS.get(name, DEFAULT_SEEDS)
        entry = {'task': task, 'seeds': seeds, 'metric': 'accuracy' if task == 'classification' else 'r2',
                 'trainRows': data[0].shape[0], 'testRows': data[2].shape[0], 'inputs': data[0].shape[1], 'rows': {}}
        for row_name in args.rows.split(','):
            values = [run(data, task, ROWS[row_name], seed, args.init, args) for seed in seeds]
            entry['rows'][row_name] = {'values': values, 'mean': float(np.mean(values)), 'std': float(np.std(values))}
            print(f'{name:14s} {row_name:20s} {np.mean(values):.4f} +- {np.std(values):.4f}  '
                  f'({time.time() - started:.0f} s)', flush=True)
        result['datasets'][name] = entry
    with open(args.out, 'w') as f:
        json.dump(result, f, indent=2)
        f.write('\n')


if __name__ == '__main__':
    main()
