"""The training application: a run's configuration (``config``), its task's data, loss and metric (``taskdata``), and
the loop that trains, evaluates, checkpoints and resumes it exactly (``loop``); what `pytcn train` runs."""
from .config import ConfigError, check_config, default_config, make_config
from .loop import Trainer, TrainingError, build_model, curve_figure, evaluate, format_summary, load_run

__all__ = ["ConfigError", "check_config", "default_config", "make_config", "Trainer", "TrainingError", "build_model",
           "curve_figure", "evaluate", "format_summary", "load_run"]
