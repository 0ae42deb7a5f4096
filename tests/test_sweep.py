"""The blog post's study: its experiments as trials (pytcn.study.experiments), their runs and results store on Dask
(pytcn.study.sweep), its figures (pytcn.study.figures) and the `pytcn sweep` command."""
import json
import os
import signal

import numpy as np
import pytest

from pytcn import cli
from pytcn.study import experiments, figures, sweep
from pytcn.study.experiments import BASE, expand
from pytcn.training import Trainer

from .helpers import one_numba_thread  # noqa: F401 (fixture)

TINY = dict(length=8, train_size=16, val_size=8, test_size=8, epochs=2, batch_size=8)


def exact_rf(k, D, s):
    # written out here, not taken from the code under test: two convolutions per block, each (k-1) d back
    return 1 + sum(2 * (k - 1) * 2 ** level for _stack in range(s) for level in range(D))


# ------------------------------------------------------------------------------------------------------------------
# the experiments, expanded


def test_isolation_varies_each_number_alone_around_the_base():
    trials = expand("isolation", "adding")
    assert len(trials) == 6 + 6 + 4
    for t in trials:
        others = {name: getattr(t, name) for name in "kDs" if name != t.group}
        assert others == {name: BASE[name] for name in others}, t.id
    assert sorted(t.k for t in trials if t.group == "k") == [2, 3, 4, 5, 7, 9]
    # the base architecture belongs to each of the three groups, and is trained once
    assert len({t.run_key for t in trials}) == 16 - 2


def test_fixed_rf_holds_the_base_receptive_field_as_closely_as_the_integers_allow():
    trials = expand("fixed-rf", "mnist")
    target = exact_rf(**BASE)
    assert target == 757
    assert {t.group for t in trials} == {"k-D", "k-s", "D-s"} and len(trials) == 5 + 4 + 4
    for t in trials:
        a, b = t.group.split("-")
        rising, derived = ("D", "k") if t.group == "k-D" else ("s", a)
        assert t.receptive_field == exact_rf(t.k, t.D, t.s)
        fixed = {name: getattr(t, name) for name in "kDs" if name != derived}
        # no other value of the derived number gets closer to the target (a brute-force search of its range)
        best = min(abs(exact_rf(**{**fixed, derived: v}) - target) for v in range(1, 80) if derived != "k" or v > 1)
        assert abs(t.receptive_field - target) == best, t.id
        assert {a, b} == {rising, derived}
    for group in ("k-D", "k-s", "D-s"):
        rising = "D" if group == "k-D" else "s"
        along = sorted((t for t in trials if t.group == group), key=lambda t: getattr(t, rising))
        derived = "k" if group in ("k-D", "k-s") else "D"
        values = [getattr(t, derived) for t in along]
        assert values == sorted(values, reverse=True), f"{group}: one number rises, the other must fall: {values}"
    # where the integers allow it exactly, it is held exactly: (k-1) s = 6 for k vs s
    assert sorted((t.k, t.s) for t in trials if t.group == "k-s") == [(2, 6), (3, 3), (4, 2), (7, 1)]
    assert all(t.receptive_field == 757 for t in trials if t.group == "k-s")


def test_every_trial_records_both_receptive_fields_its_parameters_and_depth():
    F = experiments.NB_FILTERS
    for t in expand("isolation", "adding") + expand("fixed-rf", "copy-memory"):
        r = t.record()
        assert r["receptive_field"] == exact_rf(t.k, t.D, t.s)
        assert r["approximate_receptive_field"] == 2 ** (t.D - 1) * t.k * t.s
        assert r["depth"] == 2 * t.D * t.s
        c_in, outputs = (2, 1) if t.task == "adding" else (1, 10)
        blocks = t.D * t.s
        by_hand = (F * c_in * t.k + F) + (F * F * t.k + F) + (F * c_in + F)  # the first block, with its downsample
        by_hand += (blocks - 1) * 2 * (F * F * t.k + F) + (outputs * F + outputs)
        assert r["params"] == by_hand, t.id
        assert r["config"]["kernel_initializer"] == experiments.INITIALIZER


def test_copy_length_runs_one_architecture_from_under_to_three_times_its_receptive_field():
    trials = expand("copy-length", "copy-memory")
    assert {(t.k, t.D, t.s) for t in trials} == {(3, 5, 1)}
    R = exact_rf(3, 5, 1)
    lengths = [t.config["length"] + 20 for t in trials]
    assert min(lengths) < R / 2 and 2.8 * R < max(lengths) < 3.2 * R
    with pytest.raises(ValueError, match="copy-memory task"):
        expand("copy-length", "adding")


