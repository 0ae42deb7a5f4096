"""Running a study: many trials (pytcn.study.experiments) trained on Dask, their results in one SQLite file.

    store = Store("runs/sweep/results.sqlite")
    run(store, expand("isolation", "adding"), "runs/sweep")      # a LocalCluster sized to the machine
    run(store, trials, "runs/sweep", scheduler="tcp://host:8786")   # an existing Dask cluster

Each trial is one Dask task that trains through ``pytcn.training.Trainer`` in its own run folder
(``<folder>/runs/<run_key>``), writing a checkpoint after every epoch. Trials with one configuration share a run.

- **Results** go to one table, one row per trial: its configuration, both receptive fields, parameter count,
  depth, status, metrics, wall time, seed and versions (``Store``). Only the process that runs the sweep writes it,
  in transactions: a kill never leaves half a row.
- **Resume**: running the same trials again skips the finished ones; a trial that was running when the sweep died
  continues from its run folder's checkpoint. A sweep killed at any moment loses at most the epochs in flight.
- **Failures**: a trial that raises (a NaN loss, say) is recorded as failed with its error, and the others go on.
  Running the sweep again retries it.
- **Threads**: a LocalCluster has ``workers`` single-threaded worker processes and each trial runs Numba on
  ``threads`` threads, workers x threads = the machine's cores by default, so the two never oversubscribe it.

With a remote cluster (``--scheduler``), the folder must be one that every worker sees at the same path (a shared
file system): the run folders are written by the workers, the results file by the machine that runs the sweep.
"""
import json
import os
import platform
import sqlite3
import time

from ..tasks.copy_memory import recalled
from .experiments import Trial

STATUSES = ("pending", "running", "done", "failed")

SCHEMA = """
CREATE TABLE IF NOT EXISTS trials (
    id TEXT PRIMARY KEY,          -- experiment/group/task/architecture/length/seed/scale
    run_key TEXT NOT NULL,        -- the run folder; shared by trials of one configuration
    experiment TEXT NOT NULL,
    grp TEXT NOT NULL,            -- k, D, s (isolation); k-D, k-s, D-s (fixed-rf); T (copy-length)
    task TEXT NOT NULL,
    k INTEGER NOT NULL,
    D INTEGER NOT NULL,
    s INTEGER NOT NULL,
    length INTEGER NOT NULL,
    seed INTEGER NOT NULL,
    scale TEXT NOT NULL,
    config TEXT NOT NULL,         -- JSON: the full training configuration
    receptive_field INTEGER NOT NULL,
    approximate_receptive_field INTEGER NOT NULL,
    depth INTEGER NOT NULL,
    params INTEGER NOT NULL,
    status TEXT NOT NULL,
    metric_name TEXT,
    val_metric REAL,              -- the last epoch's validation metric (what the post's figures show)
    test_metric REAL,
    metrics TEXT,                 -- JSON: everything measured (per-epoch history, copy-memory accuracies, ...)
    error TEXT,
    wall_s REAL,
    versions TEXT,                -- JSON: pytcn, numpy, numba, python, machine
    updated TEXT
)
"""


class StoreError(Exception):
    """A results file that is not a sweep's: not SQLite, or a ``trials`` table of other columns."""


