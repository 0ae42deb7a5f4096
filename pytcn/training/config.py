"""A training run's configuration: its fields, their defaults, and the one place where each is checked.

A configuration is a plain dict (it goes into checkpoints as JSON). ``make_config(task, **fields)`` gives the full
configuration of a task with the fields given changed, every field checked; ``check_config`` checks one made
elsewhere (read from a checkpoint, say). A field out of its range, of the wrong type, or unknown is a ``ConfigError``
naming it and the value given; nothing is ever replaced by a default behind the caller's back.

The command line builds its configuration here too (pytcn.cli), so every `pytcn train` option is checked by the same
code, and its errors name the option (``--batch-size``) where the Python ones name the field (``batch_size``).
"""
import functools

from ..nn.architecture import (
    MAX_SIZE,
    NORMALISATIONS,
    blocks_problem,
    check_dilations,
    nb_filters_problem,
    normalisation_problem,
    receptive_field,
)
from ..nn.initializers import INITIALIZERS
from ..runtime import validate
from ..tasks import copy_memory

TASKS = ("adding", "copy-memory", "mnist")

#: what `pytcn train --model` trains: the TCN, or one of the recurrent baselines (pytcn/nn/recurrent.py)
MODELS = ("tcn", "gru", "lstm")
RECURRENT_MODELS = ("gru", "lstm")

#: per task: the hidden units of a recurrent model when --hidden-size is left out: the TCN paper's LSTM sizes (Bai et
#: al. 2018, supplementary Table 3: 130 units for the adding problem at T = 600 and for sequential MNIST, 50 for copy
#: memory at T = 1000)
RECURRENT_HIDDEN = {"adding": 130, "copy-memory": 50, "mnist": 130}

#: the fields that only a TCN reads, with the value a recurrent model's configuration must leave them at (their
#: defaults) or, for the ones every task shares, None: the task's own default (see check_config)
TCN_ONLY = ("nb_filters", "kernel_size", "nb_stacks", "dilations", "use_skip_connections", "dropout_rate",
            "dropout_type", "padding", "pooling", "mask_warmup", "use_weight_norm", "use_layer_norm", "use_batch_norm",
            "kernel_initializer")
RECURRENT_ONLY = ("hidden_size", "num_layers", "forget_bias")

#: per task: (input channels, outputs, return_sequences) of its model
SHAPES = {"adding": (2, 1, False), "copy-memory": (1, 10, True), "mnist": (1, 10, False)}

#: per task: the defaults of `pytcn train TASK`, chosen so that a run converges on a 2-core CPU (see README)
DEFAULTS = {
    "adding": dict(length=200, nb_filters=24, kernel_size=6, dilations=[1, 2, 4, 8, 16], epochs=10, lr=2e-3,
                   batch_size=32, max_grad_norm=1.0, train_size=20000, val_size=1000, test_size=1000),
    "copy-memory": dict(length=100, nb_filters=10, kernel_size=8, dilations=[1, 2, 4, 8, 16], epochs=20, lr=5e-4,
                        batch_size=32, max_grad_norm=1.0, train_size=10000, val_size=1000, test_size=1000),
    "mnist": dict(length=784, nb_filters=25, kernel_size=7, dilations=[1, 2, 4, 8, 16, 32, 64, 128], epochs=3,
                  lr=2e-3, batch_size=64, max_grad_norm=1.0, train_size=55000, val_size=5000, test_size=10000),
}


class ConfigError(ValueError):
    """A field of a configuration that cannot be used: ``field`` names it, ``problem`` says why."""

    def __init__(self, field, problem):
        super().__init__(f"{field} {problem}")
        self.field, self.problem = field, problem


#: config field -> its `pytcn train` option, where the name is not simply the field's with dashes
OPTION_NAMES = {"max_grad_norm": "--clip"}


def option_name(field):
    return OPTION_NAMES.get(field, "--" + field.replace("_", "-"))


