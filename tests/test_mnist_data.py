"""Tests of the MNIST data side: IDX reading, finding the files, the sequential splits, and the downloader.

Every file is made here, in tmp_path; the downloader talks to an HTTP server on 127.0.0.1 started by the test.
Nothing reads this machine's own data folders.
"""
import gzip
import hashlib
import http.server
import re
import struct
import threading

import numpy as np
import pytest

from pytcn.tasks.download import download
from pytcn.tasks.mnist import (
    DATASETS,
    FILES,
    DataNotFoundError,
    find_data_dir,
    load_mnist,
    pixel_permutation,
    read_idx,
    sequential_mnist,
)
from tests.helpers import assert_close

IDX_CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.int32): 0x0C, np.dtype(np.float64): 0x0E}


def idx_bytes(a):
    """The IDX encoding of ``a``, written field by field (not by the reader's code)."""
    a = np.asarray(a)
    header = bytes([0, 0, IDX_CODES[a.dtype], a.ndim]) + b"".join(struct.pack(">I", s) for s in a.shape)
    return header + a.astype(a.dtype.newbyteorder(">")).tobytes()


def fake_dataset(n_train=60, n_test=20, seed=0):
    """Distinct images: pixel 0 of training image i is i, and the brightness grows with i, so that statistics
    taken over the wrong images show."""
    rng = np.random.default_rng(seed)
    x_train = (rng.integers(0, 128, (n_train, 28, 28)) + 2 * np.arange(n_train)[:, None, None]).astype(np.uint8)
    x_train[:, 0, 0] = np.arange(n_train)
    x_test = rng.integers(0, 256, (n_test, 28, 28)).astype(np.uint8)
    y_train = (np.arange(n_train) % 10).astype(np.uint8)
    y_test = rng.integers(0, 10, n_test).astype(np.uint8)
    return x_train, y_train, x_test, y_test


def dataset_files(arrays=None):
    """{file name: gzip-compressed IDX bytes} of a fake dataset."""
    arrays = fake_dataset() if arrays is None else arrays
    roles = ("train_images", "train_labels", "test_images", "test_labels")
    return {FILES[role]: gzip.compress(idx_bytes(a), mtime=0) for role, a in zip(roles, arrays)}


def write_dataset(folder, arrays=None):
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in dataset_files(arrays).items():
        (folder / name).write_bytes(data)
    return folder


def sha256(data):
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------------------------------------------- read_idx

@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("array", [
    np.arange(7, dtype=np.uint8),                                            # labels, 1-D
    np.random.default_rng(1).integers(0, 256, (3, 28, 28)).astype(np.uint8),  # images, 3-D
    np.arange(-6, 6, dtype=np.int32).reshape(3, 4),
    np.linspace(-1, 1, 5),
], ids=["labels-1d", "images-3d", "int32-2d", "float64-1d"])
def test_read_idx_round_trips(tmp_path, compress, array):
    data = idx_bytes(array)
    # the name never says gzip: compression is told by the magic bytes
    path = tmp_path / "file.idx"
    path.write_bytes(gzip.compress(data) if compress else data)
    out = read_idx(path)
    assert out.dtype == array.dtype and out.dtype.isnative
    assert out.shape == array.shape
    np.testing.assert_array_equal(out, array)


def raises_one_line(path, *patterns):
    """read_idx(path) raises a one-line ValueError naming the file and matching every regex of ``patterns``."""
    with pytest.raises(ValueError) as info:
        read_idx(path)
    message = str(info.value)
    assert str(path) in message and "\n" not in message, message
    for p in patterns:
        assert re.search(p, message), f"{p!r} not in {message!r}"


IMAGES = np.zeros((2, 3, 4), np.uint8)


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_read_idx_rejects_truncated_data(tmp_path, compress):
    data = idx_bytes(IMAGES)[:-5]
    path = tmp_path / "images.idx.gz"
    path.write_bytes(gzip.compress(data) if compress else data)
    raises_one_line(path, "truncated", r"2x3x4 = 24 bytes of data, found 19")


def test_read_idx_rejects_truncated_header(tmp_path):
    path = tmp_path / "header"
    path.write_bytes(idx_bytes(IMAGES)[:9])
    raises_one_line(path, "truncated", "header")


