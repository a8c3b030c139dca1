#!/usr/bin/python3
"""Reference values for fitwell's training controls, computed with PyTorch (and scikit-learn).

Run from the repository root with Debian's python3-torch and python3-sklearn (a pyenv or venv
python usually does not see them, hence /usr/bin/python3):

    /usr/bin/python3 scripts/reference/make_control_fixtures.py

It writes test/fixtures/training-controls-reference.json, which is committed: the TypeScript
tests (test/ml/training-controls-reference.test.ts) read it and need no Python. Rerunning it
gives the same file (fixed seeds; float64 throughout).

As in make_fixtures.py, every input (data, weights, gradients) is rounded to float32 first, so
the TypeScript side holds exactly the same numbers, and the references are computed in float64.
Matrices are row-major lists; a dense kernel is [inputSize, units] (nn.Linear's weight
transposed).

What each part checks:
- schedules: the learning rate torch's schedulers give every optimizer step of a run of
  EPOCHS × STEPS steps. Per-step schedulers (cosine with warm-up, one-cycle) are stepped after
  every optimizer step, per-epoch ones (StepLR) after every epoch, as their documentation says.
  Cosine with warm-up is LinearLR(1/W → 1 over W − 1 steps) then CosineAnnealingLR(T − W,
  eta_min) in a SequentialLR; one-cycle is OneCycleLR with cycle_momentum=False (fitwell's
  optimizers have no momentum to cycle).
- plateau: the rate of each epoch under ReduceLROnPlateau fed a fixed metric sequence.
- clipping: clip_grad_value_ and clip_grad_norm_ on the same gradients (value first when both).
- crossEntropy: CrossEntropyLoss(weight=, label_smoothing=) and its gradient for the logits.
- balanced: sklearn.utils.class_weight.compute_class_weight('balanced').
- runs: whole short training runs of a 4 → 5 (ReLU) → K network, one full batch per epoch, with
  the controls together, the schedule a real torch scheduler on a real torch optimizer. fitwell's
  own conventions are reproduced explicitly where torch has none or another one:
  * Adam: fitwell's is Keras' (lr·√(1−β₂ᵗ)/(1−β₁ᵗ) · m/(√v + ε̂), ε̂ = 1e-7), which is
    torch.optim.Adam with eps = 1e-7/√(1−β₂ᵗ), set before each step.
  * proximal L1 and decoupled weight decay after the optimizer step, with that step's rate:
    w ← w·(1 − lr·λ), then w ← sign(w)·max(|w| − lr·α₁, 0), on kernels only.
  * L2 is α₂·Σw² over kernels, added to the loss before backward (so clipping sees it).
  * the reported trainLoss / valLoss: inference-mode loss on all training / validation rows,
    class-weighted like the training loss (CrossEntropyLoss(weight=w) mean) but not smoothed.
"""
import json
import math
import os
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.utils.class_weight import compute_class_weight

torch.set_default_dtype(torch.float64)
# SequentialLR steps its second scheduler with an epoch argument, which torch 1.13 warns about.
warnings.filterwarnings('ignore', message='The epoch parameter')
OUT = os.path.join(os.path.dirname(__file__), '..', '..', 'test', 'fixtures', 'training-controls-reference.json')

rng = np.random.RandomState(20241202)


def f32(a):
    """Rounded to float32, held as float64: exactly representable on both sides."""
    return np.asarray(a, dtype=np.float32).astype(np.float64)


def flat(t):
    if isinstance(t, torch.Tensor):
        t = t.detach().cpu().numpy()
    return [float(v) for v in np.asarray(t, dtype=np.float64).reshape(-1)]


def tensor(a, grad=False):
    return torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


# ---------------------------------------------------------------- learning-rate schedules

EPOCHS, STEPS, LR = 7, 5, 0.1


def scheduler_rates(make, per_step):
    """The rate each of the EPOCHS × STEPS optimizer steps runs with."""
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=LR)
    scheduler = make(opt)
    rates = []
    for _ in range(EPOCHS):
        for _ in range(STEPS):
            rates.append(opt.param_groups[0]['lr'])
            opt.step()
            if per_step:
                scheduler.step()
        if not per_step:
            scheduler.step()
    return rates


