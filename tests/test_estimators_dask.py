"""scikit-learn's GridSearchCV over a TCNClassifier on a Dask cluster, through joblib's Dask backend: the README's
example run as written on a tiny problem. The search must
send its fits to the workers, try every candidate, and score each exactly as the same search without Dask does.
Skipped, with the reason, without scikit-learn or dask.distributed."""
import numpy as np
import pytest

from .helpers import readme_block

pytest.importorskip("sklearn", reason="scikit-learn is not installed: pip install 'pytcn[sklearn]'")
pytest.importorskip("distributed", reason="dask.distributed is not installed: pip install 'pytcn[sweep]'")

# The README's example (tests/helpers.readme_block), for X (n_cases, n_channels, n_timepoints) and y. One worker
# process a core, one thread each, one Numba thread each: two threads entering Numba's parallel kernels in one
# process at once can abort it (Numba's workqueue layer, docs/design/estimators-research.md §6), and workers with a
# Numba thread per core each, on the same cores, fight over them (measured here: this example's fits, under 2 s
# each with one Numba thread, took 1-2 minutes each with two, on 2 cores shared with other jobs). NUMBA_NUM_THREADS
# must be in a worker's environment before it imports Numba, which a spawned worker does when it re-imports the
# script that started it, before LocalCluster(env=...) would apply: hence Dask's pre-spawn-environ (which also sets
# it in this process's os.environ, read by Numba at import only).


def noisy_sines(n, T, rng):
    """(X (n, 1, T), y (n,) in {0, 1}): class 1 oscillates 1.5 times as fast as class 0, under enough noise that
    candidates and folds score differently (an equality of scores that are all 1.0 would prove nothing)."""
    y = np.arange(n) % 2
    t = np.arange(T)
    X = np.sin(t[None, None, :] * (0.4 + 0.2 * y[:, None, None]) + rng.uniform(0, 6, (n, 1, 1)))
    return X + 1.0 * rng.standard_normal((n, 1, T)), y


@pytest.fixture
def one_numba_thread():
    """This process with one Numba thread, as the example's workers: the example's refit of the best candidate and
    the search without Dask run here, and bit-identical refits are promised at a fixed thread count only. Restores
    the thread count and os.environ, where Dask's pre-spawn-environ leaves its variables."""
    import os

    import numba

    threads, environ = numba.get_num_threads(), dict(os.environ)
    numba.set_num_threads(1)
    yield
    numba.set_num_threads(threads)
    os.environ.clear()
    os.environ.update(environ)


def test_grid_search_on_a_dask_cluster_sends_the_fits_to_the_workers_and_scores_as_without_dask(monkeypatch,
                                                                                               one_numba_thread):
    from distributed import Client
    from sklearn.base import clone
    from sklearn.model_selection import ParameterGrid

    from pytcn.estimators import TCNClassifier

    # fits run in this process (the workers are other processes, which these patches do not reach), tasks sent
    fits_here, submitted = [], []
    real_fit, real_submit = TCNClassifier.fit, Client.submit
    monkeypatch.setattr(TCNClassifier, "fit", lambda self, X, y: fits_here.append(1) or real_fit(self, X, y))
    monkeypatch.setattr(Client, "submit", lambda self, *a, **k: submitted.append(1) or real_submit(self, *a, **k))

    X, y = noisy_sines(36, 24, np.random.default_rng(0))
    namespace = {"X": X, "y": y}
    exec(compile(readme_block("tests/test_estimators_dask.py"), "README.md", "exec"), namespace)
    search = namespace["search"]
    assert submitted, "no task was submitted to the Dask cluster"
    assert len(fits_here) == 1, f"{len(fits_here)} fits ran in the test's process: only the refit of the best " \
                                f"candidate should, the cross-validation fits belong to the Dask workers"

    grid = list(ParameterGrid(search.param_grid))
    assert search.cv_results_["params"] == grid  # every candidate, once, in the grid's order
    assert search.best_params_ in grid
    splits = [f"split{i}_test_score" for i in range(search.n_splits_)]
    scores = np.array([search.cv_results_[key] for key in splits])
    assert len(np.unique(scores)) > 1, f"every fit scored {scores.flat[0]}: the problem is too easy to compare on"

    without = clone(search).set_params(n_jobs=None).fit(X, y)  # the same search, here, one fit after another
    for key in ["params", "mean_test_score", "rank_test_score", *splits]:
        assert list(without.cv_results_[key]) == list(search.cv_results_[key]), key
    assert without.best_params_ == search.best_params_
