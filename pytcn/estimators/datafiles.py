"""A user's files for ``pytcn fit``, ``predict`` and ``forecast``: read without pickle, checked, each mistake one
line naming the file, the row and the column (a ``DataFileError``).

Collections of series (fit, predict):

- ``.npz`` (``np.savez``): an array ``X`` of shape (n_cases, n_timepoints) or (n_cases, n_channels, n_timepoints),
  aeon's layout, and ``y`` (one target per case, or (n_cases, n_targets) for a regressor); numbers only.
- ``.csv``, ``.tsv`` or ``.txt`` in the UCR archive's layout: one case per row, its label (or target) first, then
  its values, separated by commas or tabs; no header row. Univariate. The UCR archive pads shorter series with
  trailing NaN: those steps are dropped, and the series are then of unequal lengths (a NaN anywhere else is an
  error). Labels are kept as the text written in the file, so predictions are written back in the same words.

A series (forecast): a CSV with a header row; the column is chosen by its name.
"""
import csv
import os

import numpy as np

from ..tasks.mnist import sha256  # noqa: F401 (the run folder records its data file's; pytcn.cli imports it here)

SERIES_SUFFIXES = (".csv", ".tsv", ".txt")
SUFFIXES = (".npz",) + SERIES_SUFFIXES


class DataFileError(ValueError):
    """A data file that cannot be used; the message names it and says why."""


def _check_readable(path):
    if not os.path.exists(path):
        raise DataFileError(f"{path}: no such file")
    if os.path.isdir(path):
        raise DataFileError(f"{path}: is a folder; give a data file ({', '.join(SUFFIXES)})")
    if not os.access(path, os.R_OK):
        raise DataFileError(f"{path}: cannot be read (permission denied)")


def read_cases(path, targets="labels"):
    """(X, y) of a file of cases; ``targets``: 'labels' (a classifier's: kept as text in a CSV), 'numbers' (a
    regressor's), or 'optional' (predict: y may be absent, None then; a CSV's first column is read as labels unless
    ``targets='none'``, which reads every column as values). X is an array, or a list of (1, T_i) arrays when a
    CSV's series have unequal lengths."""
    path = os.fspath(path)
    _check_readable(path)
    suffix = os.path.splitext(path)[1].lower()
    if suffix == ".npz":
        return _read_npz(path, targets)
    if suffix in SERIES_SUFFIXES:
        return _read_ucr(path, targets)
    raise DataFileError(f"{path}: unknown kind of file {suffix or '(no suffix)'!r}; give an .npz with X and y, or a "
                        f"CSV in the UCR layout (label first): {', '.join(SUFFIXES)}")


def _read_npz(path, targets):
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise DataFileError(f"{path}: not a readable .npz archive ({e})") from None
    if not hasattr(archive, "files"):  # np.load gave one array: an .npy under another name
        raise DataFileError(f"{path}: is one array, not an .npz archive with X and y (np.savez(path, X=X, y=y))")
    with archive:
        if "X" not in archive.files:
            raise DataFileError(f"{path}: has no array 'X' (it holds {', '.join(archive.files) or 'nothing'}); "
                                f"write it with np.savez(path, X=X, y=y)")
        try:
            X = archive["X"]
            y = archive["y"] if "y" in archive.files else None
        except ValueError as e:  # an object array, which only pickle could read
            raise DataFileError(f"{path}: {e}; pytcn reads arrays of numbers (and labels as text) only") from None
    if X.dtype.kind not in "biuf":
        raise DataFileError(f"{path}: X must hold numbers, got dtype {X.dtype}")
    if X.ndim not in (2, 3):
        raise DataFileError(f"{path}: X must be (n_cases, n_timepoints) or (n_cases, n_channels, n_timepoints), got "
                            f"shape {X.shape}")
    if y is None and targets in ("labels", "numbers"):
        raise DataFileError(f"{path}: has no array 'y' of targets (it holds X only); fit needs one target per case")
    if y is not None:
        if targets == "numbers" and y.dtype.kind not in "biuf":
            raise DataFileError(f"{path}: y must hold numbers for a regressor, got dtype {y.dtype}")
        if y.ndim == 0:
            raise DataFileError(f"{path}: y must hold one target per case, got a single value (shape {y.shape})")
        if len(y) != len(X):
            raise DataFileError(f"{path}: X has {len(X)} cases and y {len(y)} targets; they must match")
    return X, y