def test_read_idx_rejects_empty_file(tmp_path):
    path = tmp_path / "empty"
    path.write_bytes(b"")
    raises_one_line(path, "truncated")


def test_read_idx_rejects_trailing_bytes(tmp_path):
    path = tmp_path / "trailing"
    path.write_bytes(gzip.compress(idx_bytes(IMAGES) + b"\0\0\0"))
    raises_one_line(path, "trailing", r"24 bytes of data, found 27")


@pytest.mark.parametrize("magic, pattern", [
    (b"\x00\x01\x08\x03", "not an IDX file"),
    (b"\x00\x00\x07\x03", "unknown IDX data type 0x07"),
    (b"\x00\x00\x08\x00", "0 dimensions"),
], ids=["nonzero-lead", "unknown-type", "zero-dims"])
def test_read_idx_rejects_wrong_magic(tmp_path, magic, pattern):
    path = tmp_path / "magic"
    path.write_bytes(magic + idx_bytes(IMAGES)[4:])
    raises_one_line(path, pattern)


@pytest.mark.parametrize("content", [
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x1c\x00\x00\x00\x1c\x08\x00\x00\x00\x00",
    b"<html><body>404 Not Found</body></html>\n",
], ids=["png", "text"])
def test_read_idx_rejects_foreign_file(tmp_path, content):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(content)
    raises_one_line(path, "not an IDX file")