def cosine_with_warmup(warmup, eta_min):
    total = EPOCHS * STEPS
    lrs = torch.optim.lr_scheduler

    def make(opt):
        if warmup == 0:
            return lrs.CosineAnnealingLR(opt, T_max=total, eta_min=eta_min)
        ramp = lrs.LinearLR(opt, start_factor=1 / warmup, end_factor=1.0, total_iters=warmup - 1)
        cosine = lrs.CosineAnnealingLR(opt, T_max=total - warmup, eta_min=eta_min)
        return lrs.SequentialLR(opt, [ramp, cosine], milestones=[warmup])
    return make


def one_cycle(max_lr, pct_start, div_factor, final_div_factor):
    def make(opt):
        return torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=max_lr, total_steps=EPOCHS * STEPS, pct_start=pct_start, anneal_strategy='cos',
            cycle_momentum=False, div_factor=div_factor, final_div_factor=final_div_factor)
    return make


def schedule_cases():
    lrs = torch.optim.lr_scheduler
    cases = [
        ({'type': 'step', 'stepSize': 3, 'gamma': 0.5}, lambda o: lrs.StepLR(o, step_size=3, gamma=0.5), False),
        ({'type': 'step', 'stepSize': 1, 'gamma': 0.1}, lambda o: lrs.StepLR(o, step_size=1, gamma=0.1), False),
        ({'type': 'cosine', 'warmupSteps': 4, 'minLearningRate': 0.01}, cosine_with_warmup(4, 0.01), True),
        ({'type': 'cosine', 'warmupEpochs': 2, 'minLearningRate': 0}, cosine_with_warmup(2 * STEPS, 0.0), True),
        ({'type': 'cosine', 'minLearningRate': 0.002}, cosine_with_warmup(0, 0.002), True),
        ({'type': 'one-cycle', 'pctStart': 0.3, 'divFactor': 25, 'finalDivFactor': 1e4},
         one_cycle(LR, 0.3, 25, 1e4), True),
        ({'type': 'one-cycle', 'maxLearningRate': 0.5, 'pctStart': 0.25, 'divFactor': 10, 'finalDivFactor': 100},
         one_cycle(0.5, 0.25, 10, 100), True),
    ]
    return [{'spec': spec, 'rates': scheduler_rates(make, per_step)} for spec, make, per_step in cases]


# Epoch metrics for ReduceLROnPlateau: a fall, a plateau, small gains below the thresholds, a rise.
PLATEAU_METRICS = [1.0, 0.8, 0.7, 0.69995, 0.7, 0.71, 0.65, 0.6499, 0.6498, 0.66, 0.64, 0.64,
                   0.5, 0.52, 0.53, 0.5, 0.49, 0.495, 0.5, 0.51, 0.48, 0.481, 0.482, 0.483]
PLATEAU_ACCURACY = [0.5, 0.6, 0.6, 0.605, 0.61, 0.7, 0.69, 0.7, 0.72, 0.72, 0.721, 0.73,
                    0.74, 0.74, 0.74, 0.8, 0.79, 0.8, 0.8, 0.801]


def plateau_cases():
    cases = [
        ({'monitor': 'valLoss', 'factor': 0.5, 'patience': 2, 'threshold': 1e-4, 'thresholdMode': 'rel',
          'cooldown': 0, 'minLearningRate': 0}, PLATEAU_METRICS),
        ({'monitor': 'valLoss', 'factor': 0.3, 'patience': 1, 'threshold': 0.005, 'thresholdMode': 'abs',
          'cooldown': 2, 'minLearningRate': 0.004}, PLATEAU_METRICS),
        ({'monitor': 'valLoss', 'factor': 0.1, 'patience': 0, 'threshold': 0, 'thresholdMode': 'rel',
          'cooldown': 0, 'minLearningRate': 0.1 - 5e-9}, PLATEAU_METRICS),  # a reduction below eps is not made
        ({'monitor': 'valAccuracy', 'factor': 0.5, 'patience': 1, 'threshold': 0.01, 'thresholdMode': 'rel',
          'cooldown': 1, 'minLearningRate': 0}, PLATEAU_ACCURACY),
        ({'monitor': 'valAccuracy', 'factor': 0.2, 'patience': 2, 'threshold': 0.005, 'thresholdMode': 'abs',
          'cooldown': 0, 'minLearningRate': 1e-4}, PLATEAU_ACCURACY),
    ]
    out = []
    for spec, metrics in cases:
        p = torch.nn.Parameter(torch.zeros(1))
        opt = torch.optim.SGD([p], lr=LR)
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            opt, mode='max' if spec['monitor'] == 'valAccuracy' else 'min', factor=spec['factor'],
            patience=spec['patience'], threshold=spec['threshold'], threshold_mode=spec['thresholdMode'],
            cooldown=spec['cooldown'], min_lr=spec['minLearningRate'])
        rates = []
        for value in metrics:
            rates.append(opt.param_groups[0]['lr'])
            scheduler.step(value)
        out.append({'spec': {'type': 'reduce-on-plateau', **spec}, 'metrics': metrics, 'rates': rates,
                    'after': opt.param_groups[0]['lr']})
    return out


