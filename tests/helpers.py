"""Shared test helpers: one comparison with a tolerance chosen by dtype, parameter randomisation, thread pinning,
and running CUDA kernels on NumPy arrays."""
import functools
import importlib.util
import inspect
import os

import numba
import numpy as np
import pytest

# relative and absolute tolerance by dtype: float32 sums of a few hundred terms lose a few ulps per term
TOLERANCE = {np.dtype(np.float32): (2e-4, 2e-5), np.dtype(np.float64): (1e-10, 1e-12)}


def assert_close(actual, expected, dtype=None, what="arrays"):
    """Fails with the first mismatches and their indices when ``actual`` and ``expected`` differ beyond the
    tolerance of ``dtype`` (default: the dtype of ``expected``)."""
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != expected {expected.shape}"
    rtol, atol = TOLERANCE[np.dtype(dtype or expected.dtype)]
    scale = max(1.0, float(np.max(np.abs(expected)))) if expected.size else 1.0
    bad = ~np.isclose(actual, expected, rtol=rtol, atol=atol * scale)
    if bad.any():
        idx = np.argwhere(bad)[:5]
        lines = [f"  at {tuple(int(i) for i in k)}: {actual[tuple(k)]!r} != {expected[tuple(k)]!r}" for k in idx]
        raise AssertionError(f"{what}: {int(bad.sum())} of {bad.size} entries differ (rtol={rtol}, "
                             f"atol={atol}*{scale:.3g})\n" + "\n".join(lines))


def randomize(params, rng):
    """Sets every array of ``params`` (name -> array) in place to 0.5 * standard normal, biases included, and
    weight_g to a positive length, as a norm is: no unit is left exactly on a ReLU kink, and every bias matters."""
    for name, p in params.items():
        p[...] = 0.5 * rng.standard_normal(p.shape)
        if name.endswith("weight_g"):
            p[...] = np.abs(p) + 0.5


@pytest.fixture(autouse=True, scope="module")
def one_numba_thread():
    """For modules that import it: tiny arrays, many calls, where a parallel region costs more than the work (and
    up to milliseconds when other processes share the cores). Whether one and several threads agree is the kernel
    tests' business."""
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    yield
    numba.set_num_threads(before)


NUMBA_CUDA = importlib.util.find_spec("numba_cuda") is not None
#: the CUDA tests run wherever numba-cuda is installed (it is in the test extra), in its simulator without a GPU;
#: where it is not, they are skipped and say why
needs_numba_cuda = pytest.mark.skipif(not NUMBA_CUDA, reason="numba-cuda is not installed (pip install -e '.[test]')")


def _fashion_mnist_found():
    from pytcn.tasks.mnist import DataNotFoundError, find_data_dir

    try:
        find_data_dir("fashion-mnist")
    except DataNotFoundError:
        return False
    return True


#: CI installs every system package the tests need (.ci/run), so there a missing one fails its tests, never skips them
ON_CI = bool(os.environ.get("CI"))

#: tutorial 08 and the site (which runs it) train on the real Fashion-MNIST files, which tests cannot make; .ci/run
#: installs Debian's package, and elsewhere these tests say what to install
needs_fashion_mnist = pytest.mark.skipif(
    not ON_CI and not _fashion_mnist_found(),
    reason="needs the Fashion-MNIST files: apt-get install dataset-fashion-mnist, or pytcn download fashion-mnist")


def cuda_simulated():
    """Whether numba-cuda runs kernels in its simulator (no GPU: see tests/conftest.py)."""
    return bool(numba.config.ENABLE_CUDASIM)


def cuda_kernels():
    """pytcn.kernels.cuda (imported on first use: it needs numba-cuda); its files are its attributes (``.tiled``)."""
    from pytcn.kernels import cuda

    return cuda


def cuda_backend_for_tests():
    """The 'cuda' backend the tests build models on: on a GPU the tiled kernels, as a user's model runs; in numba-cuda's
    simulator the one-thread-per-output reference kernels in their place (``cuda_backend(kernels="reference")``). The
    simulator runs every CUDA thread as Python, so its cost is Python's per operation; a tiled kernel spends
    operations on staging and on the unused rows of partial tiles to save memory traffic a simulator does not have,
    and ran a tiny model's training step 6 to 10 times slower there (6.3 and 11 s with two tile sizes, against 1.1 s).
    The tiled kernels are tested in the simulator op by op, and in a model (tests/test_cuda.py)."""
    from pytcn.runtime.backends import cuda_backend

    return cuda_backend(kernels="reference" if cuda_simulated() else "tiled")


def model_backend(backend):
    """What a test passes as a model's ``backend=`` for the backend named ``backend``: cuda_backend_for_tests() for
    'cuda', the name itself for the others."""
    return cuda_backend_for_tests() if backend == "cuda" else backend


def small_tiles():
    """Tiles for the fast CUDA kernels that small shapes cross: 6 threads in 2 rows of 3, each 2 x 3 outputs (tiles of
    4 x 9), staging 5 channels or terms at a time (20 and 45 elements, neither a multiple of 6). In the simulator a
    block of 6 threads is quick, where one of the 256 a GPU runs takes a tenth of a second."""
    return cuda_kernels().tiled.Tiles(ROWS=2, COLS=3, PER_ROW=2, PER_COL=3, DEPTH=5)


SMALL_BIAS_THREADS = 4


def cuda_twins():
    """op -> the CUDA twin the tests call: kernels/cuda's CUDA_TWINS, and in the simulator the fast kernels with
    small tiles (tests/test_cuda.py also runs them with the tiles a GPU runs)."""
    twins = cuda_kernels().CUDA_TWINS
    if not cuda_simulated():
        return twins
    small = {"tiles": small_tiles(), "threads": SMALL_BIAS_THREADS}
    sizes = {op: [name for name in inspect.signature(fn).parameters if name in small] for op, fn in twins.items()}
    return {op: functools.partial(fn, **{name: small[name] for name in sizes[op]}) if sizes[op] else fn
            for op, fn in twins.items()}


def on_device(fn):
    """``fn`` (a CUDA twin) made callable with NumPy arrays: every array argument (also inside a list) goes to the
    device, and after the call every one comes back into the array it came from. Returns what ``fn`` returns."""
    cuda = cuda_kernels()

    def call(*args):
        pairs = []

        def to_device(a):
            if isinstance(a, np.ndarray):
                pairs.append((a, cuda.to_device(a)))
                return pairs[-1][1]
            if isinstance(a, list):
                return [to_device(item) for item in a]
            return a

        result = fn(*[to_device(a) for a in args])
        for host, device in pairs:
            host[...] = device.copy_to_host()
        return result

    return call


def readme_block(test_file):
    """The README's python block whose first line says that ``test_file`` runs it (tests/test_docs.py runs the
    others); exactly one."""
    import pathlib
    import re

    text = (pathlib.Path(__file__).resolve().parent.parent / "README.md").read_text()
    blocks = [b for b in re.findall(r"```python\n(.*?)```", text, re.S) if b.startswith(f"# runs in {test_file}\n")]
    assert len(blocks) == 1, f"README.md has {len(blocks)} python blocks marked '# runs in {test_file}'"
    return blocks[0]


def run_cli(argv, capsys):
    """(exit status, stdout, stderr) of `pytcn ARGV` (each argument made a str), run in this process."""
    from pytcn import cli

    try:
        status = cli.main([str(a) for a in argv])
    except SystemExit as e:  # argparse's own errors exit
        status = e.code
    out, err = capsys.readouterr()
    return status, out, err