@pytest.mark.parametrize("damage", ["garbage", "cut"])
def test_read_idx_rejects_corrupt_gzip(tmp_path, damage):
    good = gzip.compress(idx_bytes(np.arange(200, dtype=np.uint8)))
    # garbage: a gzip header then bytes that are no deflate stream; cut: a stream that stops half way
    data = good[:10] + b"\xff" * 40 if damage == "garbage" else good[:len(good) // 2]
    path = tmp_path / "labels.gz"
    path.write_bytes(data)
    raises_one_line(path, "corrupt gzip")


# ------------------------------------------------------------------------------------------------ find_data_dir

@pytest.fixture
def places(tmp_path):
    """Every place find_data_dir looks at, each holding a fake dataset, with the arguments that point it there."""
    env_dir, cache, system = tmp_path / "env", tmp_path / "cache", tmp_path / "system" / "fashion-mnist"
    for folder in (tmp_path / "explicit", env_dir / "mnist", env_dir, cache / "mnist", system):
        write_dataset(folder)
    kwargs = dict(env={"PYTCN_DATA_DIR": str(env_dir)}, cache_dir=cache, system_dirs={"fashion-mnist": [system]})
    return tmp_path, kwargs


def remove_files(folder):
    for name in FILES.values():
        (folder / name).unlink()


def test_find_data_dir_looks_in_documented_order(places):
    root, kw = places
    assert find_data_dir("mnist", root / "explicit", **kw) == root / "explicit"
    assert find_data_dir("mnist", **kw) == root / "env" / "mnist"
    remove_files(root / "env" / "mnist")
    assert find_data_dir("mnist", **kw) == root / "env"
    remove_files(root / "env")
    assert find_data_dir("mnist", **kw) == root / "cache" / "mnist"
    remove_files(root / "cache" / "mnist")
    # the system folder is fashion-mnist's: mnist is now nowhere
    with pytest.raises(DataNotFoundError):
        find_data_dir("mnist", **kw)
    write_dataset(root / "cache" / "fashion-mnist")
    assert find_data_dir("fashion-mnist", **kw) == root / "cache" / "fashion-mnist"
    remove_files(root / "cache" / "fashion-mnist")
    assert find_data_dir("fashion-mnist", **kw) == root / "system" / "fashion-mnist"


def test_find_data_dir_reads_cache_location_from_xdg(tmp_path):
    folder = write_dataset(tmp_path / "xdg" / "pytcn" / "mnist")
    assert find_data_dir("mnist", env={"XDG_CACHE_HOME": str(tmp_path / "xdg")}, system_dirs={}) == folder


def test_find_data_dir_needs_all_four_files(places):
    root, kw = places
    (root / "env" / "mnist" / FILES["test_labels"]).unlink()
    assert find_data_dir("mnist", **kw) == root / "env"


def test_explicit_data_dir_without_files_is_an_error(places):
    root, kw = places
    empty = root / "empty"
    empty.mkdir()
    for folder in (empty, root / "does-not-exist"):
        with pytest.raises(DataNotFoundError) as info:
            find_data_dir("mnist", folder, **kw)
        message = str(info.value)
        assert str(folder) in message and "pytcn download mnist" in message
        # only the explicit folder was considered
        assert str(root / "env") not in message and str(root / "cache") not in message


def test_not_found_message_lists_every_place_and_the_remedies(tmp_path):
    env_dir, cache, system = tmp_path / "env", tmp_path / "cache", tmp_path / "sys" / "fashion-mnist"
    kw = dict(env={"PYTCN_DATA_DIR": str(env_dir)}, cache_dir=cache, system_dirs={"fashion-mnist": [system]})
    with pytest.raises(DataNotFoundError) as info:
        find_data_dir("fashion-mnist", **kw)
    assert isinstance(info.value, FileNotFoundError)
    message = str(info.value)
    for folder in (env_dir / "fashion-mnist", env_dir, cache / "fashion-mnist", system):
        assert str(folder) in message, f"{folder} missing from:\n{message}"
    assert "pytcn download fashion-mnist" in message
    assert "apt-get install dataset-fashion-mnist" in message

    with pytest.raises(DataNotFoundError) as info:
        find_data_dir("mnist", **kw)
    message = str(info.value)
    for folder in (env_dir / "mnist", env_dir, cache / "mnist"):
        assert str(folder) in message, f"{folder} missing from:\n{message}"
    assert "pytcn download mnist" in message and "apt-get" not in message
    assert "PYTCN_DATA_DIR" in message


def test_not_found_message_is_one_line_saying_how_to_get_the_files(tmp_path):
    # an error of pytcn is one line (the CLI prints it after "pytcn: error:"); the places and remedies stay in it
    kw = dict(env={}, cache_dir=tmp_path / "cache", system_dirs={"fashion-mnist": [tmp_path / "sys"]})
    for dataset, data_dir in (("mnist", None), ("fashion-mnist", None), ("mnist", tmp_path / "none")):
        with pytest.raises(DataNotFoundError) as info:
            find_data_dir(dataset, data_dir, **kw)
        message = str(info.value)
        assert "\n" not in message and f"pytcn download {dataset}" in message, message


def test_mnist_never_falls_back_to_fashion_mnist(places, monkeypatch):
    root, kw = places
    for folder in (root / "env" / "mnist", root / "cache" / "mnist"):
        remove_files(folder)
    # the default system folders hold fashion-mnist only
    kw_default_system = dict(kw, system_dirs=None)
    remove_files(root / "env")
    with pytest.raises(DataNotFoundError) as info:
        find_data_dir("mnist", **kw_default_system)
    assert "fashion-mnist" not in str(info.value).split("To get the files")[0]

    # same file names: a folder whose labels are fashion-mnist's known download is passed over for mnist
    write_dataset(root / "env")
    labels_digest = sha256((root / "env" / FILES["train_labels"]).read_bytes())
    monkeypatch.setitem(DATASETS["fashion-mnist"]["sha256"], FILES["train_labels"], (labels_digest,))
    with pytest.raises(DataNotFoundError, match="holds the files of fashion-mnist, not mnist"):
        find_data_dir("mnist", **kw)
    with pytest.raises(DataNotFoundError, match="holds the files of fashion-mnist"):
        find_data_dir("mnist", root / "env", **kw)
    assert find_data_dir("fashion-mnist", **kw) == root / "env"


def test_unknown_dataset_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="'mnist', 'fashion-mnist'.*'cifar'"):
        find_data_dir("cifar", tmp_path)


# ---------------------------------------------------------------------------------------- load_mnist, splits

def test_load_mnist_returns_uint8_images_and_int64_labels(tmp_path):
    arrays = fake_dataset()
    folder = write_dataset(tmp_path / "d", arrays)
    out = load_mnist("mnist", folder)
    for got, want, dtype in zip(out, arrays, (np.uint8, np.int64, np.uint8, np.int64)):
        assert got.dtype == dtype
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("compressed", [("train_images",), ()], ids=["some_compressed", "none_compressed"])
def test_uncompressed_files_are_found_and_read_as_the_compressed_ones(tmp_path, compressed):
    # the README says the files may be gzip-compressed or not: the names without .gz are looked for too
    arrays = fake_dataset()
    roles = ("train_images", "train_labels", "test_images", "test_labels")
    folder = tmp_path / "plain"
    folder.mkdir()
    for role, a in zip(roles, arrays):
        name = FILES[role]
        if role in compressed:
            (folder / name).write_bytes(gzip.compress(idx_bytes(a)))
        else:
            (folder / name[:-len(".gz")]).write_bytes(idx_bytes(a))
    assert find_data_dir("mnist", folder) == folder
    for got, want in zip(load_mnist("mnist", folder), arrays):
        np.testing.assert_array_equal(got, want)


