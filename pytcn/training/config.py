"""A training run's configuration: its fields, their defaults, and the one place where each is checked.

A configuration is a plain dict (it goes into checkpoints as JSON). ``make_config(task, **fields)`` gives the full
configuration of a task with the fields given changed, every field checked; ``check_config`` checks one made
elsewhere (read from a checkpoint, say). A field out of its range, of the wrong type, or unknown is a ``ConfigError``
naming it and the value given; nothing is ever replaced by a default behind the caller's back.

The command line builds its configuration here too (pytcn.cli), so every `pytcn train` option is checked by the same
code, and its errors name the option (``--batch-size``) where the Python ones name the field (``batch_size``).
"""
import numbers

from ..nn.initializers import INITIALIZERS

TASKS = ("adding", "copy-memory", "mnist")

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
                padding="causal", mask_warmup=False, use_weight_norm=False, use_layer_norm=False, use_batch_norm=False,
                kernel_initializer="he_normal", batch_size=d["batch_size"], epochs=d["epochs"], lr=d["lr"],
                max_grad_norm=d["max_grad_norm"], seed=0, train_size=d["train_size"], val_size=d["val_size"],
                test_size=d["test_size"], dataset="mnist", data_dir=None, permute=False, dtype="float32",
                backend="cpu")


def make_config(task, **fields):
    """The configuration of ``task`` with ``fields`` changed from the defaults, every field checked."""
    config = default_config(task)
    unknown = sorted(set(fields) - set(config))
    if unknown:
        raise ConfigError(unknown[0], f"is not a field of a training configuration (the fields: {', '.join(config)})")
    config.update(fields)
    return check_config(config)


def _integer(value, minimum):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        return f"must be an integer, got {value!r}"
    if value < minimum:
        return f"must be >= {minimum}, got {value!r}"
    return None


def _real(value, low, high=None, low_open=False, high_open=False):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or value != value or abs(value) == float("inf"):
        return f"must be a finite number, got {value!r}"
    below = value <= low if low_open else value < low
    above = high is not None and (value >= high if high_open else value > high)
    if below or above:
        upper = "inf)" if high is None else f"{high}{')' if high_open else ']'}"
        return f"must be in {'(' if low_open else '['}{low}, {upper}, got {value!r}"
    return None


def _one_of(value, allowed):
    return None if any(type(value) is type(a) and value == a for a in allowed) else \
        f"must be one of {', '.join(map(repr, allowed))}; got {value!r}"


def _boolean(value):
    return None if isinstance(value, bool) else f"must be True or False, got {value!r}"


def _dilations(value):
    if not isinstance(value, (list, tuple)) or not value:
        return f"must be a non-empty list of integers >= 1, got {value!r}"
    bad = [d for d in value if _integer(d, 1)]
    return f"must all be integers >= 1, got {list(value)!r}" if bad else None


def _nb_filters(value):
    if isinstance(value, (list, tuple)):
        return None if value and not any(_integer(f, 1) for f in value) else \
            f"must be an integer >= 1 or a list of them, got {value!r}"
    return _integer(value, 1)


CHECKS = {
    "task": lambda v: _one_of(v, TASKS),
    "length": lambda v: _integer(v, 1),
    "nb_filters": _nb_filters,
    "kernel_size": lambda v: _integer(v, 1),
    "nb_stacks": lambda v: _integer(v, 1),
    "dilations": _dilations,
    "use_skip_connections": _boolean,
    "dropout_rate": lambda v: _real(v, 0.0, 1.0, high_open=True),
    "dropout_type": lambda v: _one_of(v, ("spatial", "elementwise")),
    "padding": lambda v: _one_of(v, ("causal", "same")),
    "mask_warmup": _boolean,
    "use_weight_norm": _boolean,
    "use_layer_norm": _boolean,
    "use_batch_norm": _boolean,
    "kernel_initializer": lambda v: _one_of(v, INITIALIZERS),
    "batch_size": lambda v: _integer(v, 1),
    "epochs": lambda v: _integer(v, 1),
    "lr": lambda v: _real(v, 0.0),
    "max_grad_norm": lambda v: None if v is None else _real(v, 0.0, low_open=True),
    "seed": lambda v: _integer(v, 0),
    "train_size": lambda v: _integer(v, 1),
    "val_size": lambda v: _integer(v, 1),
    "test_size": lambda v: _integer(v, 1),
    "dataset": lambda v: _one_of(v, ("mnist", "fashion-mnist")),
    "data_dir": lambda v: None if v is None or isinstance(v, str) else f"must be a path or None, got {v!r}",
    "permute": _boolean,
    "dtype": lambda v: _one_of(v, ("float32", "float64")),
    "backend": lambda v: _one_of(v, ("cpu", "numpy", "cuda")),
}


#: fields added after configurations were first written into checkpoints and sweep results: a configuration
#: written before a field existed ran with what the field's value here means, and is read so
ADDED_LATER = {"dropout_type": "spatial", "padding": "causal", "mask_warmup": False, "use_layer_norm": False,
               "use_batch_norm": False}


def check_config(config):
    """``config`` itself, after checking every field (ConfigError on the first wrong one). A field of
    ``ADDED_LATER`` that is missing is set to the value that configurations written before it meant."""
    for field, meant in ADDED_LATER.items():
        config.setdefault(field, meant)
    missing = [field for field in CHECKS if field not in config]
    if missing:
        raise ConfigError(missing[0], "is missing from the configuration")
    for field, check in CHECKS.items():
        problem = check(config[field])
        if problem:
            raise ConfigError(field, problem)
    if config["task"] == "adding" and config["length"] < 2:
        raise ConfigError("length", f"of the adding problem must be >= 2 (two marked steps), got {config['length']!r}")
    if isinstance(config["nb_filters"], (list, tuple)) and len(config["nb_filters"]) != len(config["dilations"]):
        raise ConfigError("nb_filters", f"must be an integer or a list with one width per dilation "
                                        f"({len(config['dilations'])}), got {config['nb_filters']!r}")
    if config["task"] == "mnist" and config["length"] != 784:
        raise ConfigError("length", f"of sequential MNIST is 784 (28 x 28 pixels), got {config['length']!r}")
    if config["use_skip_connections"] and isinstance(config["nb_filters"], (list, tuple)) and \
            len(set(config["nb_filters"])) > 1:
        raise ConfigError("nb_filters", f"must be one width when use_skip_connections is on, got "
                                        f"{config['nb_filters']!r}")
    norms = [field for field in ("use_weight_norm", "use_layer_norm", "use_batch_norm") if config[field]]
    if len(norms) > 1:
        raise ConfigError(norms[1], f"cannot be on with {norms[0]} ({option_name(norms[0])}): one normalisation at "
                                    f"most (as in keras-tcn)")
    if config["mask_warmup"]:
        if config["task"] != "copy-memory":
            raise ConfigError("mask_warmup", f"is for a loss over every step (copy-memory); the {config['task']} "
                                             f"model's head reads one step")
        if config["padding"] != "causal":
            raise ConfigError("mask_warmup", "is for causal models: with padding='same' both ends read padding")
        R = 1 + 2 * (config["kernel_size"] - 1) * config["nb_stacks"] * sum(config["dilations"])
        T = config["length"] + 20
        if R > T:
            raise ConfigError("mask_warmup", f"would leave no step to learn from: the receptive field is {R} steps, "
                                             f"the sequences {T} (--length {config['length']} + 20)")
    return config
