"""TCNClassifier with its defaults on small UCR/UEA problems that ship inside aeon's wheel, against the published
FCN/ResNet accuracies (docs/design/estimators-research.md §2). No aeon install: the .ts files are read straight from
the wheel (`pip download aeon==1.6.0 --no-deps -d DIR`), because aeon pins an older numba than pytcn's.

    python benchmarks/estimators_ucr.py DIR/aeon-1.6.0-py3-none-any.whl GunPoint [ArrowHead ...]
    python benchmarks/estimators_ucr.py --validation-fraction 0 WHEEL ArrowHead    # monitor the training loss

Results: benchmarks/estimators_ucr_results.md.
"""
import argparse
import time
import zipfile

import numpy as np

from pytcn.estimators import TCNClassifier


def read_ts(text):
    """(X: list of (C, T_i) arrays, y: labels as str) of a .ts file's text (header lines '@...', then one case a
    line, channels separated by ':', the label last)."""
    X, y, data = [], [], False
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if not data:
            data = line.lower() == "@data"
            continue
        *channels, label = line.split(":")
        X.append(np.array([[float(v) for v in c.split(",")] for c in channels]))
        y.append(label.strip())
    return X, np.array(y)


def load(wheel, name, split):
    with zipfile.ZipFile(wheel) as z:
        return read_ts(z.read(f"aeon/datasets/data/{name}/{name}_{split}.ts").decode())


def main(wheel, names, validation_fraction=0.1):
    for name in names:
        (X_train, y_train), (X_test, y_test) = load(wheel, name, "TRAIN"), load(wheel, name, "TEST")
        t0 = time.perf_counter()
        clf = TCNClassifier(random_state=0, validation_fraction=validation_fraction).fit(X_train, y_train)
        seconds = time.perf_counter() - t0
        print(f"{name}: test accuracy {clf.score(X_test, y_test):.3f}, {clf.n_iter_} epochs (best {clf.best_epoch_}), "
              f"dilations {clf.dilations_}, validation_fraction {validation_fraction}, {seconds:.0f} s fit", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheel", help="aeon-1.6.0-py3-none-any.whl (pip download aeon==1.6.0 --no-deps)")
    parser.add_argument("names", nargs="+", help="datasets in the wheel's aeon/datasets/data/, e.g. GunPoint")
    parser.add_argument("--validation-fraction", type=float, default=0.1, help="TCNClassifier's (default 0.1)")
    args = parser.parse_args()
    main(args.wheel, args.names, args.validation_fraction)