def test_load_mnist_rejects_inconsistent_files(tmp_path):
    x_train, y_train, x_test, y_test = fake_dataset()
    folder = write_dataset(tmp_path / "count", (x_train, y_train[:-1], x_test, y_test))
    with pytest.raises(ValueError, match="60 images but .* 59 labels"):
        load_mnist("mnist", folder)
    bad = y_test.copy()
    bad[3] = 10
    folder = write_dataset(tmp_path / "range", (x_train, y_train, x_test, bad))
    with pytest.raises(ValueError, match=r"labels must be in 0\.\.9, found 10"):
        load_mnist("mnist", folder)
    folder = write_dataset(tmp_path / "shape", (x_train[:, :27], y_train, x_test, y_test))
    with pytest.raises(ValueError, match=r"\(n, 28, 28\)"):
        load_mnist("mnist", folder)


@pytest.fixture
def fake(tmp_path):
    arrays = fake_dataset()
    return write_dataset(tmp_path / "mnist", arrays), arrays


def expected_splits(arrays, seed, n_val, perm):
    """The documented construction, in float64 and by fancy indexing."""
    x_train, y_train, x_test, y_test = arrays
    n = len(x_train)
    order = np.random.default_rng(seed).permutation(n)
    tr, va = order[:n - n_val], order[n - n_val:]
    flat = x_train.reshape(n, 784).astype(np.float64)
    mean, std = flat[tr].mean(), flat[tr].std()
    def norm(images):
        return ((images.reshape(len(images), 784).astype(np.float64) - mean) / std)[:, perm, None]

    return {"train": (norm(x_train[tr]), y_train[tr]), "val": (norm(x_train[va]), y_train[va]),
            "test": (norm(x_test), y_test)}


@pytest.mark.parametrize("permute", [False, True])
def test_sequential_mnist_follows_documented_construction(fake, permute):
    folder, arrays = fake
    data = sequential_mnist("mnist", folder, permute=permute, seed=3, n_val=10)
    assert set(data) == {"train", "val", "test"}
    perm = np.random.default_rng(4).permutation(784) if permute else np.arange(784)
    want = expected_splits(arrays, 3, 10, perm)
    for split, n in (("train", 50), ("val", 10), ("test", 20)):
        x, y = data[split]
        assert x.shape == (n, 784, 1) and x.dtype == np.float32, (split, x.shape, x.dtype)
        assert y.shape == (n,) and y.dtype == np.int64, (split, y.shape, y.dtype)
        assert_close(x, want[split][0].astype(np.float32), what=f"x of {split}")
        np.testing.assert_array_equal(y, want[split][1])


def test_sequential_mnist_normalises_with_train_statistics(fake):
    folder, _ = fake
    data = sequential_mnist("mnist", folder, n_val=10)
    x_train = data["train"][0].astype(np.float64)
    assert abs(x_train.mean()) < 1e-5 and abs(x_train.std() - 1) < 1e-5
    # the brightness grows with the image index, so the validation images, a different subset, do not average 0
    assert abs(data["val"][0].mean()) > 1e-3


def test_sequential_mnist_splits_are_disjoint_and_cover_train(fake):
    folder, _ = fake
    data = sequential_mnist("mnist", folder, n_val=10, seed=5)
    # pixel 0 of training image i is i: identical raw values give identical normalised values
    ids = {split: data[split][0][:, 0, 0] for split in ("train", "val")}
    assert len(np.unique(ids["train"])) == 50 and len(np.unique(ids["val"])) == 10
    assert not np.intersect1d(ids["train"], ids["val"]).size
    assert len(np.unique(np.concatenate([ids["train"], ids["val"]]))) == 60
    # different seeds draw different validation sets; the same seed the same
    other = sequential_mnist("mnist", folder, n_val=10, seed=6)["val"][0][:, 0, 0]
    again = sequential_mnist("mnist", folder, n_val=10, seed=5)["val"][0][:, 0, 0]
    assert set(other) != set(ids["val"]) and np.array_equal(again, ids["val"])