# ---------------------------------------------------------------- clipping, losses, weights

def clipping_case():
    shapes = [[3, 4], [4], [2, 2]]
    grads = [f32(rng.normal(0, 0.6, size=s)) for s in shapes]
    total = math.sqrt(sum(float((g ** 2).sum()) for g in grads))
    cases = []
    for spec in [{'globalNorm': 1.0}, {'globalNorm': 100.0}, {'value': 0.5}, {'value': 0.5, 'globalNorm': 1.0},
                 {'value': 0.1, 'globalNorm': 0.25}]:
        params = [torch.nn.Parameter(torch.zeros(s)) for s in shapes]
        for p, g in zip(params, grads):
            p.grad = tensor(g).clone()
        if 'value' in spec:
            torch.nn.utils.clip_grad_value_(params, spec['value'])
        norm = None
        if 'globalNorm' in spec:
            norm = float(torch.nn.utils.clip_grad_norm_(params, spec['globalNorm']))
        cases.append({'spec': spec, 'clipped': [flat(p.grad) for p in params], 'normBeforeScaling': norm})
    return {'shapes': shapes, 'grads': [flat(g) for g in grads], 'norm': total, 'cases': cases}


def cross_entropy_case():
    rows, classes = 6, 4
    logits = f32(rng.normal(0, 2, size=(rows, classes)))
    labels = [0, 2, 1, 3, 2, 2]
    weights = f32([0.5, 2.0, 1.0, 4.0])
    # Soft targets as mixup makes them: λ·onehot(a) + (1 − λ)·onehot(b).
    lam = f32(rng.uniform(0, 1, size=rows))
    partner = [3, 0, 5, 1, 2, 4]
    onehot = np.eye(classes)[labels]
    soft = f32(lam[:, None] * onehot + (1 - lam[:, None]) * onehot[partner])
    cases = []
    for weighted, smoothing, targets in [(False, 0.0, 'labels'), (True, 0.0, 'labels'), (False, 0.2, 'labels'),
                                         (True, 0.2, 'labels'), (False, 0.1, 'soft')]:
        z = tensor(logits, grad=True)
        loss_fn = torch.nn.CrossEntropyLoss(weight=tensor(weights) if weighted else None, label_smoothing=smoothing)
        target = torch.tensor(labels) if targets == 'labels' else tensor(soft)
        loss = loss_fn(z, target)
        loss.backward()
        cases.append({'weighted': weighted, 'labelSmoothing': smoothing, 'targets': targets,
                      'loss': float(loss), 'gradient': flat(z.grad)})
    return {'rows': rows, 'classes': classes, 'logits': flat(logits), 'labels': labels, 'weights': flat(weights),
            'soft': flat(soft), 'cases': cases}


def balanced_case():
    labels = [0] * 11 + [1] * 6 + [2] * 3
    rng.shuffle(labels)
    weights = compute_class_weight('balanced', classes=np.arange(3), y=np.array(labels))
    return {'labels': labels, 'classes': 3, 'weights': [float(w) for w in weights]}


# ---------------------------------------------------------------- whole runs

INPUTS, UNITS, TRAIN, VALIDATION = 4, 5, 12, 6


def run_data(task, classes):
    x = f32(rng.normal(0, 1, size=(TRAIN + VALIDATION, INPUTS)))
    if task == 'classification':
        # Imbalanced training classes (7/3/2), so that "balanced" weights differ from 1.
        train = [0] * 7 + [1] * 3 + [2] * 2
        rng.shuffle(train)
        y = train + list(rng.randint(0, classes, size=VALIDATION))
        return x, [float(v) for v in y]
    y = f32(x @ np.array([0.5, -1.0, 0.25, 0.8]) + rng.normal(0, 0.3, size=TRAIN + VALIDATION))
    return x, [float(v) for v in y]


