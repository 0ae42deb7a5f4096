"""Checkpoints: one ``.npz`` file holding everything a run needs to continue exactly where it stopped.

Inside the archive (plain arrays only: it is read with ``allow_pickle=False``, so loading can never run code):

    format                 "pytcn-checkpoint-1"
    meta                   JSON text: the model's configuration (``model``: the arguments of TCN), and for a training
                           run the run's full configuration (``config``), step, epoch, batch position, the running
                           sums of the epoch in progress, the random generators' states, and the metrics so far
    param/<name>           every model parameter, under its state_dict name
    adam_m/<name>, adam_v/<name>    Adam's moment estimates (when the optimizer is Adam)

A saved model (``model.save(path)``, ``pytcn.load_model(path)``: pytcn/nn/saving.py) is the same archive with the
model's configuration and parameters only. Writing is atomic (pytcn/runtime/files.py): the archive goes to a temporary
file in the same folder, is flushed to disk, and only then renamed over the old checkpoint, so a crash mid-write leaves
the previous one whole.
"""
import json
import os
import tokenize
import zipfile
import zlib

import numpy as np

from . import validate
from .files import folder_for, write_atomic

FORMAT = "pytcn-checkpoint-1"

#: what np.load and zipfile raise for a truncated, corrupt, encrypted or compressed-and-damaged archive (besides a
#: ValueError, which each reader words itself)
DAMAGED_ARCHIVE = (zipfile.BadZipFile, EOFError, OSError, KeyError, RuntimeError, NotImplementedError, SyntaxError,
                   zlib.error, tokenize.TokenError)


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: missing, corrupt, truncated, foreign, or for another architecture."""


def save_checkpoint(path, params, meta, adam_m=None, adam_v=None):
    """Writes params (name -> array), optional Adam moments, and ``meta`` (JSON-serialisable) to ``path``."""
    path = validate.file_path("path", path)
    arrays = {"format": np.array(FORMAT), "meta": np.array(json.dumps(meta))}
    arrays.update({f"param/{name}": p for name, p in params.items()})
    if adam_m is not None:
        arrays.update({f"adam_m/{name}": a for name, a in adam_m.items()})
        arrays.update({f"adam_v/{name}": a for name, a in adam_v.items()})
    folder_for(path, make=True)
    write_atomic(path, lambda f: np.savez(f, **arrays))


def load_checkpoint(path):
    """Returns (meta, params, adam_m, adam_v) of a pytcn file, a training run's checkpoint or a saved model (the Adam
    dicts empty when none were saved). ``path`` may be a run's folder, holding checkpoint.npz.

    Raises CheckpointError, with one line naming the file and the problem, for anything that is not a whole pytcn
    file.
    """
    path = validate.file_path("path", path)
    if os.path.isdir(path):
        inside = os.path.join(path, "checkpoint.npz")
        if not os.path.isfile(inside):
            raise CheckpointError(f"{path}: is a folder without a checkpoint.npz (give a checkpoint file or a run's "
                                  f"folder)")
        path = inside
    if not os.path.exists(path):
        raise CheckpointError(f"{path}: no such checkpoint file")
    if not os.access(path, os.R_OK):  # is_zipfile below would swallow the PermissionError and blame the content
        raise CheckpointError(f"{path}: cannot be read (permission denied)")
    if not zipfile.is_zipfile(path):
        raise CheckpointError(f"{path}: not a pytcn checkpoint (not an .npz archive; truncated or another kind of "
                              f"file)")
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
    except ValueError as e:
        if "allow_pickle" in str(e):  # an entry of pickled objects: never unpickled, so never run
            raise CheckpointError(f"{path}: holds pickled Python objects, which pytcn never loads (a pytcn "
                                  f"checkpoint holds plain arrays only)") from None
        raise CheckpointError(f"{path}: corrupt or truncated checkpoint ({type(e).__name__}: {e})") from None
    except RecursionError:  # JSON nested deeper than Python's stack: never written by pytcn
        raise CheckpointError(f"{path}: corrupt checkpoint (its metadata is nested too deeply to read)") from None
    except (json.JSONDecodeError, *DAMAGED_ARCHIVE) as e:
        raise CheckpointError(f"{path}: corrupt or truncated checkpoint ({type(e).__name__}: {e})") from None
    if not isinstance(meta, dict) or not ("config" in meta or "model" in meta):
        raise CheckpointError(f"{path}: checkpoint metadata describes neither a run nor a model")
    return meta, groups["param"], groups["adam_m"], groups["adam_v"]