def _read_ucr(path, targets):
    rows = _rows(path)
    first_value = 0 if targets == "none" else 1
    labels, series = [], []
    for r, row in enumerate(rows, 1):
        if len(row) <= first_value:
            raise DataFileError(f"{path}: row {r} has no values after its label (UCR layout: label first, then the "
                                f"series)")
        values = np.empty(len(row) - first_value)
        for c, cell in enumerate(row[first_value:], first_value + 1):
            try:
                values[c - first_value - 1] = float(cell)
            except ValueError:
                raise DataFileError(f"{path}: row {r}, column {c} is {cell.strip()!r}, not a number (UCR layout: "
                                    f"label first, then the values; no header row)") from None
        missing = np.isnan(values)
        n = len(values) - int(np.argmax(~missing[::-1])) if not missing.all() else 0
        if n == 0:
            raise DataFileError(f"{path}: row {r} has no values (every one is missing)")
        if missing[:n].any():
            raise DataFileError(f"{path}: row {r}, column {first_value + 1 + int(np.argmax(missing[:n]))} is missing "
                                f"(NaN) inside the series; only trailing padding may be")
        if np.isinf(values[:n]).any():
            raise DataFileError(f"{path}: row {r}, column {first_value + 1 + int(np.argmax(np.isinf(values)))} is "
                                f"infinite")
        series.append(values[:n])
        if first_value:
            labels.append(row[0].strip())
    if len({len(s) for s in series}) == 1:
        X = np.stack(series)
    else:
        X = [s[None, :] for s in series]
    if not first_value:
        return X, None
    if targets == "numbers":
        y = np.empty(len(labels))
        for r, label in enumerate(labels, 1):
            try:
                y[r - 1] = float(label)
            except ValueError:
                raise DataFileError(f"{path}: row {r}, column 1 (the target) is {label!r}, not a number; a "
                                    f"regressor needs numeric targets") from None
        return X, y
    return X, np.array(labels)


def _rows(path):
    """The non-blank rows of a CSV (or, when its first line holds a tab, a TSV) as lists of cells."""
    # utf-8-sig: drops the byte-order mark that Excel's "CSV UTF-8" writes (else the first cell begins with it)
    with open(path, newline="", encoding="utf-8-sig") as f:
        text = f.read()
    delimiter = "\t" if "\t" in text.split("\n", 1)[0] else ","
    rows = [row for row in csv.reader(text.splitlines(), delimiter=delimiter) if any(c.strip() for c in row)]
    if not rows:
        raise DataFileError(f"{path}: holds no rows")
    return rows


def read_column(path, column):
    """The column named ``column`` of a CSV with a header row, as a float64 array (forecast's series)."""
    path = os.fspath(path)
    _check_readable(path)
    rows = _rows(path)
    header = [h.strip() for h in rows[0]]
    if column not in header:
        raise DataFileError(f"{path}: has no column {column!r} (its header row names: {', '.join(header)})")
    k = header.index(column)
    values = np.empty(len(rows) - 1)
    for r, row in enumerate(rows[1:], 2):
        cell = row[k] if k < len(row) else ""
        try:
            values[r - 2] = float(cell)
        except ValueError:
            raise DataFileError(f"{path}: row {r}, column {column!r} is {cell.strip()!r}, not a number") from None
        if not np.isfinite(values[r - 2]):
            raise DataFileError(f"{path}: row {r}, column {column!r} is {cell.strip()!r}; a series to forecast "
                                f"needs every value")
    if len(values) == 0:
        raise DataFileError(f"{path}: has a header row and no values")
    return values