def default_config(task):
    """The full configuration of `pytcn train TASK` with every option at its default."""
    if task not in TASKS:
        raise ConfigError("task", f"must be one of {', '.join(TASKS)}; got {task!r}")
    d = DEFAULTS[task]
    return dict(task=task, length=d["length"], nb_filters=d["nb_filters"], kernel_size=d["kernel_size"], nb_stacks=1,
                dilations=list(d["dilations"]), use_skip_connections=False, dropout_rate=0.0, dropout_type="spatial",
                padding="causal", pooling="last", mask_warmup=False, use_weight_norm=False, use_layer_norm=False,
                use_batch_norm=False, kernel_initializer="he_normal", batch_size=d["batch_size"], epochs=d["epochs"],
                lr=d["lr"], max_grad_norm=d["max_grad_norm"], seed=0, train_size=d["train_size"],
                val_size=d["val_size"], test_size=d["test_size"], dataset="mnist", data_dir=None, permute=False,
                dtype="float32", backend="cpu", model="tcn", hidden_size=None, num_layers=None, forget_bias=None,
                optimizer="adam", initial_weights=None, keep_best=False)


def with_later_fields(config):
    """``config`` (a mapping read from a checkpoint or a results store) with the fields added to pytcn after it may
    have been written, at the values that mean what it meant then: a TCN, Adam, weights drawn from the seed."""
    config = dict(config)
    if "model" not in config:  # written before the recurrent baselines: a TCN's
        config.update(model="tcn", hidden_size=None, num_layers=None, forget_bias=None)
    config.setdefault("optimizer", "adam")  # written before RMSprop: Adam, the only optimizer then
    config.setdefault("initial_weights", None)  # written before --initial-weights: drawn from the seed
    config.setdefault("keep_best", False)  # written before --keep-best: only the last epoch's weights kept
    return config


def make_config(task, **fields):
    """The configuration of ``task`` with ``fields`` changed from the defaults, every field checked."""
    config = default_config(task)
    unknown = sorted(set(fields) - set(config))
    if unknown:
        raise ConfigError(unknown[0], f"is not a field of a training configuration (the fields: {', '.join(config)})")
    config.update(fields)
    if config["model"] in RECURRENT_MODELS:  # a recurrent model's own defaults, where they were left out
        if config["hidden_size"] is None:
            config["hidden_size"] = RECURRENT_HIDDEN.get(task)
        if config["num_layers"] is None:
            config["num_layers"] = 1
    return check_config(config)


def _as_problem(check, *args):
    """A check of pytcn/runtime/validate.py (or of pytcn/nn/architecture.py) as a field's check: what it says is
    wrong, after the field's name, or None. One family of checks for a model's arguments and a configuration's
    fields; a configuration only names the field in its own error (ConfigError)."""
    def problem(value):
        try:
            check("", value, *args)
        except (TypeError, ValueError) as e:
            return str(e).lstrip()
        return None
    return problem


_integer = functools.partial(_as_problem, validate.integer)
_boolean = _as_problem(validate.boolean)


def _real(low, high=None, low_open=False, high_open=False):
    return _as_problem(validate.real, low, high, low_open, high_open)


def _one_of(allowed):
    return _as_problem(validate.one_of, allowed)


def _nb_filters(value):
    """An integer >= 1 or a list of them (the list's length, and one width with skip connections, are the
    architecture's rules: ``nb_filters_problem``)."""
    if isinstance(value, (list, tuple)):
        return None if value and not any(_integer(1, MAX_SIZE)(f) for f in value) else \
            f"must be an integer in [1, {MAX_SIZE}] or a list of them, got {value!r}"
    return _integer(1, MAX_SIZE)(value)


CHECKS = {
    "task": _one_of(TASKS),
    "length": _integer(1),
    "nb_filters": _nb_filters,
    "kernel_size": _integer(1, MAX_SIZE),
    "nb_stacks": _integer(1),
    "dilations": _as_problem(check_dilations),
    "use_skip_connections": _boolean,
    "dropout_rate": _real(0.0, 1.0, high_open=True),
    "dropout_type": _one_of(("spatial", "elementwise")),
    "padding": _one_of(("causal", "same")),
    "pooling": _one_of(("last", "mean")),
    "mask_warmup": _boolean,
    "use_weight_norm": _boolean,
    "use_layer_norm": _boolean,
    "use_batch_norm": _boolean,
    "kernel_initializer": _one_of(INITIALIZERS),
    "batch_size": _integer(1),
    "epochs": _integer(1),
    "lr": _real(0.0),
    "max_grad_norm": lambda v: None if v is None else _real(0.0, low_open=True)(v),
    "seed": _integer(0),
    "train_size": _integer(1),
    "val_size": _integer(1),
    "test_size": _integer(1),
    "dataset": _one_of(("mnist", "fashion-mnist")),
    "data_dir": lambda v: None if v is None or isinstance(v, str) else f"must be a path or None, got {v!r}",
    "permute": _boolean,
    "dtype": _one_of(("float32", "float64")),
    "backend": _one_of(("cpu", "numpy", "cuda")),
    "model": _one_of(MODELS),
    "hidden_size": lambda v: None if v is None else _integer(1, MAX_SIZE)(v),
    "num_layers": lambda v: None if v is None else _integer(1, 100)(v),
    "forget_bias": lambda v: None if v is None else _real(None)(v),
    "optimizer": _one_of(("adam", "rmsprop")),
    "initial_weights": lambda v: None if v is None or (isinstance(v, str) and v) else
    f"must be the path of a weights file or None, got {v!r}",
    "keep_best": _boolean,
}


