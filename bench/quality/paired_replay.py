#!/usr/bin/python3
"""Replays fitwell runs in PyTorch from the same start, to tell the computation from the luck.

    npm run build && node dist/bench/quality-replay.js diabetes none 1,2,3,4,5,6,7,8,9,10 /tmp/replay
    /usr/bin/python3 bench/quality/paired_replay.py /tmp/replay

For each run file written by bench/quality-replay.ts (the encoded training and test rows,
fitwell's initial weights, the batch order of every epoch and fitwell's test outputs), it
builds the same network in PyTorch, loads the same initial weights, trains in the same batch
order with fitwell's conventions for the row (Adam eps 1e-7; layer norm eps 1e-3; batch norm
momentum 0.01 in PyTorch's convention, i.e. fitwell's 0.99, eps 1e-3, no bias before it; L1 by
soft-thresholding after each step with Adam's per-weight step lr/(sqrt(v_hat) + eps), as
fitwell's default proximal mode, or with lr for l1Mode proximal-lr), and prints both test
metrics per seed and their mean difference. If the two training paths compute the same thing,
the paired differences are small (float32 rounding still grows over 60 epochs); what then
separates fitwell's figures from PyTorch's in the benchmark is the draw of seeds.

It also checks that quality_reference.py encodes the CSVs exactly as fitwell did (every
training and test value equal), so the benchmark's two sides see the same numbers.
"""
import glob
import json
import os
import sys

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import quality_reference  # noqa: E402


def build(run):
    layers, width = [], run['inputSize']
    names = []
    for i, hidden in enumerate(run['request']['model']['hidden']):
        norm = hidden['normalization']['type']
        if hidden['dropout']['rate'] > 0 or norm not in ('none', 'batch', 'layer'):
            raise SystemExit(f'{norm} / dropout rows are not replayed')
        dense = nn.Linear(width, hidden['units'], bias=norm != 'batch')
        layers.append(dense)
        names.append((dense, f'hidden{i}/dense'))
        if norm == 'batch':
            bn = nn.BatchNorm1d(hidden['units'], momentum=1 - hidden['normalization']['momentum'],
                                eps=hidden['normalization']['epsilon'])
            layers.append(bn)
            names.append((bn, f'hidden{i}/batch_norm'))
        elif norm == 'layer':
            ln = nn.LayerNorm(hidden['units'], eps=hidden['normalization']['epsilon'])
            layers.append(ln)
            names.append((ln, f'hidden{i}/layer_norm'))
        layers.append(nn.ReLU())
        width = hidden['units']
    out = nn.Linear(width, run['outputSize'])
    layers.append(out)
    names.append((out, 'output/dense'))
    model = nn.Sequential(*layers)
    w = {k: torch.tensor(v) for k, v in run['initial'].items()}
    with torch.no_grad():
        for module, name in names:
            if isinstance(module, nn.Linear):
                module.weight.copy_(w[f'{name}/kernel'].view(module.in_features, module.out_features).t())
                if module.bias is not None:
                    module.bias.copy_(w[f'{name}/bias'])
            elif isinstance(module, nn.BatchNorm1d):
                module.weight.copy_(w[f'{name}/gamma'])
                module.bias.copy_(w[f'{name}/beta'])
            else:
                module.weight.copy_(w[f'{name}/gain'])
                module.bias.copy_(w[f'{name}/bias'])
    return model


def metric(run, outputs):
    prep = run['preprocessing']['target']
    y = run['yTest']
    if run['task'] == 'classification':
        index = {c: i for i, c in enumerate(prep['classes'])}
        return float(np.mean(outputs.argmax(1) == np.array([index[v] for v in y])))
    predicted = outputs[:, 0] * prep['std'] + prep['mean']
    y = np.array(y, dtype=float)
    return float(1 - ((y - predicted) ** 2).sum() / ((y - y.mean()) ** 2).sum())


def check_encoding(run):
    x, y, x_test, y_test, _, _ = quality_reference.encode(run['dataset'], run['task'])
    n = run['inputSize']
    same = (np.array_equal(x.numpy(), np.array(run['x'], dtype=np.float32).reshape(-1, n))
            and np.array_equal(x_test.numpy(), np.array(run['xTest'], dtype=np.float32).reshape(-1, n))
            and np.array_equal(y.numpy().ravel().astype(np.float32), np.array(run['y'], dtype=np.float32)))
    if not same:
        raise SystemExit(f"{run['dataset']}: quality_reference.py encodes the rows differently from fitwell")


def replay(run):
    torch.manual_seed(0)
    model = build(run)
    n_in = run['inputSize']
    x = torch.tensor(run['x'], dtype=torch.float32).view(-1, n_in)
    classification = run['task'] == 'classification'
    y = torch.tensor(run['y'])
    y = y.long() if classification else y.float()[:, None]
    training = run['request']['training']
    reg = run['request']['regularization']
    lr = training['learningRate']
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, eps=1e-7)
    loss_fn = nn.CrossEntropyLoss() if classification else nn.MSELoss()
    kernels = [m.weight for m in model if isinstance(m, nn.Linear)]
    has_bn = any(isinstance(m, nn.BatchNorm1d) for m in model)
    model.train()
    for order in run['orders']:
        for start in range(0, len(order), training['batchSize']):
            index = torch.tensor(order[start:start + training['batchSize']])
            if len(index) == 1 and has_bn:
                continue
            loss = loss_fn(model(x[index]), y[index])
            if reg['l2']:
                loss = loss + reg['l2'] * sum(k.pow(2).sum() for k in kernels)
            if reg['l1'] and reg['l1Mode'] == 'subgradient':
                loss = loss + reg['l1'] * sum(k.abs().sum() for k in kernels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if reg['l1'] and reg['l1Mode'] != 'subgradient':
                with torch.no_grad():
                    for k in kernels:
                        threshold = lr * reg['l1']
                        if reg['l1Mode'] == 'proximal':  # fitwell's default: Adam's per-weight step
                            state = optimizer.state[k]
                            threshold = threshold / ((state['exp_avg_sq'] / (1 - 0.999 ** float(state['step']))).sqrt() + 1e-7)
                        k.copy_(k.sign() * (k.abs() - threshold).clamp(min=0))
    model.eval()
    with torch.no_grad():
        outputs = model(torch.tensor(run['xTest'], dtype=torch.float32).view(-1, n_in)).double().numpy()
    return metric(run, outputs)


def main():
    torch.set_num_threads(1)
    differences = []
    for path in sorted(glob.glob(os.path.join(sys.argv[1], '*.json'))):
        run = json.load(open(path))
        check_encoding(run)
        fitwell = metric(run, np.array(run['fitwellOutputs']).reshape(-1, run['outputSize']))
        torch_value = replay(run)
        differences.append(fitwell - torch_value)
        print(f"{run['dataset']} {run['row']} seed {run['seed']}: fitwell {fitwell:.4f}  "
              f"PyTorch from the same start {torch_value:.4f}  difference {fitwell - torch_value:+.4f}")
    d = np.array(differences)
    print(f'mean difference {d.mean():+.4f}, mean |difference| {np.abs(d).mean():.4f} over {len(d)} seeds')


if __name__ == '__main__':
    main()