def test_the_scales_hold_the_post_s_settings_when_full():
    for task in ("adding", "copy-memory", "mnist"):
        config = expand("isolation", task, "full")[0].config
        assert (config["lr"], config["epochs"], config["nb_filters"], config["dropout_rate"],
                config["use_weight_norm"]) == (1e-4, 100, 20, 0.0, False)
        reduced = expand("isolation", task)[0].config
        assert reduced["epochs"] < 100 and reduced["train_size"] < config["train_size"]


# ------------------------------------------------------------------------------------------------------------------
# the store and the runs


def tiny_trials(n=3, task="adding", **overrides):
    return expand("isolation", task, overrides=dict(TINY, **overrides))[:n]


def test_the_store_keeps_one_row_per_trial_and_adding_again_changes_nothing(tmp_path):
    store = sweep.Store(tmp_path / "results.sqlite")
    trials = expand("isolation", "adding") + expand("fixed-rf", "adding")
    store.add(trials)
    store.add(trials)
    rows = store.rows()
    assert sorted(r["id"] for r in rows) == sorted(t.id for t in trials)
    assert {r["status"] for r in rows} == {"pending"}
    store.record(trials[0].run_key, dict(status="done", metric_name="MSE", val_metric=0.5, test_metric=0.4,
                                         metrics={"history": []}, wall_s=1.0, versions={"pytcn": "x"}))
    done = store.rows(status="done")
    assert {r["run_key"] for r in done} == {trials[0].run_key} and done[0]["metrics"] == {"history": []}


def test_run_trial_records_a_failure_instead_of_raising(tmp_path):
    (trial,) = expand("isolation", "mnist", overrides=dict(TINY, length=784, data_dir=str(tmp_path / "none")))[:1]
    outcome = sweep.run_trial(trial.config, str(tmp_path / "run"))
    assert outcome["status"] == "failed" and "DataNotFoundError" in outcome["error"]


def test_a_trial_stored_before_a_field_existed_runs_with_its_default_and_keeps_its_run_s_name(tmp_path):
    import dataclasses
    import hashlib

    (trial,) = tiny_trials(1)
    # its run's name ends in the hash of its configuration as it was before initial_weights and keep_best existed
    before = {k: v for k, v in trial.config.items() if k not in ("initial_weights", "keep_best")}
    assert trial.run_key.endswith("-" + hashlib.sha1(json.dumps(before, sort_keys=True).encode()).hexdigest()[:10])
    given = dataclasses.replace(trial, settings=dict(trial.settings, initial_weights="/w.npz"))
    assert given.run_key != trial.run_key  # a trial from given weights is another run
    kept = dataclasses.replace(trial, settings=dict(trial.settings, keep_best=True))
    assert kept.run_key != trial.run_key  # and one that keeps its best weights too
    # a configuration stored without the fields added since runs with their defaults
    old = {k: v for k, v in trial.config.items() if k not in ("initial_weights", "optimizer", "keep_best")}
    outcome = sweep.run_trial(old, str(tmp_path / "run"))
    assert outcome["status"] == "done", outcome.get("error")
    assert "best_epoch" not in outcome["metrics"]
    # a trial that keeps its best epoch's weights stores their test numbers beside the last epoch's
    outcome = sweep.run_trial(kept.config, str(tmp_path / "kept"))
    assert outcome["status"] == "done", outcome.get("error")
    assert outcome["metrics"]["best_epoch"] >= 1 and np.isfinite(outcome["metrics"]["best_test_loss"])


def test_a_trial_cut_short_resumes_from_its_checkpoint(tmp_path, monkeypatch):
    (trial,) = tiny_trials(1)
    run_dir = tmp_path / "runs" / trial.run_key
    real_step, calls = Trainer.step, []

    def step(self, x, y):  # Ctrl-C in the first step of the second epoch: a checkpoint after epoch 1 is on disk
        calls.append(1)
        if len(calls) == 3:
            os.kill(os.getpid(), signal.SIGINT)
        return real_step(self, x, y)

    with monkeypatch.context() as m:
        m.setattr(Trainer, "step", step)
        assert Trainer(trial.config, run_dir, progress=False, log=lambda *a: None).run()["interrupted"]
    first_epoch = json.loads((run_dir / "metrics.jsonl").read_text().splitlines()[0])
    outcome = sweep.run_trial(trial.config, str(run_dir))
    assert outcome["status"] == "done"
    history = outcome["metrics"]["history"]
    assert [h["epoch"] for h in history] == [1, 2] and history[0] == first_epoch  # epoch 1 was not trained again