def _check_model_fields(config):
    """The fields of the other kind of model left at their defaults: a TCN option given to a recurrent model (or the
    other way round) would be ignored, which a configuration never does silently."""
    model = config["model"]
    if model == "tcn":
        for field in RECURRENT_ONLY:
            if config[field] is not None:
                raise ConfigError(field, f"is for a recurrent model (model 'gru' or 'lstm'); the model is a TCN, got "
                                         f"{config[field]!r}")
        return
    if config["forget_bias"] is not None and model != "lstm":
        raise ConfigError("forget_bias", f"is the LSTM's forget gate's initial bias; a {model.upper()} has no forget "
                                         f"gate, got {config['forget_bias']!r}")
    for field in ("hidden_size", "num_layers"):
        if config[field] is None:
            raise ConfigError(field, f"must be set for model {model!r} (an integer >= 1), got None")
    defaults = default_config(config["task"])
    for field in TCN_ONLY:
        if config[field] != defaults[field]:
            raise ConfigError(field, f"is a TCN's; model {model!r} has no such setting (leave it at "
                                     f"{defaults[field]!r}), got {config[field]!r}")
    if config["backend"] == "cuda":
        raise ConfigError("backend", f"'cuda' has no {model.upper()} kernels (the recurrent baselines run on the CPU); "
                                     f"use cpu or numpy")


def check_config(config):
    """``config`` itself, after checking every field (ConfigError on the first wrong one)."""
    missing = [field for field in CHECKS if field not in config]
    if missing:
        raise ConfigError(missing[0], "is missing from the configuration")
    for field, check in CHECKS.items():
        problem = check(config[field])
        if problem:
            raise ConfigError(field, problem)
    _check_model_fields(config)
    if config["task"] == "adding" and config["length"] < 2:
        raise ConfigError("length", f"of the adding problem must be >= 2 (two marked steps), got {config['length']!r}")
    if config["task"] == "mnist" and config["length"] != 784:
        raise ConfigError("length", f"of sequential MNIST is 784 (28 x 28 pixels), got {config['length']!r}")
    for problem in (nb_filters_problem(config["nb_filters"], len(config["dilations"]), config["use_skip_connections"]),
                    blocks_problem(config["nb_stacks"], len(config["dilations"])),
                    normalisation_problem(*(config[field] for field in NORMALISATIONS))):
        if problem is not None:  # the rules between the model's fields: pytcn/nn/architecture.py
            raise ConfigError(*problem)
    if config["pooling"] == "mean" and SHAPES[config["task"]][2]:
        raise ConfigError("pooling", f"'mean' is for a head that reads one row per sequence; the {config['task']} "
                                     f"model outputs every step (return_sequences)")
    if config["mask_warmup"]:
        if config["task"] != "copy-memory":
            raise ConfigError("mask_warmup", f"is for a loss over every step (copy-memory); the {config['task']} "
                                             f"model's head reads one step")
        if config["padding"] != "causal":
            raise ConfigError("mask_warmup", "is for causal models: with padding='same' both ends read padding")
        R = receptive_field(config["kernel_size"], config["dilations"], config["nb_stacks"])
        T = copy_memory.sequence_length(config["length"])
        if R > T:
            raise ConfigError("mask_warmup", f"would leave no step to learn from: the receptive field is {R} steps, "
                                             f"the sequences {T} (--length {config['length']} + "
                                             f"{T - config['length']})")
    return config
