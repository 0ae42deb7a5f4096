"""Checkpoints: one ``.npz`` file holding everything a run needs to continue exactly where it stopped.

Inside the archive (plain arrays only: it is read with ``allow_pickle=False``, so loading can never run code):

    format                 "pytcn-checkpoint-1"
    meta                   JSON text: the run's full configuration (model and training), step, epoch, batch
                           position, the random generators' states, and the metrics so far
    param/<name>           every model parameter, under its state_dict name
    adam_m/<name>, adam_v/<name>    Adam's moment estimates (when the optimizer is Adam)

Writing is atomic: the archive goes to a temporary file in the same folder, is flushed to disk, and only then
renamed over the old checkpoint, so a crash mid-write leaves the previous checkpoint whole.
"""
import json
import os
import tempfile
import zipfile

import numpy as np

FORMAT = "pytcn-checkpoint-1"


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: missing, corrupt, truncated, foreign, or for another architecture."""


def save_checkpoint(path, params, meta, adam_m=None, adam_v=None):
    """Writes params (name -> array), optional Adam moments, and ``meta`` (JSON-serialisable) to ``path``."""
    arrays = {"format": np.array(FORMAT), "meta": np.array(json.dumps(meta))}
    arrays.update({f"param/{name}": p for name, p in params.items()})
    if adam_m is not None:
        arrays.update({f"adam_m/{name}": a for name, a in adam_m.items()})
        arrays.update({f"adam_v/{name}": a for name, a in adam_v.items()})
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def load_checkpoint(path):
    """Returns (meta, params, adam_m, adam_v) (the Adam dicts empty when none were saved).

    Raises CheckpointError, with one line naming the file and the problem, for anything that is not a whole pytcn
    checkpoint.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        with np.load(path, allow_pickle=False) as archive:
            names = set(archive.files)
            if "format" not in names or "meta" not in names:
                raise CheckpointError(f"{path}: not a pytcn checkpoint (no format/meta entries)")
            fmt = str(archive["format"])
            if fmt != FORMAT:
                raise CheckpointError(f"{path}: unsupported checkpoint format {fmt!r} (this pytcn reads {FORMAT!r})")
            meta = json.loads(str(archive["meta"]))
            groups = {"param": {}, "adam_m": {}, "adam_v": {}}
            for key in names - {"format", "meta"}:
                group, _, name = key.partition("/")
                if group not in groups:
                    raise CheckpointError(f"{path}: unexpected entry {key!r}")
                groups[group][name] = archive[key]
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError) as e:
        # np.load raises these for truncated, corrupt or non-npz files (and ValueError for pickled content)
        raise CheckpointError(f"{path}: corrupt or truncated checkpoint ({type(e).__name__}: {e})") from None
    if not isinstance(meta, dict) or "config" not in meta:
        raise CheckpointError(f"{path}: checkpoint metadata has no run configuration")
    return meta, groups["param"], groups["adam_m"], groups["adam_v"]