def test_permutation_is_fixed_by_seed_and_shared_by_splits(fake):
    folder, _ = fake
    plain = sequential_mnist("mnist", folder, n_val=10, seed=2)
    permuted = sequential_mnist("mnist", folder, n_val=10, seed=2, permute=True)
    perm = pixel_permutation(2)
    np.testing.assert_array_equal(perm, np.random.default_rng(3).permutation(784))
    assert not np.array_equal(perm, np.arange(784))
    for split in ("train", "val", "test"):
        np.testing.assert_array_equal(permuted[split][0], plain[split][0][:, perm])
        np.testing.assert_array_equal(permuted[split][1], plain[split][1])
    np.testing.assert_array_equal(sequential_mnist("mnist", folder, n_val=10, seed=2, permute=True)["test"][0],
                                  permuted["test"][0])
    assert not np.array_equal(pixel_permutation(7), perm)


def test_unpermuted_sequence_is_the_image_in_row_major_order(fake):
    folder, (x_train, _, x_test, _) = fake
    x = sequential_mnist("mnist", folder, n_val=10)["test"][0]
    images = x[:, :, 0].reshape(-1, 28, 28).astype(np.float64)
    # an increasing affine map of the raw pixels: the pixel ranks of each image are unchanged
    slope, offset = np.polyfit(x_test.ravel().astype(np.float64), images.ravel(), 1)
    assert slope > 0
    assert_close(images, slope * x_test + offset, dtype=np.float32, what="normalised test images")


@pytest.mark.parametrize("n_val", [-1, 60, 2.5, True])
def test_sequential_mnist_rejects_bad_n_val(fake, n_val):
    folder, _ = fake
    with pytest.raises(ValueError, match="n_val"):
        sequential_mnist("mnist", folder, n_val=n_val)


# ------------------------------------------------------------------------------------------------- download

class Handler(http.server.BaseHTTPRequestHandler):
    """Serves ``server.files``; honours Range unless ``server.ignore_range``; with ``server.die_after`` set, sends
    the full Content-Length and then only that many bytes of the body before hanging up."""

    def do_GET(self):
        srv = self.server
        name = self.path.rsplit("/", 1)[-1]
        srv.requests.append((self.path, self.headers.get("Range")))
        if name not in srv.files:
            self.send_error(404)
            return
        data = srv.files[name]
        start, status = 0, 200
        match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        if match and not srv.ignore_range:
            start, status = int(match.group(1)), 206
            if start >= len(data):
                self.send_error(416)
                return
        body = data[start:]
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        if srv.die_after is not None:
            body = body[:srv.die_after]
        self.wfile.write(body)
        srv.sent.append((name, len(body)))

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    srv = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    srv.files, srv.requests, srv.sent = dataset_files(), [], []
    srv.ignore_range, srv.die_after = False, None
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}/data/"
    thread = threading.Thread(target=srv.serve_forever, kwargs=dict(poll_interval=0.05), daemon=True)
    thread.start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=5)
        assert not thread.is_alive()


def checksums_of(files):
    return {name: sha256(data) for name, data in files.items()}


def fetch(server, dest, **kw):
    return download("mnist", dest, server.url, checksums=checksums_of(server.files), timeout=5, **kw)


def test_download_fetches_verifies_and_skips_present_files(server, tmp_path):
    dest = tmp_path / "dl"
    seen = []
    assert fetch(server, dest, progress=lambda name, done, total: seen.append((name, done, total))) == dest
    assert sorted(p.name for p in dest.iterdir()) == sorted(FILES.values())
    for name, data in server.files.items():
        assert (dest / name).read_bytes() == data
        assert seen and (name, len(data), len(data)) in seen
    assert [r[1] for r in server.requests] == [None] * 4
    # the files load, and a second call finds them all present and verified: no request
    assert load_mnist("mnist", dest)[0].shape == (60, 28, 28)
    fetch(server, dest)
    assert len(server.requests) == 4


