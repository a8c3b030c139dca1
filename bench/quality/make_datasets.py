#!/usr/bin/python3
"""The datasets of the quality benchmark (issue 10), written as committed CSVs.

Run from the repository root with Debian's scikit-learn (hence /usr/bin/python3):

    /usr/bin/python3 bench/quality/make_datasets.py

For every dataset it writes bench/quality/data/<name>.train.csv and <name>.test.csv (a header,
the feature columns, then `target`), which both sides of the benchmark read: fitwell
(bench/quality.ts, through its real training path) and PyTorch (bench/quality/quality_reference.py).
Every split and every synthetic draw has a fixed seed, so rerunning gives the same files.
Values are written with 4 significant digits (the data are noisy far beyond that), to keep the
committed data small; both sides read the same rounded values.

The suite: small data, where how a network is regularized (and initialized) decides its test
score.
- noisy: 150 training rows, 256 columns of which 192 (three quarters) are pure N(0, 1) noise, 48
  informative and 16 redundant (linear combinations of the informative ones), 2 classes with 5 %
  of the labels flipped; 1000 test rows, so the test accuracy has a standard error of about 1.4
  points rather than 3.5.
- imbalanced: binary, 10 % positives, 20 columns (6 informative, 4 redundant), 500 training rows,
  1000 test rows.
- diabetes: sklearn's bundled diabetes data (442 rows x 10 features, regression), half for
  training, half for test.
- friedman-cat: regression on Friedman's #1 function (10 columns, 5 of them used) with noise,
  plus two categorical columns that shift the target, so the one-hot path is measured too; 300
  training rows, 1000 test rows.
- digits, breast-cancer, wine: sklearn's bundled datasets, ordinary small classification tasks;
  a stratified split with a third (digits) or half (the others) of the rows for training.
"""
import os

import numpy as np
from sklearn.datasets import (load_breast_cancer, load_diabetes, load_digits, load_wine,
                              make_classification, make_friedman1)
from sklearn.model_selection import train_test_split

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'data')


def cell(value) -> str:
    if isinstance(value, str):
        return value
    if float(value).is_integer() and abs(value) < 1e7:
        return str(int(value))
    return f'{value:.4g}'


def write(name: str, columns: list, rows_train: list, rows_test: list) -> None:
    for part, rows in (('train', rows_train), ('test', rows_test)):
        with open(os.path.join(OUT, f'{name}.{part}.csv'), 'w') as f:
            f.write(','.join(columns) + '\n')
            for row in rows:
                f.write(','.join(cell(v) for v in row) + '\n')


def numeric(name: str, x: np.ndarray, y: np.ndarray, train_size, stratify: bool, seed: int) -> None:
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, train_size=train_size, random_state=seed, stratify=y if stratify else None)
    columns = [f'x{i}' for i in range(x.shape[1])] + ['target']
    to_rows = lambda xs, ys: [list(a) + [b] for a, b in zip(xs, ys)]
    write(name, columns, to_rows(x_train, y_train), to_rows(x_test, y_test))


def friedman_cat() -> None:
    rng = np.random.RandomState(5)
    x, y = make_friedman1(n_samples=1300, n_features=10, noise=1.0, random_state=5)
    groups = np.array(['north', 'south', 'east', 'west'])
    group = groups[rng.randint(0, 4, size=len(y))]
    flag = np.where(rng.rand(len(y)) < 0.3, 'yes', 'no')
    y = y + np.select([group == 'north', group == 'south', group == 'east'], [2.0, -1.5, 0.5], 0.0)
    y = y + np.where(flag == 'yes', 1.0 + 2.0 * x[:, 0], 0.0)
    rows = [list(a) + [g, f, t] for a, g, f, t in zip(x, group, flag, y)]
    columns = [f'x{i}' for i in range(10)] + ['region', 'flag', 'target']
    write('friedman-cat', columns, rows[:300], rows[300:])


def main() -> None:
    os.makedirs(OUT, exist_ok=True)
    x, y = make_classification(n_samples=1150, n_features=256, n_informative=48, n_redundant=16,
                               n_repeated=0, n_classes=2, n_clusters_per_class=2, flip_y=0.05,
                               class_sep=1.5, shuffle=True, random_state=1)
    numeric('noisy', x, y, 150, True, 1)
    x, y = make_classification(n_samples=1500, n_features=20, n_informative=6, n_redundant=4,
                               n_classes=2, weights=[0.9], flip_y=0.02, class_sep=0.8,
                               random_state=2)
    numeric('imbalanced', x, y, 500, True, 2)
    d = load_diabetes()
    numeric('diabetes', d.data, d.target, 221, False, 3)
    friedman_cat()
    d = load_digits()
    numeric('digits', d.data, d.target, 600, True, 4)
    d = load_breast_cancer()
    numeric('breast-cancer', d.data, d.target, 285, True, 6)
    d = load_wine()
    numeric('wine', d.data, d.target, 89, True, 7)


if __name__ == '__main__':
    main()
