#!/usr/bin/python3
"""The reference network of issue 5 in PyTorch on the CPU, for bench/training.ts.

64 inputs -> Linear 256 (no bias) -> BatchNorm1d -> ReLU -> Dropout 0.3 -> Linear 256 -> LayerNorm
-> ReLU -> Dropout 0.3 -> Linear 10, softmax cross-entropy, Adam 1e-3, L2 1e-4 on the first
kernel (added to the loss, as fitwell and Keras do), on random rows. The conventions follow
fitwell's: BatchNorm momentum 0.01 (PyTorch's momentum is 1 - Keras's 0.99), epsilon 1e-3 for
both normalizations, Adam epsilon 1e-7. Prints {"byBatchSize": {"128": {"epochMs": [...]}, ...}}.

With --serve it stays up for bench/training.ts's alternating turns: one JSON command a line on
stdin, {"batchSize": 128, "epochs": 1, "threads": 1}, one JSON answer a line on stdout,
{"epochMs": [...]}; the model and optimizer of each (batch size, threads) live on between turns,
as the other peers' do. An empty line or end of input ends it.

Each epoch shuffles, then per batch: forward, loss, backward, Adam step, and the loss read back
(loss.item()), as fitwell's step reads its loss. Untimed warm-up epochs come first.
"""
import argparse
import json
import time

import torch
from torch import nn


def build(inputs: int, classes: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(inputs, 256, bias=False),
        nn.BatchNorm1d(256, momentum=0.01, eps=1e-3),
        nn.ReLU(),
        nn.Dropout(0.3),
        nn.Linear(256, 256),
        nn.LayerNorm(256, eps=1e-3),
        nn.ReLU(),
        nn.Dropout(0.3),
        nn.Linear(256, classes),
    )


def epoch_ms(model, optimizer, x, y, batch_size: int) -> float:
    loss_fn = nn.CrossEntropyLoss()
    first_kernel = model[0].weight
    started = time.perf_counter()
    order = torch.randperm(x.shape[0])
    for start in range(0, x.shape[0], batch_size):
        index = order[start:start + batch_size]
        if index.numel() == 1:  # batch norm cannot train on one row; fitwell skips it too
            continue
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(x[index]), y[index])
        (loss + 1e-4 * first_kernel.pow(2).sum()).backward()
        optimizer.step()
        loss.item()
    return (time.perf_counter() - started) * 1000


def serve(x, y) -> None:
    """Commands from stdin, answers on stdout, until an empty line or end of input."""
    import sys

    runs = {}
    for line in sys.stdin:
        if not line.strip():
            break
        command = json.loads(line)
        batch_size, threads = int(command['batchSize']), int(command.get('threads', 1))
        torch.set_num_threads(threads)
        if (batch_size, threads) not in runs:
            model = build(64, 10)
            model.train()
            runs[(batch_size, threads)] = (model, torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7))
        model, optimizer = runs[(batch_size, threads)]
        times = [epoch_ms(model, optimizer, x, y, batch_size) for _ in range(int(command.get('epochs', 1)))]
        print(json.dumps({'epochMs': times, 'threads': torch.get_num_threads()}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument('--rows', type=int, default=8192)
    parser.add_argument('--batch-sizes', default='128,512')
    parser.add_argument('--warmup-epochs', type=int, default=1)
    parser.add_argument('--epochs', type=int, default=3)
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--serve', action='store_true')
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    x = torch.randn(args.rows, 64)
    y = torch.randint(0, 10, (args.rows,))
    if args.serve:
        print(json.dumps({'ready': True, 'version': torch.__version__}), flush=True)
        serve(x, y)
        return
    out = {'threads': torch.get_num_threads(), 'version': torch.__version__, 'byBatchSize': {}}
    for batch_size in (int(b) for b in args.batch_sizes.split(',')):
        model = build(64, 10)
        model.train()
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
        times = [epoch_ms(model, optimizer, x, y, batch_size) for _ in range(args.warmup_epochs + args.epochs)]
        out['byBatchSize'][str(batch_size)] = {'epochMs': times[args.warmup_epochs:]}
    print(json.dumps(out))


if __name__ == '__main__':
    main()
