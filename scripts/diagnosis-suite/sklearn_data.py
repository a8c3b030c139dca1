#!/usr/bin/python3
"""Two of scikit-learn's bundled datasets as CSV, for the diagnosis suite.

Run from the repository root with Debian's scikit-learn (/usr/bin/python3, not pyenv's python):

    /usr/bin/python3 scripts/diagnosis-suite/sklearn_data.py

It writes test/fixtures/diagnosis-suite/data/diabetes.csv (442 rows, ten measurements and the
disease progression a year later, an integer from 25 to 346: a regression target) and wine.csv
(178 wines, 13 chemical measurements, three cultivars). Both are committed; the suite generator
(scripts/diagnosis-suite.ts) reads them. Bundled data, no download: rerunning gives the same files.
"""
import csv
import os

from sklearn.datasets import load_diabetes, load_wine

OUT = os.path.join(os.path.dirname(__file__), '..', '..', 'test', 'fixtures', 'diagnosis-suite', 'data')


def write(name, columns, data, target_name, target, fmt):
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, name), 'w', newline='') as f:
        writer = csv.writer(f, lineterminator='\n')
        writer.writerow([c.replace(' ', '_') for c in columns] + [target_name])
        for row, y in zip(data, target):
            writer.writerow([format(v, '.6g') for v in row] + [fmt(y)])


diabetes = load_diabetes(scaled=False)
write('diabetes.csv', diabetes.feature_names, diabetes.data, 'progression', diabetes.target, lambda y: str(int(y)))
wine = load_wine()
write('wine.csv', wine.feature_names, wine.data, 'cultivar', wine.target, lambda y: f'class_{int(y)}')