def test_a_sweep_on_two_local_workers_runs_every_trial_once_and_skips_them_when_run_again(tmp_path):
    trials = tiny_trials(3)
    trials += expand("fixed-rf", "copy-memory", overrides=dict(TINY, length=6))[:2]
    failing = expand("isolation", "mnist", overrides=dict(TINY, length=784, data_dir=str(tmp_path / "none")))[:1]
    store = sweep.Store(tmp_path / "results.sqlite")
    counts = sweep.run(store, trials + failing, str(tmp_path), workers=2, progress=False, log=lambda *a: None)
    assert counts == {"done": 5, "failed": 1}
    rows = {r["id"]: r for r in store.rows()}
    for t in trials:
        r = rows[t.id]
        assert r["val_metric"] is not None and r["wall_s"] > 0 and r["versions"]["pytcn"]
        assert len(r["metrics"]["history"]) == 2
        if t.task == "copy-memory":
            assert 0 <= r["metrics"]["accuracy_last_10"] <= 1 and 0 <= r["metrics"]["accuracy_every_step"] <= 1
    assert "DataNotFoundError" in rows[failing[0].id]["error"]
    before = {r["id"]: r["updated"] for r in store.rows(status="done")}
    counts = sweep.run(store, trials, str(tmp_path), workers=2, progress=False, log=lambda *a: None)
    assert counts["done"] == 5 and {r["id"]: r["updated"] for r in store.rows(status="done")} == before


# ------------------------------------------------------------------------------------------------------------------
# the figures, from a results file written here


def fake_results(path):
    """A results store filled by hand: every trial of the post's experiments done, with made-up metrics."""
    store = sweep.Store(path)
    rng = np.random.default_rng(0)
    trials = [t for task in ("adding", "copy-memory") for e in ("isolation", "fixed-rf") for t in expand(e, task)]
    trials += expand("copy-length", "copy-memory")
    store.add(trials)
    for t in trials:
        metrics = {"history": []}
        if t.task == "copy-memory":
            metrics.update(accuracy_every_step=float(rng.uniform(0.8, 1)), accuracy_last_10=float(rng.uniform(0, 1)))
        store.record(t.run_key, dict(status="done", metric_name="MSE" if t.task == "adding" else "accuracy",
                                     val_metric=float(rng.uniform(0.01, 0.9)), test_metric=0.5, metrics=metrics,
                                     wall_s=1.0, versions={}))
    return store


def is_png(path):
    with open(path, "rb") as f:
        return f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_every_figure_is_drawn_from_the_store_alone(tmp_path):
    store = fake_results(tmp_path / "results.sqlite")
    paths = figures.plot_all(store, tmp_path / "figures")
    names = sorted(os.path.basename(p) for p in paths)
    assert names == ["bubbles.png", "copy-length.png", "triangle-adding.png", "triangle-copy-memory.png"]
    assert all(is_png(p) for p in paths)