def test_download_rejects_checksum_mismatch(server, tmp_path):
    dest = tmp_path / "dl"
    checksums = checksums_of(server.files)
    name = FILES["train_images"]
    checksums[name] = "0" * 64
    with pytest.raises(ValueError) as info:
        download("mnist", dest, server.url, checksums=checksums, timeout=5)
    message = str(info.value)
    assert name in message and "0" * 64 in message and sha256(server.files[name]) in message
    assert not (dest / name).exists() and not (dest / (name + ".part")).exists()


def test_download_resumes_a_partial_file_with_range(server, tmp_path):
    dest = tmp_path / "dl"
    dest.mkdir()
    name = FILES["train_images"]
    data = server.files[name]
    half = len(data) // 2
    (dest / (name + ".part")).write_bytes(data[:half])
    fetch(server, dest)
    assert (f"/data/{name}", f"bytes={half}-") in server.requests
    assert (name, len(data) - half) in server.sent  # only the rest travelled
    assert (dest / name).read_bytes() == data and not (dest / (name + ".part")).exists()


def test_download_restarts_when_server_ignores_range(server, tmp_path):
    dest = tmp_path / "dl"
    dest.mkdir()
    name = FILES["test_labels"]
    # a stale .part that is not even a prefix of the file: appending to it would be wrong
    (dest / (name + ".part")).write_bytes(b"stale bytes")
    server.ignore_range = True
    fetch(server, dest)
    assert (f"/data/{name}", "bytes=11-") in server.requests
    assert (dest / name).read_bytes() == server.files[name]


def test_download_never_leaves_a_half_file_under_the_final_name(server, tmp_path):
    dest = tmp_path / "dl"
    name = FILES["train_images"]
    data = server.files[name]
    server.files = {name: data}  # the first file fetched
    server.die_after = len(data) // 3

    def progress(current, done, total):
        assert not (dest / current).exists(), f"{current} exists while only {done} of {total} bytes arrived"

    with pytest.raises(ConnectionError) as info:
        download("mnist", dest, server.url, progress, checksums=checksums_of(dataset_files()), timeout=5)
    message = str(info.value)
    assert server.url + name in message and "\n" not in message
    assert [p.name for p in dest.iterdir()] == [name + ".part"]
    assert (dest / (name + ".part")).read_bytes() == data[:len(data) // 3]

    # the next call, against a healthy server, resumes from the .part
    server.files, server.die_after = dataset_files(), None
    download("mnist", dest, server.url, progress, checksums=checksums_of(server.files), timeout=5)
    assert (f"/data/{name}", f"bytes={len(data) // 3}-") in server.requests
    assert (dest / name).read_bytes() == data


def test_download_reports_http_errors_with_the_url(server, tmp_path):
    del server.files[FILES["train_labels"]]
    with pytest.raises(ConnectionError, match=re.escape(server.url + FILES["train_labels"]) + ".*404"):
        download("mnist", tmp_path, server.url, checksums=checksums_of(dataset_files()), timeout=5)


def test_download_refuses_to_overwrite_a_foreign_final_file(server, tmp_path):
    name = FILES["train_images"]
    (tmp_path / name).write_bytes(b"someone else's file")
    with pytest.raises(ValueError, match="already exists"):
        fetch(server, tmp_path)
    assert (tmp_path / name).read_bytes() == b"someone else's file"


def test_download_refuses_unverified_files(tmp_path):
    checksums = {name: "0" * 64 for name in FILES.values()}
    checksums[FILES["test_images"]] = None
    with pytest.raises(ValueError, match="unverified"):
        download("mnist", tmp_path, "http://127.0.0.1:9/", checksums=checksums)
    assert not list(tmp_path.iterdir())


def test_download_reads_mirror_and_cache_from_environment(server, tmp_path):
    env = {"PYTCN_MNIST_MIRROR": server.url.rstrip("/"), "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    dest = download("mnist", checksums=checksums_of(server.files), env=env, timeout=5)
    assert dest == tmp_path / "xdg" / "pytcn" / "mnist"
    assert find_data_dir("mnist", env=env, system_dirs={}) == dest
    assert len(server.requests) == 4


def test_known_checksums_are_complete():
    for dataset, spec in DATASETS.items():
        assert set(spec["sha256"]) == set(FILES.values()), dataset
        for digests in spec["sha256"].values():
            assert digests and all(re.fullmatch("[0-9a-f]{64}", d) for d in digests), (dataset, digests)