class Store:
    """The results of a sweep: a SQLite file with one row per trial (``SCHEMA``)."""

    def __init__(self, path):
        self.path = os.fspath(path)
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        if os.path.exists(self.path) and not os.access(self.path, os.R_OK | os.W_OK):
            raise StoreError(f"{self.path}: cannot be read and written (permission denied)")
        try:
            with self._connect() as db:
                db.executescript(SCHEMA)
                have = {row[1] for row in db.execute("PRAGMA table_info(trials)")}
        except sqlite3.DatabaseError as e:  # "file is not a database", say
            raise StoreError(f"{self.path}: not a sweep's results file ({e})") from None
        missing = sorted(_COLUMNS - have)
        if missing:
            raise StoreError(f"{self.path}: its table 'trials' is not a sweep's (no column {', '.join(missing)})")

    def _connect(self):
        db = sqlite3.connect(self.path, timeout=60)
        db.row_factory = sqlite3.Row
        return db

    def add(self, trials):
        """Adds a row for each trial the store does not hold yet (status pending); keeps those it holds."""
        with self._connect() as db:
            for trial in trials:
                r = trial.record()
                db.execute(
                    "INSERT OR IGNORE INTO trials (id, run_key, experiment, grp, task, k, D, s, length, seed, scale, "
                    "config, receptive_field, approximate_receptive_field, depth, params, status, updated) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?)",
                    (r["id"], r["run_key"], r["experiment"], r["group"], r["task"], r["k"], r["D"], r["s"],
                     r["length"], r["seed"], r["scale"], json.dumps(r["config"]), r["receptive_field"],
                     r["approximate_receptive_field"], r["depth"], r["params"], _now()))

    def set_status(self, run_key, status):
        with self._connect() as db:
            db.execute("UPDATE trials SET status = ?, updated = ? WHERE run_key = ?", (status, _now(), run_key))

    def record(self, run_key, outcome):
        """Writes the outcome of a run (``run_trial``'s dict) into every trial of that run."""
        with self._connect() as db:
            db.execute("UPDATE trials SET status = ?, metric_name = ?, val_metric = ?, test_metric = ?, metrics = ?, "
                       "error = ?, wall_s = ?, versions = ?, updated = ? WHERE run_key = ?",
                       (outcome["status"], outcome.get("metric_name"), outcome.get("val_metric"),
                        outcome.get("test_metric"), json.dumps(outcome.get("metrics")), outcome.get("error"),
                        outcome.get("wall_s"), json.dumps(outcome.get("versions")), _now(), run_key))

    def rows(self, **where):
        """The rows (dicts, JSON fields decoded) matching ``where`` (column=value)."""
        columns = {"group": "grp"}
        clause = " AND ".join(f"{columns.get(k, k)} = ?" for k in where)
        query = "SELECT * FROM trials" + (f" WHERE {clause}" if where else "") + " ORDER BY id"
        with self._connect() as db:
            rows = [dict(row) for row in db.execute(query, tuple(where.values()))]
        for row in rows:
            row["group"] = row.pop("grp")
            for key in ("config", "metrics", "versions"):
                try:
                    row[key] = json.loads(row[key]) if row[key] is not None else None
                except (TypeError, ValueError, RecursionError):  # only a hand-edited or damaged file has these
                    raise StoreError(f"{self.path}: trial {row['id']!r} has a damaged {key} (not JSON)") from None
            if row["status"] == "done" and not all(isinstance(row[k], (int, float)) for k in ("val_metric",
                                                                                           "test_metric")):
                raise StoreError(f"{self.path}: trial {row['id']!r} is done but has no metrics (a damaged row)")
        return rows

    def counts(self):
        with self._connect() as db:
            return dict(db.execute("SELECT status, COUNT(*) FROM trials GROUP BY status").fetchall())


_COLUMNS = {line.split()[0] for line in SCHEMA.strip().splitlines()[1:-1]}


def _now():
    return time.strftime("%Y-%m-%dT%H:%M:%S")


def versions():
    import numba
    import numpy

    from .. import __version__

    return dict(pytcn=__version__, numpy=numpy.__version__, numba=numba.__version__, python=platform.python_version(),
                machine=platform.machine(), processor=platform.processor() or platform.machine())