def test_the_triangle_puts_isolation_at_the_vertices_and_fixed_rf_on_the_shaded_edges(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    drawn = []
    monkeypatch.setattr(figures, "save_figure", lambda fig, path: drawn.append(fig) or path)
    figures.triangle(fake_results(tmp_path / "r.sqlite"), "adding", str(tmp_path / "t.png"))
    (fig,) = drawn
    panels = {ax.get_title().splitlines()[0]: ax for ax in fig.axes}
    assert set(panels) == {"kernel size k alone", "dilated levels D alone", "stacks s alone",
                           "kernel size k vs dilated levels D", "kernel size k vs stacks s",
                           "dilated levels D vs stacks s"}
    centre = {name: ax.get_position() for name, ax in panels.items()}
    top = centre["kernel size k alone"]
    assert all(top.y0 > c.y0 for name, c in centre.items() if name != "kernel size k alone")  # k at the apex
    for name, ax in panels.items():
        shaded = ax.get_facecolor()[:3] != (1.0, 1.0, 1.0)
        assert shaded == (" vs " in name), name
        assert "validation MSE" in ax.get_ylabel() and ax.get_yscale() == "log"
    plt.close(fig)


def test_the_copy_length_figure_marks_both_receptive_fields(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    drawn = []
    monkeypatch.setattr(figures, "save_figure", lambda fig, path: drawn.append(fig) or path)
    figures.copy_length(fake_results(tmp_path / "r.sqlite"), str(tmp_path / "c.png"))
    (ax,) = drawn[0].axes
    lines = [line.get_label() for line in ax.get_lines()]
    assert "exact receptive field (125 steps)" in lines and "2^(D-1) k s (48 steps)" in lines
    assert ax.get_xlabel() == "sequence length T + 20 (steps)" and ax.get_ylabel() == "validation accuracy"
    plt.close(drawn[0])


# ------------------------------------------------------------------------------------------------------------------
# the command


def test_sweep_command_runs_plots_and_reports(tmp_path, capsys):
    folder = str(tmp_path / "sweep")
    argv = ["sweep", "run", "copy-length", "--dir", folder, "--workers", "2", "--no-progress",
            "--set", "train_size=16", "--set", "val_size=8", "--set", "test_size=8", "--set", "epochs=1",
            "--set", "batch_size=8"]
    # copy-length at its 11 lengths (up to 370 steps) with a tiny training set
    assert cli.main(argv) == 0, capsys.readouterr().err
    assert "11 done" in capsys.readouterr().out
    assert cli.main(["sweep", "plot", "--dir", folder]) == 0
    assert capsys.readouterr().out.strip().endswith("copy-length.png")
    assert cli.main(["sweep", "status", "--dir", folder]) == 0
    assert "copy-length  copy-memory  11 done" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["run", "copy-length", "--task", "adding"], "copy-length runs on the copy-memory task only"),
    (["run", "isolation", "--task", "adding", "--set", "epochs=0"], "--set epochs: must be >= 1, got 0"),
    (["run", "isolation", "--set", "epochs"], "--set takes FIELD=VALUE"),
    (["plot"], "no results there"),
])
def test_sweep_mistakes_are_one_line(tmp_path, capsys, argv, message):
    status = cli.main(["sweep", *argv, "--dir", str(tmp_path / "nothing")])
    err = capsys.readouterr().err
    assert status == cli.EXIT_ERROR and message in err and err.count("\n") == 1, err


@pytest.mark.parametrize("content, fragment", [(b"not a database", "not a sweep's results file (file is not a "
                                                                     "database)"),
                                               ("other table", "its table 'trials' is not a sweep's (no column D,")])
def test_a_results_file_that_is_not_a_sweep_s_is_one_line(tmp_path, capsys, content, fragment):
    import sqlite3

    path = tmp_path / "results.sqlite"
    if content == "other table":
        with sqlite3.connect(path) as db:
            db.execute("CREATE TABLE trials (a INTEGER)")
        db.close()
    else:
        path.write_bytes(content)
    for action in ("status", "plot"):
        assert cli.main(["sweep", action, "--dir", str(tmp_path)]) == cli.EXIT_ERROR
        err = capsys.readouterr().err
        assert err.startswith(f"pytcn: error: {path}: ") and fragment in err and err.count("\n") == 1, err


@pytest.mark.parametrize("experiment, field, value", [
    ("isolation", "dilations", [0]), ("isolation", "seed", 5), ("fixed-rf", "nb_filters", 8),
    ("isolation", "task", "mnist"), ("copy-length", "length", 30), ("isolation", "model", "lstm"),
])
def test_a_field_the_experiment_sets_itself_is_refused_as_an_override(experiment, field, value):
    from pytcn.training.config import ConfigError

    task = "copy-memory" if experiment == "copy-length" else "adding"
    with pytest.raises(ConfigError, match=f"is set by the experiment '{experiment}' itself") as info:
        expand(experiment, task, overrides={field: value})
    assert info.value.field == field


def test_sweep_run_names_the_override_or_the_seed_option_in_one_line(tmp_path, capsys):
    pytest.importorskip("distributed", reason="pytcn sweep run needs dask.distributed (the sweep extra)")
    status = cli.main(["sweep", "run", "isolation", "--task", "adding", "--dir", str(tmp_path), "--set",
                       "dilations=[0]", "--no-progress"])
    err = capsys.readouterr().err
    assert status == cli.EXIT_ERROR and err.startswith("pytcn: error: --set dilations: is set by the experiment") \
        and err.count("\n") == 1, err
    status = cli.main(["sweep", "run", "isolation", "--task", "adding", "--dir", str(tmp_path), "--seed", "-1",
                       "--no-progress"])
    err = capsys.readouterr().err
    assert status == cli.EXIT_ERROR and err.startswith("pytcn: error: --seed must be >= 0"), err
