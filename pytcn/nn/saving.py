"""A model built again from a file: ``pytcn.load_model(path)``, the inverse of ``TCN.save(path)``.

The file is the checkpoint archive of pytcn/runtime/archive.py with the model's configuration (``meta["model"]``, the
arguments of ``TCN``) and its state_dict; a training run's checkpoint holds both too, so either loads here.
"""
from ..runtime.archive import CheckpointError, load_checkpoint
from ..runtime.backends import get_backend
from .model import TCN
from .recurrent import GRU, LSTM

#: meta["model"]["architecture"] -> the class that builds it (a TCN's configuration has no "architecture")
ARCHITECTURES = {"tcn": TCN, "gru": GRU, "lstm": LSTM}


def load_model(path, backend=None):
    """The model saved in ``path``: a file of ``model.save`` or a `pytcn train` checkpoint (or a run's folder), on
    the backend it was saved from or on ``backend``."""
    if backend is not None:
        get_backend(backend)  # a backend unknown or missing here is the caller's to fix, not the file's
    meta, params, _, _ = load_checkpoint(path)
    if "model" not in meta:
        raise CheckpointError(f"{path}: holds no model configuration (meta has no 'model' entry)")
    if not isinstance(meta["model"], dict):
        raise CheckpointError(f"{path}: its model configuration is not a mapping of TCN's arguments (got "
                              f"{type(meta['model']).__name__})")
    config = dict(meta["model"])
    if backend is not None:
        config["backend"] = backend
    architecture = config.pop("architecture", "tcn")
    if architecture not in ARCHITECTURES:
        raise CheckpointError(f"{path}: its model's architecture must be one of {', '.join(ARCHITECTURES)}, got "
                              f"{architecture!r}")
    try:
        model = ARCHITECTURES[architecture](**config)
        model.load_state_dict(params)
    except (ValueError, TypeError, KeyError) as e:
        raise CheckpointError(f"{path}: does not describe a model this pytcn can build ({e})") from None
    return model