def initial_weights(outputs):
    bound1, bound2 = math.sqrt(6 / INPUTS), math.sqrt(6 / (UNITS + outputs))
    return {
        'hidden0/dense/kernel': f32(rng.uniform(-bound1, bound1, size=(INPUTS, UNITS))),
        'hidden0/dense/bias': f32(rng.normal(0, 0.1, size=UNITS)),
        'output/dense/kernel': f32(rng.uniform(-bound2, bound2, size=(UNITS, outputs))),
        'output/dense/bias': f32(rng.normal(0, 0.1, size=outputs)),
    }


def make_scheduler(spec, opt, epochs, learning_rate):
    lrs = torch.optim.lr_scheduler
    kind = spec['type'] if spec else None
    if kind is None:
        return None
    if kind == 'step':
        return lrs.StepLR(opt, step_size=spec['stepSize'], gamma=spec['gamma'])
    if kind == 'cosine':  # one step per epoch here, so warmupEpochs = warm-up steps
        warmup, total = spec.get('warmupEpochs', 0), epochs
        if warmup == 0:
            return lrs.CosineAnnealingLR(opt, T_max=total, eta_min=spec['minLearningRate'])
        ramp = lrs.LinearLR(opt, start_factor=1 / warmup, end_factor=1.0, total_iters=warmup - 1)
        cosine = lrs.CosineAnnealingLR(opt, T_max=total - warmup, eta_min=spec['minLearningRate'])
        return lrs.SequentialLR(opt, [ramp, cosine], milestones=[warmup])
    if kind == 'one-cycle':
        return lrs.OneCycleLR(opt, max_lr=spec.get('maxLearningRate', learning_rate), total_steps=epochs,
                              pct_start=spec['pctStart'], cycle_momentum=False, div_factor=spec['divFactor'],
                              final_div_factor=spec['finalDivFactor'])
    if kind == 'reduce-on-plateau':
        return lrs.ReduceLROnPlateau(opt, mode='min', factor=spec['factor'], patience=spec['patience'],
                                     threshold=spec['threshold'], threshold_mode=spec['thresholdMode'],
                                     cooldown=spec['cooldown'], min_lr=spec['minLearningRate'])
    raise ValueError(kind)


def run_case(name, task, options):
    classes = 3 if task == 'classification' else 1
    x, y = run_data(task, classes)
    start = initial_weights(classes)
    w = {k: tensor(v, grad=True) for k, v in start.items()}
    params = [w['hidden0/dense/kernel'], w['hidden0/dense/bias'], w['output/dense/kernel'], w['output/dense/bias']]
    kernels = [w['hidden0/dense/kernel'], w['output/dense/kernel']]
    lr = options['learningRate']
    if options['optimizer'] == 'sgd':
        opt = torch.optim.SGD(params, lr=lr)
    else:
        opt = torch.optim.Adam(params, lr=lr, betas=(0.9, 0.999))
    epochs = options['epochs']
    scheduler = make_scheduler(options.get('learningRateSchedule'), opt, epochs, lr)
    reg = options.get('regularization', {})
    xt = tensor(x)
    train, val = slice(0, TRAIN), slice(TRAIN, TRAIN + VALIDATION)

    class_weights = None
    if task == 'classification':
        spec = options.get('classWeights')
        if spec == 'balanced':
            class_weights = compute_class_weight('balanced', classes=np.arange(classes), y=np.array(y[:TRAIN]))
        elif isinstance(spec, dict):
            class_weights = np.array([spec.get(str(c), 1.0) for c in range(classes)])
        labels = torch.tensor([int(v) for v in y])
    else:
        targets = tensor(y).reshape(-1, 1)

    def forward(rows):
        h = torch.relu(xt[rows] @ w['hidden0/dense/kernel'] + w['hidden0/dense/bias'])
        return h @ w['output/dense/kernel'] + w['output/dense/bias']

    def data_loss(rows, smoothing):
        out = forward(rows)
        if task == 'regression':
            return F.mse_loss(out, targets[rows])
        weight = tensor(class_weights) if class_weights is not None else None
        return F.cross_entropy(out, labels[rows], weight=weight, label_smoothing=smoothing)

    epochs_out = []
    for epoch in range(epochs):
        rate = opt.param_groups[0]['lr']
        if options['optimizer'] == 'adam':
            t = epoch + 1
            opt.param_groups[0]['eps'] = 1e-7 / math.sqrt(1 - 0.999 ** t)
        opt.zero_grad()
        loss = data_loss(train, options.get('labelSmoothing', 0.0))
        for k in kernels:
            loss = loss + reg.get('l2', 0.0) * (k ** 2).sum()
        loss.backward()
        clip = options.get('gradientClipping', {})
        if 'value' in clip:
            torch.nn.utils.clip_grad_value_(params, clip['value'])
        if 'globalNorm' in clip:
            torch.nn.utils.clip_grad_norm_(params, clip['globalNorm'])
        opt.step()
        with torch.no_grad():
            for k in kernels:
                if reg.get('weightDecay', 0) > 0:
                    k.mul_(1 - rate * reg['weightDecay'])
                if reg.get('l1', 0) > 0:
                    k.copy_(torch.sign(k) * torch.relu(k.abs() - rate * reg['l1']))
            train_loss = float(data_loss(train, 0.0))
            val_loss = float(data_loss(val, 0.0))
        if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            scheduler.step(val_loss)
        elif scheduler is not None:
            scheduler.step()
        epochs_out.append({'learningRate': rate, 'trainLoss': train_loss, 'valLoss': val_loss,
                           'weights': {k: flat(v) for k, v in w.items()}})
    return {'name': name, 'task': task, 'classes': classes, 'inputSize': INPUTS, 'units': UNITS,
            'trainRows': TRAIN, 'validationRows': VALIDATION, 'x': flat(x), 'y': y, 'options': options,
            'resolvedClassWeights': None if class_weights is None else [float(v) for v in class_weights],
            'initialWeights': {k: flat(v) for k, v in start.items()}, 'epochs': epochs_out}