def run_trial(config, run_dir, threads=1):
    """Trains one configuration in ``run_dir`` (continuing its checkpoint if it has one) and returns its outcome:
    {"status": "done", "val_metric", "test_metric", "metrics", "wall_s", "versions"} or {"status": "failed",
    "error"}. Runs on a Dask worker; never raises for a failed trial, so that a sweep goes on."""
    import numba

    from ..training.config import with_later_fields
    from ..training.loop import Trainer

    t0 = time.perf_counter()
    try:
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
        quiet = lambda *args: None  # noqa: E731
        config = with_later_fields(config)  # a trial stored before a field existed: what it meant then
        if os.path.exists(os.path.join(run_dir, "checkpoint.npz")):
            trainer = Trainer.resume(run_dir, progress=False, log=quiet)
        else:
            trainer = Trainer(config, run_dir, progress=False, log=quiet)
        summary = trainer.run()
        metrics = dict(history=trainer.history, test_loss=summary["test_loss"], baseline=summary["baseline"])
        metrics.update({k: v for k, v in summary.items() if k.startswith("best_")})  # keep_best's, where set
        if config["task"] == "copy-memory":
            metrics.update(copy_memory_accuracies(trainer.model, trainer.task))
        return dict(status="done", metric_name=trainer.task.metric_name, val_metric=trainer.history[-1]["val_metric"],
                    test_metric=summary["test_metric"], metrics=metrics, wall_s=time.perf_counter() - t0,
                    versions=versions())
    except Exception as e:  # noqa: BLE001 (recorded with the trial; the sweep goes on)
        return dict(status="failed", error=f"{type(e).__name__}: {e}", wall_s=time.perf_counter() - t0,
                    versions=versions())


def copy_memory_accuracies(model, task, split="val"):
    """The copy-memory model's accuracy on ``split`` over every recalled symbol and over the last 10 (the post's
    two curves): the recall stretch is the last 10 steps, where the target is the copied symbol; the steps before it
    are blanks, and all of them count in "every step"."""
    import numpy as np

    x, y = task.splits[split]
    predicted = np.concatenate([np.argmax(model.backend.to_host(model.forward(x[i:i + 256])), axis=-1)
                                for i in range(0, len(x), 256)])
    return dict(accuracy_every_step=float(np.mean(predicted == y)),
                accuracy_last_10=float(np.mean(recalled(predicted) == recalled(y))))


def default_workers(threads=1):
    return max(1, (os.cpu_count() or 1) // threads)


def run(store, trials, folder, scheduler=None, workers=None, threads=1, progress=True, log=print):
    """Runs every trial of ``trials`` not done yet in ``store`` on Dask; returns the store's status counts."""
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise RuntimeError("pytcn sweep needs dask.distributed: pip install 'pytcn[sweep]' (or pip install "
                           "distributed)") from None
    from tqdm import tqdm

    store.add(trials)
    wanted = {t.id for t in trials}
    rows = [row for row in store.rows() if row["id"] in wanted]
    todo = {}  # run_key -> config, for runs with a trial not done
    for row in rows:
        if row["status"] != "done":
            todo[row["run_key"]] = row["config"]
    done_before = len({row["run_key"] for row in rows}) - len(todo)
    if not todo:
        log(f"all {len(rows)} trials are done (results in {store.path})")
        return store.counts()
    cluster = None
    if scheduler is None:
        workers = workers or default_workers(threads)
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
    client = Client(scheduler or cluster)
    try:
        futures = {}
        for run_key, config in todo.items():
            run_dir = os.path.join(os.path.abspath(folder), "runs", run_key)
            futures[client.submit(run_trial, config, run_dir, threads, key=f"trial-{run_key}", pure=False)] = run_key
            store.set_status(run_key, "running")
        failed = 0
        bar = tqdm(total=len(todo) + done_before, initial=done_before, desc="trials", disable=not progress,
                   dynamic_ncols=True)
        for future in as_completed(futures):
            outcome = future.result()
            store.record(futures[future], outcome)
            failed += outcome["status"] == "failed"
            bar.update(1)
            bar.set_postfix(running=sum(not f.done() for f in futures), failed=failed)
            if outcome["status"] == "failed":
                log(f"trial {futures[future]} failed: {outcome['error']}")
        bar.close()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return store.counts()


__all__ = ["Store", "Trial", "run", "run_trial", "copy_memory_accuracies", "STATUSES"]
