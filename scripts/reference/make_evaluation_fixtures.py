#!/usr/bin/python3
"""Reference values for fitwell's evaluation metrics (src/evaluation/), from scikit-learn 1.2.

Run from the repository root with Debian's python3-sklearn:

    /usr/bin/python3 scripts/reference/make_evaluation_fixtures.py

It writes test/fixtures/evaluation-reference.json (committed; test/evaluation/metrics.test.ts
reads it and needs no Python). Fixed seeds: rerunning gives the same file. Every input is
rounded to float32 first (the service's probabilities are float32), then the references are
computed in float64 as the TypeScript side does.

Which reference each figure has:
- log loss, accuracy, balanced accuracy, F1 (macro, weighted), precision and recall per class,
  confusion matrix, ROC AUC, average precision, Brier (binary), MSE, MAE, R²: sklearn.metrics.
  Labels are the model's class indices 0..K-1 (`labels=range(K)`) for log loss, the confusion
  matrix and the per-class figures; F1 averages use sklearn's default label set (the classes in
  y_true or in the predictions), zero_division=0.
- ROC AUC multiclass: roc_auc_score(multi_class='ovr', average='macro'); undefined (None
  here, omitted by the service) when a class is absent from y_true, as sklearn raises then.
- PR AUC: average_precision_score (the step-wise sum Σ (R_n − R_{n−1}) P_n, not the trapezoid);
  multiclass: the mean over the classes present in y_true of the one-vs-rest binary AP.
- Brier multiclass: sklearn 1.2 has none; the mean over rows of Σ_k (p_k − 1[y = k])² (Brier's
  original definition), computed with numpy.
- ROC curve (binary, for the report): roc_curve(drop_intermediate=False).
- ECE: sklearn has only the binary calibration_curve; top-label ECE in numpy with 10 equal-width
  bins assigned as calibration_curve assigns them (np.searchsorted on the inner edges).
"""
import json
import os

import numpy as np
from sklearn import metrics
from sklearn.preprocessing import label_binarize

OUT = os.path.join(os.path.dirname(__file__), '..', '..', 'test', 'fixtures', 'evaluation-reference.json')


def f32(a):
    return np.asarray(a, dtype=np.float32).astype(np.float64)


def softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def ece(y, p, bins=10):
    conf = p.max(axis=1)
    pred = p.argmax(axis=1)
    edges = np.linspace(0.0, 1.0, bins + 1)
    ids = np.searchsorted(edges[1:-1], conf)
    table = []
    total = 0.0
    for b in range(bins):
        mask = ids == b
        row = {'lower': float(edges[b]), 'upper': float(edges[b + 1]), 'count': int(mask.sum())}
        if mask.any():
            row['meanConfidence'] = float(conf[mask].mean())
            row['accuracy'] = float((pred[mask] == y[mask]).mean())
            total += mask.sum() / len(y) * abs(row['accuracy'] - row['meanConfidence'])
        table.append(row)
    return float(total), table


