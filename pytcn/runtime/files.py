"""Writing files whole or not at all: the one way pytcn writes a file (checkpoints, metrics, figures, results)."""
import os
import secrets

from . import validate


def nearest_existing(path):
    """``path`` made absolute, or the nearest folder above it that exists: where making ``path`` would start (a file
    there means no folder can be made below it)."""
    above = os.path.abspath(path)
    while not os.path.exists(above):
        above = os.path.dirname(above)
    return above


def folder_for(path, make=False):
    """Checks that the file ``path`` can be written: not a folder, in a writable folder (made first, with those above
    it, when ``make``). Raises IsADirectoryError, NotADirectoryError, FileNotFoundError or PermissionError naming
    ``path`` as given, before any work and before a temporary file would be named in the message."""
    path = validate.file_path("path", path)
    if os.path.isdir(path):
        raise IsADirectoryError(f"{path}: names a folder; a file name is needed")
    folder = os.path.dirname(os.path.abspath(path))
    above = nearest_existing(folder)
    if not os.path.isdir(above):
        raise NotADirectoryError(f"{path}: {above} is a file, not a folder")
    if above != folder:
        if not make:
            raise FileNotFoundError(f"{path}: its folder {folder} does not exist")
        os.makedirs(folder, exist_ok=True)
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PermissionError(f"{path}: its folder {folder} is not writable")
    return folder


def write_atomic(path, write, mode="wb"):
    """Writes ``path`` through ``write(f)``, a function given the open file, so that the file is either its old
    self or whole: ``write`` fills a temporary file in the same folder, which is flushed to disk and only then
    renamed over ``path`` (a rename within one file system is atomic). A crash, a full disk or an exception in
    ``write`` leaves ``path`` as it was and removes the temporary file.

    The file gets the permissions a plain ``open`` would give it (0o666 less the umask), not the 0o600 of
    ``tempfile.mkstemp``. ``mode`` is "wb" or "w"."""
    path = os.fspath(path)
    folder = folder_for(path)
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{secrets.token_hex(6)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask applies, as for open()
    except OSError as e:  # a disk without a free inode fails here: say which file was meant, as below
        e.filename = path
        raise
    try:
        with os.fdopen(fd, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        if os.path.exists(tmp):
            os.remove(tmp)
        if isinstance(e, OSError) and e.errno is not None and e.filename in (None, tmp):  # a full disk names no
            e.filename = path  # file, and the temporary one means nothing to the user: say which file it was
        raise


def new_figure(figsize):
    """A matplotlib Figure of its own, outside pyplot: the library never changes the caller's backend, nor keeps
    figures open in pyplot's list (a notebook shows a returned Figure as any other)."""
    from matplotlib.figure import Figure

    return Figure(figsize=figsize)


def save_figure(fig, path, fmt="png", dpi=110):
    """Saves a matplotlib Figure to ``path`` atomically, making its folder; returns the path."""
    folder_for(path, make=True)
    write_atomic(path, lambda f: fig.savefig(f, format=fmt, dpi=dpi))
    return path
