"""Downloads the four files of MNIST or Fashion-MNIST, checked against their sha256, with the standard library only.

Each file is fetched into ``NAME.part`` and becomes ``NAME`` only once it is complete and its sha256 is right:

    NAME.part exists?  -- yes -->  GET with "Range: bytes=<size>-"  --> 206: append the rest
          |                                                        --> 200 (Range ignored): start over
          no --> GET, write from byte 0
    then: fsync NAME.part; sha256 right? -- yes --> os.replace(NAME.part, NAME)
                                         -- no  --> delete NAME.part, ValueError

So an interrupted download resumes where it stopped, and nothing half-written ever stands under the final name. The
command that runs it is ``pytcn download {mnist,fashion-mnist} [--dir DIR] [--base-url URL]``.
"""
import http.client
import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from .mnist import DATASETS, FILES, DataError, _check_dataset, default_cache_dir, sha256

_CHUNK = 1 << 16


def _url_error(url, e):
    """One line naming the URL, for any failure of the network or the server."""
    if isinstance(e, urllib.error.HTTPError):
        return ConnectionError(f"{url}: HTTP {e.code} {e.reason}")
    reason = e.reason if isinstance(e, urllib.error.URLError) else e
    return ConnectionError(f"{url}: {type(reason).__name__}: {reason}".rstrip(": "))


def _fetch(url, part, timeout, progress, name):
    """Completes ``part`` with the bytes of ``url``, resuming from its current size when the server allows it."""
    offset = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={offset}-"} if offset else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            problem = _save(response, offset, part, progress, name)
    except urllib.error.HTTPError as e:
        if e.code == 416 and offset:  # nothing left after offset: the .part may already be complete
            return
        raise _url_error(url, e) from None
    # network failures only: an error writing the .part (a full disk) goes up as it is, naming the file
    except (urllib.error.URLError, http.client.HTTPException, TimeoutError, ConnectionError) as e:
        raise _url_error(url, e) from None
    if problem:
        raise ConnectionError(f"{url}: {problem}")


def _save(response, offset, part, progress, name):
    """Writes the body of ``response`` into ``part``: appended after ``offset`` bytes when the server answered a
    Range request, else from the start. Returns None, or what went wrong."""
    if offset and response.status == 206:
        content_range = response.headers.get("Content-Range", "")
        if not content_range.startswith(f"bytes {offset}-"):
            return f"asked for bytes {offset}- and got Content-Range {content_range!r}"
        mode = "ab"
    elif response.status == 200:
        offset, mode = 0, "wb"  # a fresh download, or a server that ignores Range: start over
    else:
        return f"unexpected HTTP {response.status} {response.reason}"
    length = response.headers.get("Content-Length")
    length = int(length) if length is not None else None
    total = offset + length if length is not None else None
    received = 0
    with open(part, mode) as f:
        try:
            for block in iter(lambda: response.read(_CHUNK), b""):
                f.write(block)
                received += len(block)
                if progress is not None:
                    progress(name, offset + received, total)
        finally:  # what arrived is kept, for the next call to resume from
            f.flush()
            os.fsync(f.fileno())
    # http.client ends a read quietly when the server closes early: count the bytes ourselves
    if length is not None and received != length:
        return f"connection closed after {received} of {length} bytes; run again to resume from {part}"
    return None


def download(dataset, dest_dir=None, base_url=None, progress=None, *, checksums=None, env=None, timeout=60):
    """Fetches the four files of ``dataset`` into ``dest_dir`` and returns that folder.

    dest_dir: default ``default_cache_dir(dataset)``, i.e. ${XDG_CACHE_HOME:-~/.cache}/pytcn/<dataset>, the
        place `tasks.mnist.find_data_dir` looks at.
    base_url: the mirror, to which each file name is appended; default the environment variable named by
        ``DATASETS[dataset]["mirror_env"]`` (PYTCN_MNIST_MIRROR or PYTCN_FASHION_MNIST_MIRROR), else
        ``DATASETS[dataset]["url"]``.
    progress: None or a callable ``progress(name, bytes_done, bytes_total_or_None)``, called after every block.
    checksums: {file name: sha256 hex digest, or a tuple of accepted digests}; default
        ``DATASETS[dataset]["sha256"]``. Every file must have one: nothing is accepted unverified.
    env: a mapping standing for os.environ (for tests).

    A file already present with an accepted digest is not fetched again; one present with another digest is an
    error (it was not put there by this function, which only ever renames verified files). Raises ValueError on a
    checksum mismatch (naming the file, expected and actual digests; the .part is deleted) and ConnectionError,
    naming the URL, when the network or the server fails (the .part is kept, to resume).
    """
    _check_dataset(dataset)
    env = os.environ if env is None else env
    spec = DATASETS[dataset]
    checksums = spec["sha256"] if checksums is None else checksums
    dest = default_cache_dir(dataset, env) if dest_dir is None else Path(dest_dir).expanduser()
    if base_url is not None and urllib.parse.urlsplit(str(base_url)).scheme not in ("http", "https", "file"):
        raise ValueError(f"base_url must be an http://, https:// or file:// address, got {base_url!r}")
    base_url = base_url or env.get(spec["mirror_env"]) or spec["url"]
    if not base_url.endswith("/"):
        base_url += "/"
    for name in FILES.values():
        if not checksums.get(name):
            raise ValueError(f"no sha256 given for {name}: refusing to download it unverified")
    dest.mkdir(parents=True, exist_ok=True)
    for name in FILES.values():
        accepted = checksums[name]
        accepted = (accepted,) if isinstance(accepted, str) else tuple(accepted)
        final, part = dest / name, dest / (name + ".part")
        if final.exists():
            actual = sha256(final)
            if actual in accepted:
                continue
            raise DataError(f"{final}: already exists with sha256 {actual}, expected {' or '.join(accepted)}; "
                             f"delete it and download again")
        url = base_url + name
        _fetch(url, part, timeout, progress, name)
        actual = sha256(part)
        if actual not in accepted:
            part.unlink()
            raise DataError(f"{name} from {url}: sha256 mismatch: expected {' or '.join(accepted)}, got {actual} "
                             f"(deleted {part})")
        os.replace(part, final)
    # make the renames themselves durable, not only the files' contents
    fd = os.open(dest, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return dest
