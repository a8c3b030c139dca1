#!/usr/bin/python3
"""What PyTorch's nn.Linear default initialization actually draws, for fitwell's torch-default.

Run from the repository root with Debian's python3-torch:

    /usr/bin/python3 scripts/reference/init_fixtures.py

It writes test/fixtures/init-reference.json (committed; test/ml/initialization.test.ts reads
it). For each (fan_in, fan_out) it builds nn.Linear layers with their default reset_parameters()
(kaiming_uniform_ with a = sqrt(5) for the weight, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for the
bias) and records, over all the values drawn, the largest |value| and the standard deviation,
for the weight and the bias apart, together with the bound PyTorch's own helpers compute
(calculate_gain('leaky_relu', sqrt(5)) * sqrt(3 / fan_in)). Fixed seed: rerunning gives the
same file.
"""
import json
import math
import os

import torch
from torch import nn

OUT = os.path.join(os.path.dirname(__file__), '..', '..', 'test', 'fixtures', 'init-reference.json')
SHAPES = [(400, 300), (64, 4096), (10, 256)]
# Enough draws per shape that the largest |value| is within 0.1 % of the bound and the standard
# deviation within 1 % of bound/sqrt(3).
WEIGHT_DRAWS = 200_000
BIAS_DRAWS = 20_000


def main() -> None:
    torch.manual_seed(0)
    cases = []
    for fan_in, fan_out in SHAPES:
        weights, biases = [], []
        while sum(w.numel() for w in weights) < WEIGHT_DRAWS or sum(b.numel() for b in biases) < BIAS_DRAWS:
            layer = nn.Linear(fan_in, fan_out)
            weights.append(layer.weight.detach().flatten())
            biases.append(layer.bias.detach().flatten())
        w = torch.cat(weights).double()
        b = torch.cat(biases).double()
        gain = nn.init.calculate_gain('leaky_relu', math.sqrt(5))
        cases.append({
            'fanIn': fan_in,
            'fanOut': fan_out,
            'weightBound': gain * math.sqrt(3 / fan_in),
            'weightMaxAbs': w.abs().max().item(),
            'weightStd': w.std(unbiased=False).item(),
            'biasBound': 1 / math.sqrt(fan_in),
            'biasMaxAbs': b.abs().max().item(),
            'biasStd': b.std(unbiased=False).item(),
            'draws': {'weight': w.numel(), 'bias': b.numel()},
        })
    with open(OUT, 'w') as f:
        json.dump({'torch': torch.__version__, 'cases': cases}, f, indent=2)
        f.write('\n')


if __name__ == '__main__':
    main()
