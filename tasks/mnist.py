"""Sequential MNIST and Fashion-MNIST: the IDX files, where to find them, and the splits a TCN trains on.

Each 28x28 image is read as a sequence of T = 784 pixels, one channel, in row-major order (left to right, top to
bottom); the model must name the class after the last pixel (Le, Jaitly & Hinton 2015; Bai, Kolter & Koltun 2018).
With ``permute=True`` the pixels are first shuffled by one fixed permutation, which destroys the local structure a
convolution could exploit and leaves only long-range dependencies.

The data are four IDX files per dataset (see `read_idx`), gzip-compressed as downloaded (``*-ubyte.gz``) or not
(the same names without ``.gz``). They are looked for, in order, in:

    1. the folder given as ``data_dir`` (and then only there)
    2. $PYTCN_DATA_DIR/<dataset>, then $PYTCN_DATA_DIR itself
    3. the per-user cache ${XDG_CACHE_HOME:-~/.cache}/pytcn/<dataset>   (where `pytcn download` puts them)
    4. for fashion-mnist only: /usr/share/datasets/fashion-mnist       (Debian's package dataset-fashion-mnist)

A folder whose training labels are, byte for byte, the other dataset's is passed over: asking for MNIST never
returns Fashion-MNIST, whose files have the same names.
"""
import gzip
import hashlib
import os
import zlib
from pathlib import Path

import numpy as np

#: the four files of each dataset, by role
FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}

#: per dataset: the default mirror, the environment variable that overrides it, and for each file the sha256
#: digests accepted (a tuple: the mirror's file first, then known repacks of the same data).
DATASETS = {
    # MNIST (LeCun, Cortes & Burges). Digests and sizes as tensorflow/datasets lists them for the same files in
    # tensorflow_datasets/url_checksums/mnist.txt (commit 31f1255e57e5), and as independent projects pin them for
    # ossci-datasets.s3.amazonaws.com/mnist/ and yann.lecun.com/exdb/mnist/ (the three mirrors serve equal bytes).
    "mnist": {
        "url": "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "mirror_env": "PYTCN_MNIST_MIRROR",
        "sha256": {
            "train-images-idx3-ubyte.gz": ("440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",),
            "train-labels-idx1-ubyte.gz": ("3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",),
            "t10k-images-idx3-ubyte.gz": ("8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",),
            "t10k-labels-idx1-ubyte.gz": ("f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",),
        },
    },
    # Fashion-MNIST (Xiao, Rasul & Vollgraf 2017). First digest: the mirror's files, as tensorflow/datasets lists
    # them in tensorflow_datasets/url_checksums/fashion_mnist.txt. Second: Debian's package dataset-fashion-mnist
    # (0.0~git20200523.55506a9-1), computed here with sha256sum on /usr/share/datasets/fashion-mnist/*. Debian
    # re-wrote the gzip headers (no file name, a 2020 time stamp: each file is exactly len(name) + 1 bytes
    # shorter than the mirror's), so the compressed bytes differ while the images and labels are the same.
    "fashion-mnist": {
        "url": "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "mirror_env": "PYTCN_FASHION_MNIST_MIRROR",
        "sha256": {
            "train-images-idx3-ubyte.gz": ("3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
                                           "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7"),
            "train-labels-idx1-ubyte.gz": ("a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
                                           "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056"),
            "t10k-images-idx3-ubyte.gz": ("346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
                                          "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa"),
            "t10k-labels-idx1-ubyte.gz": ("67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
                                          "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05"),
        },
    },
}

#: folders installed by system packages, per dataset; MNIST has none (Debian does not package it)
SYSTEM_DIRS = {"fashion-mnist": (Path("/usr/share/datasets/fashion-mnist"),)}

#: the pixels of one image, i.e. the time steps T of one sequence
N_PIXELS = 28 * 28
N_CLASSES = 10

# IDX type code -> big-endian NumPy dtype (http://yann.lecun.com/exdb/mnist/, "THE IDX FILE FORMAT")
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