def runs():
    return [
        run_case('sgd, one-cycle, balanced weights, smoothing, global-norm clipping, L2 + decay + proximal L1',
                 'classification', {
                     'optimizer': 'sgd', 'learningRate': 0.5, 'epochs': 8,
                     'learningRateSchedule': {'type': 'one-cycle', 'pctStart': 0.3, 'divFactor': 5,
                                              'finalDivFactor': 100},
                     'classWeights': 'balanced', 'labelSmoothing': 0.1,
                     'gradientClipping': {'globalNorm': 0.5},
                     'regularization': {'l1': 0.01, 'l2': 0.001, 'weightDecay': 0.05}}),
        run_case('adam, cosine with warm-up, explicit weights, value clipping', 'classification', {
            'optimizer': 'adam', 'learningRate': 0.05, 'epochs': 8,
            'learningRateSchedule': {'type': 'cosine', 'warmupEpochs': 2, 'minLearningRate': 0.001},
            'classWeights': {'0': 1.0, '1': 2.5, '2': 4.0}, 'labelSmoothing': 0.0,
            'gradientClipping': {'value': 0.05}, 'regularization': {'weightDecay': 0.1}}),
        run_case('sgd regression, step schedule, value and global-norm clipping', 'regression', {
            'optimizer': 'sgd', 'learningRate': 0.1, 'epochs': 6,
            'learningRateSchedule': {'type': 'step', 'stepSize': 2, 'gamma': 0.5},
            'gradientClipping': {'value': 0.2, 'globalNorm': 0.3}, 'regularization': {'l2': 0.01}}),
        run_case('sgd, reduce-on-plateau on valLoss, smoothing', 'classification', {
            'optimizer': 'sgd', 'learningRate': 2.0, 'epochs': 10,
            'learningRateSchedule': {'type': 'reduce-on-plateau', 'monitor': 'valLoss', 'factor': 0.5,
                                     'patience': 0, 'threshold': 0.01, 'thresholdMode': 'rel', 'cooldown': 1,
                                     'minLearningRate': 0.1},
            'labelSmoothing': 0.2}),
    ]


def main():
    fixture = {
        'generator': 'scripts/reference/make_control_fixtures.py',
        'torch': torch.__version__,
        'precision': 'inputs rounded to float32; references computed in float64',
        'scheduleRun': {'epochs': EPOCHS, 'stepsPerEpoch': STEPS, 'learningRate': LR},
        'schedules': schedule_cases(),
        'plateau': plateau_cases(),
        'clipping': clipping_case(),
        'crossEntropy': cross_entropy_case(),
        'balanced': balanced_case(),
        'runs': runs(),
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, 'w') as f:
        json.dump(fixture, f, indent=1)
        f.write('\n')
    print('wrote', os.path.normpath(OUT))


if __name__ == '__main__':
    main()