def classification_case(name, y, p, threshold=None):
    y = np.asarray(y, dtype=np.int64)
    p = f32(p)
    k = p.shape[1]
    labels = list(range(k))
    if k == 2 and threshold is not None:
        pred = (p[:, 1] >= threshold).astype(np.int64)
    else:
        pred = p.argmax(axis=1)
    present = sorted(set(y.tolist()))
    onehot = label_binarize(y, classes=labels) if k > 2 else np.stack([1 - y, y], axis=1)
    precision, recall, _, support = metrics.precision_recall_fscore_support(
        y, pred, labels=labels, zero_division=0)
    expected = {
        'logLoss': metrics.log_loss(y, p, labels=labels),
        'accuracy': metrics.accuracy_score(y, pred),
        'balancedAccuracy': metrics.balanced_accuracy_score(y, pred),
        'f1Macro': metrics.f1_score(y, pred, average='macro', zero_division=0),
        'f1Weighted': metrics.f1_score(y, pred, average='weighted', zero_division=0),
        'precision': precision.tolist(),
        'recall': recall.tolist(),
        'support': support.tolist(),
        'confusionMatrix': metrics.confusion_matrix(y, pred, labels=labels).tolist(),
    }
    if k == 2:
        expected['rocAuc'] = metrics.roc_auc_score(y, p[:, 1]) if len(present) == 2 else None
        expected['prAuc'] = metrics.average_precision_score(y, p[:, 1]) if 1 in present else None
        expected['brier'] = metrics.brier_score_loss(y, p[:, 1])
        if len(present) == 2:
            fpr, tpr, _ = metrics.roc_curve(y, p[:, 1], drop_intermediate=False)
            expected['rocCurve'] = {'fpr': fpr.tolist(), 'tpr': tpr.tolist()}
    else:
        expected['rocAuc'] = (
            metrics.roc_auc_score(y, p, multi_class='ovr', average='macro', labels=labels)
            if len(present) == k else None)
        expected['prAuc'] = float(np.mean([metrics.average_precision_score(onehot[:, c], p[:, c]) for c in present]))
        expected['brier'] = float(np.mean(np.sum((p - onehot) ** 2, axis=1)))
    expected['ece'], expected['reliability'] = ece(y, p)
    case = {'name': name, 'labels': y.tolist(), 'probabilities': p.tolist(), 'expected': expected}
    if threshold is not None:
        case['threshold'] = threshold
    return case


def regression_case(name, y, pred):
    y, pred = f32(y), f32(pred)
    mse = metrics.mean_squared_error(y, pred)
    return {'name': name, 'targets': y.tolist(), 'predictions': pred.tolist(), 'expected': {
        'mse': mse, 'rmse': float(np.sqrt(mse)), 'mae': metrics.mean_absolute_error(y, pred),
        'r2': metrics.r2_score(y, pred)}}


rng = np.random.default_rng(12)
cases = []

# Binary: a score that mostly follows the label.
y = rng.integers(0, 2, 60)
s = 1 / (1 + np.exp(-(1.5 * (2 * y - 1) + rng.normal(0, 1.5, 60))))
cases.append(classification_case('binary', y, np.stack([1 - s, s], axis=1)))
# Binary with ties: scores rounded to tenths, so many rows share a score.
s2 = np.round(s, 1).clip(0.05, 0.95)
cases.append(classification_case('binary ties', y, np.stack([1 - s2, s2], axis=1)))
# Binary with a decision threshold other than 0.5.
cases.append(classification_case('binary threshold 0.3', y, np.stack([1 - s, s], axis=1), threshold=0.3))
# Constant predictions: every row gets the same probability.
cases.append(classification_case('binary constant', y, np.tile([0.3, 0.7], (60, 1))))
# Multiclass, 3 classes.
y3 = rng.integers(0, 3, 90)
z = rng.normal(0, 1, (90, 3))
z[np.arange(90), y3] += 1.2
cases.append(classification_case('multiclass', y3, softmax(z)))
# Multiclass where class 2 is never predicted (its logit pushed down).
z2 = z.copy()
z2[:, 2] -= 6
cases.append(classification_case('multiclass class never predicted', y3, softmax(z2)))
# Multiclass where class 3 of 4 is absent from the labels: ROC AUC undefined.
y4 = rng.integers(0, 3, 80)
z4 = rng.normal(0, 1, (80, 4))
z4[np.arange(80), y4] += 1.0
cases.append(classification_case('multiclass class absent from labels', y4, softmax(z4)))
# Overconfident multiclass: logits scaled up, many rows at confidence near 1.
cases.append(classification_case('multiclass overconfident', y3, softmax(4 * z)))

yr = rng.normal(10, 3, 50)
regression = [
    regression_case('regression', yr, yr + rng.normal(0, 1, 50)),
    regression_case('regression constant predictions', yr, np.full(50, 9.5)),
    regression_case('regression constant targets', np.full(20, 4.0), 4.0 + rng.normal(0, 0.5, 20)),
]

with open(OUT, 'w') as f:
    json.dump({'classification': cases, 'regression': regression}, f, indent=1)
    f.write('\n')
print(f'wrote {OUT}: {len(cases)} classification and {len(regression)} regression cases')