class DataNotFoundError(FileNotFoundError):
    """None of the places searched holds the four files of the dataset; the message lists them all."""


class SplitError(ValueError):
    """A validation split that the training images cannot give; ``available`` is their number."""

    def __init__(self, available, message):
        super().__init__(message)
        self.available = available


class DataError(ValueError):
    """A data file that is not what it should be (damaged, truncated, foreign, a wrong checksum); the message names
    the file and what is wrong with it, in one line."""


# ----------------------------------------------------------------------------------------------------- IDX files

def read_idx(path):
    """The array stored in the IDX file ``path``, gzip-compressed or not (told apart by the first two bytes,
    1f 8b, never by the name).

    An IDX file is a header and the data, big-endian:

        bytes 0-1       0x00 0x00
        byte  2         the type: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64
        byte  3         the number of dimensions D
        4 bytes each    the D sizes, uint32
        the data        prod(sizes) values, row-major

    Returns an array of shape (size_0, ..., size_{D-1}) in native byte order. Raises ValueError, one line that
    names the file, when the file is not exactly that: a foreign or damaged header, a truncated file, trailing
    bytes, or a corrupt gzip stream.
    """
    path = Path(path)
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:  # BadGzipFile is an OSError; a cut stream is an EOFError
            raise DataError(f"{path}: corrupt gzip stream: {e}") from None
    if len(raw) < 4:
        raise DataError(f"{path}: truncated: {len(raw)} bytes, shorter than the 4-byte IDX magic number")
    if raw[0] != 0 or raw[1] != 0:
        raise DataError(f"{path}: not an IDX file: it starts with bytes {raw[:4].hex(' ')}, "
                         f"an IDX file with 00 00 <type> <dimensions>")
    type_code, ndim = raw[2], raw[3]
    if type_code not in _IDX_TYPES:
        known = ", ".join(f"0x{c:02X}" for c in _IDX_TYPES)
        raise DataError(f"{path}: unknown IDX data type 0x{type_code:02X} in magic number {raw[:4].hex(' ')} "
                         f"(known: {known})")
    if ndim == 0:
        raise DataError(f"{path}: IDX magic number {raw[:4].hex(' ')} says 0 dimensions")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: truncated: the header of {ndim} dimensions needs {header} bytes, "
                         f"found {len(raw)}")
    shape = tuple(int(s) for s in np.frombuffer(raw, ">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_TYPES[type_code])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    found = len(raw) - header
    if found != expected:
        what = "truncated" if found < expected else "trailing bytes"
        raise DataError(f"{path}: {what}: header says {'x'.join(map(str, shape))} = {expected} bytes of data, "
                         f"found {found}")
    return np.frombuffer(raw, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


# ------------------------------------------------------------------------------------------- finding the files

def _check_dataset(dataset):
    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {', '.join(map(repr, DATASETS))}; got {dataset!r}")


def cache_root(env=None):
    """The per-user cache of pytcn, ${XDG_CACHE_HOME:-~/.cache}/pytcn (``env``: a mapping, default os.environ)."""
    env = os.environ if env is None else env
    base = env.get("XDG_CACHE_HOME") or ""
    # the XDG spec says a relative XDG_CACHE_HOME is invalid and must be ignored
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".cache"
    return root / "pytcn"


def default_cache_dir(dataset, env=None):
    """Where `download` puts ``dataset`` unless told otherwise: ``cache_root(env) / dataset``."""
    _check_dataset(dataset)
    return cache_root(env) / dataset


def sha256(path):
    """The SHA-256 of a file, read in blocks of 1 MiB (also what a `pytcn fit` run keeps of its data file)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def data_file(folder, name):
    """The file ``name`` (a name of FILES, ending in .gz) in ``folder``, compressed or not: ``folder/name`` if it
    exists, else the same name without .gz if that exists, else None."""
    for path in (Path(folder) / name, Path(folder) / name[:-len(".gz")]):
        if path.is_file():
            return path
    return None


def _why_not(folder, dataset):
    """None when ``folder`` holds the four files of ``dataset``, else a few words saying why not."""
    if not folder.is_dir():
        return "no such folder"
    missing = [name for name in FILES.values() if data_file(folder, name) is None]
    if missing:
        return "no " + ", ".join(f"{name} (or {name[:-3]})" for name in missing)
    # MNIST and Fashion-MNIST share their file names: tell them apart by the small labels file, which is
    # recognised only when it is one of the known downloads (files made for tests are neither, and nor are
    # uncompressed copies: their bytes are not the downloads')
    digest = sha256(data_file(folder, FILES["train_labels"]))
    for other, spec in DATASETS.items():
        if other != dataset and digest in spec["sha256"][FILES["train_labels"]]:
            return f"holds the files of {other}, not {dataset}"
    return None


def _how_to_get(dataset):
    """The ways to get the files, as one sentence: an error of pytcn is one line (a terminal wraps it)."""
    ways = [f"pytcn download {dataset} (needs internet: puts the files in the per-user cache)"]
    if dataset == "fashion-mnist":
        ways.append("apt-get install dataset-fashion-mnist (Debian, offline: /usr/share/datasets/fashion-mnist)")
    ways.append("put the four files in a folder and pass it as data_dir (--data-dir on the command line), or set "
                "PYTCN_DATA_DIR")
    return "; or ".join(ways)


def find_data_dir(dataset, data_dir=None, *, env=None, cache_dir=None, system_dirs=None):
    """The first folder holding the four files of ``dataset`` ("mnist" or "fashion-mnist").

    Looks in ``data_dir`` if given, and then nowhere else; otherwise in $PYTCN_DATA_DIR/<dataset>,
    $PYTCN_DATA_DIR, ``cache_dir``/<dataset> and the system folders of the dataset, in that order. Never returns
    the other dataset's files (see the module docstring).

    The places are injectable for tests: ``env`` (a mapping, default os.environ) supplies PYTCN_DATA_DIR and
    XDG_CACHE_HOME; ``cache_dir`` is the cache root (default ``cache_root(env)``); ``system_dirs`` maps a dataset
    to its system folders (default SYSTEM_DIRS).

    Raises DataNotFoundError listing every place looked at, why each failed, and how to get the files.
    """
    _check_dataset(dataset)
    names = ", ".join(FILES.values())
    if data_dir is not None:
        folder = Path(data_dir).expanduser()
        why = _why_not(folder, dataset)
        if why is None:
            return folder
        raise DataNotFoundError(f"data_dir={str(data_dir)!r} does not hold {dataset} ({why}); it needs the four "
                                f"files {names}. To get them: {_how_to_get(dataset)}")
    env = os.environ if env is None else env
    cache_dir = cache_root(env) if cache_dir is None else Path(cache_dir)
    system_dirs = SYSTEM_DIRS if system_dirs is None else system_dirs
    places = []
    if env.get("PYTCN_DATA_DIR"):
        base = Path(env["PYTCN_DATA_DIR"]).expanduser()
        places += [(base / dataset, "$PYTCN_DATA_DIR/<dataset>"), (base, "$PYTCN_DATA_DIR")]
    places.append((cache_dir / dataset, "per-user cache"))
    places += [(Path(folder), "system package") for folder in system_dirs.get(dataset, ())]
    looked = []
    for folder, role in places:
        why = _why_not(folder, dataset)
        if why is None:
            return folder
        looked.append(f"{folder} ({role}: {why})")
    if not env.get("PYTCN_DATA_DIR"):
        looked.append("$PYTCN_DATA_DIR (not set)")
    raise DataNotFoundError(f"{dataset} not found: no folder holds all of {names}. Looked in: {'; '.join(looked)}. "
                            f"To get the files: {_how_to_get(dataset)}")


# -------------------------------------------------------------------------------------------- loading, splits

def _images_and_labels(folder, images_name, labels_name):
    images_path, labels_path = data_file(folder, images_name), data_file(folder, labels_name)
    images_name, labels_name = images_path.name, labels_path.name
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise DataError(f"{folder / images_name}: expected uint8 images of shape (n, 28, 28), "
                         f"got {images.dtype} {images.shape}")
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise DataError(f"{folder / labels_name}: expected uint8 labels of shape (n,), "
                         f"got {labels.dtype} {labels.shape}")
    if len(images) != len(labels):
        raise DataError(f"{folder}: {images_name} holds {len(images)} images but {labels_name} "
                         f"{len(labels)} labels")
    if labels.size and labels.max() >= N_CLASSES:
        raise DataError(f"{folder / labels_name}: labels must be in 0..{N_CLASSES - 1}, found {labels.max()}")
    return images, labels.astype(np.int64)


def load_mnist(dataset="mnist", data_dir=None):
    """The raw dataset: x_train (n_train, 28, 28) uint8, y_train (n_train,) int64, x_test, y_test likewise.

    The folder is chosen by `find_data_dir`. The files are checked for structure (see `read_idx`; image and label
    counts agree; labels in 0..9), not against checksums, so that any faithful copy of the data loads.
    """
    folder = find_data_dir(dataset, data_dir)
    x_train, y_train = _images_and_labels(folder, FILES["train_images"], FILES["train_labels"])
    x_test, y_test = _images_and_labels(folder, FILES["test_images"], FILES["test_labels"])
    return x_train, y_train, x_test, y_test


def pixel_permutation(seed=0):
    """The pixel order of permuted sequential MNIST for ``seed``: ``np.random.default_rng(seed + 1)
    .permutation(784)``. Step t of a permuted sequence is pixel ``perm[t]`` of the row-major image."""
    return np.random.default_rng(seed + 1).permutation(N_PIXELS)


def sequential_mnist(dataset="mnist", data_dir=None, permute=False, seed=0, n_val=5000):
    """The splits of (permuted) sequential MNIST: {"train": (x, y), "val": (x, y), "test": (x, y)}.

    x: (n, 784, 1) float32, y: (n,) int64. Built exactly so:

        order = np.random.default_rng(seed).permutation(n_train)     # n_train = 60000 for the real files
        train = order[:n_train - n_val]      (in this shuffled order)
        val   = order[n_train - n_val:]      (the last n_val after the shuffle)
        test  = the 10000 test images, in file order
        mean, std = of all pixels of the train split only (not val, not test), as floats
        x = (pixels - mean) / std            for every split
        if permute: x = x[:, pixel_permutation(seed), :]   (perm from default_rng(seed + 1), the same for all)

    The training code may take the first k of a split: train is shuffled, so its first k are a random subset.
    """
    x_train, y_train, x_test, y_test = load_mnist(dataset, data_dir)
    n_train = len(x_train)
    if isinstance(n_val, bool) or not isinstance(n_val, (int, np.integer)) or not 0 <= n_val < n_train:
        raise SplitError(n_train, f"n_val must be an integer in [0, {n_train}) (the training images are split into "
                                  f"train and validation); got {n_val!r}")
    order = np.random.default_rng(seed).permutation(n_train)
    split_idx = {"train": order[:n_train - n_val], "val": order[n_train - n_val:]}
    train_pixels = x_train[split_idx["train"]]
    mean = float(train_pixels.mean(dtype=np.float64))
    std = float(train_pixels.std(dtype=np.float64))
    if std == 0.0:
        raise DataError(f"{dataset}: every training pixel equals {mean}: cannot normalise by a std of 0")
    perm = pixel_permutation(seed) if permute else np.arange(N_PIXELS)

    def as_sequences(images):  # (n, 28, 28) uint8 -> (n, 784, 1) float32, normalised, pixels in order perm
        x = images.reshape(len(images), N_PIXELS)[:, perm].astype(np.float32)
        x -= np.float32(mean)
        x /= np.float32(std)
        return x.reshape(len(images), N_PIXELS, 1)

    return {
        "train": (as_sequences(train_pixels), y_train[split_idx["train"]]),
        "val": (as_sequences(x_train[split_idx["val"]]), y_train[split_idx["val"]]),
        "test": (as_sequences(x_test), y_test),
    }
