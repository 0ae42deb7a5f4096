"""The CUDA backend: kernels/gpu.py and a model with backend="cuda".

The kernels of kernels.TWINS are checked on 'cuda' by tests/test_kernels.py, with every other backend. Here:

- the table of CUDA twins covers every op, with the NumPy twin's signature;
- the plumbing ops (kernels/arrays.py) equal their NumPy references;
- a model on 'cuda' computes what the same model on 'cpu' computes (forward, input gradient, every parameter
  gradient, Adam steps with clipping and dropout), over a grid of architectures. The CPU model's gradients are
  checked against finite differences in tests/test_gradients.py; agreement to float64 roundoff carries that check
  over to the GPU.
- a training step moves data between host and device only as documented: the batch in, the loss (and the gradient
  norm, with clipping) out;
- training, resuming and the CLI work on 'cuda'; asking for 'cuda' where it cannot run says why in one line.

Without a GPU every test runs in numba-cuda's simulator (tests/conftest.py), on small shapes; on a GPU the shapes
are full size.
"""
import importlib.util
import inspect
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pytcn
from pytcn import backends, kernels
from tests.helpers import assert_close, cuda_simulated, cuda_twins, needs_numba_cuda, on_device, randomize
from tests.strategies import FLOAT_DTYPES, normal, seeds

pytestmark = needs_numba_cuda

# shapes: small in the simulator (one Python thread per CUDA thread), full size on a GPU
SIZES = dict(N=2, T=12, C=3, K=2) if cuda_simulated() else dict(N=16, T=300, C=24, K=5)
examples = settings(max_examples=10 if cuda_simulated() else 40)


def test_every_op_has_a_cuda_twin_with_the_signature_of_its_numpy_twin():
    references = {op: pair[0] for op, pair in kernels.TWINS.items()} | kernels.PLUMBING
    twins = cuda_twins()
    assert set(twins) == set(references), f"ops without a CUDA twin: {set(references) - set(twins)}, " \
                                          f"CUDA twins of no op: {set(twins) - set(references)}"
    for op, fn in twins.items():
        assert fn.__name__ == f"{op}_cuda"
        assert list(inspect.signature(fn).parameters) == list(inspect.signature(references[op]).parameters), op


# ----------------------------------------------------------------------------------------------------------------
# The plumbing ops against their NumPy references


@st.composite
def plumbing_calls(draw, op):
    """(dtype, outputs, inputs) of a call of plumbing op ``op``, with arrays of shapes drawn around (N, C, T)."""
    dtype = draw(st.sampled_from(FLOAT_DTYPES))
    N, C, T = draw(st.integers(1, 3)), draw(st.integers(1, 5)), draw(st.integers(1, 40))
    K = draw(st.integers(1, 4))
    rng = np.random.default_rng(draw(seeds))
    x = normal(rng, (N, C, T), dtype)
    out = np.full((N, C, T), np.nan, dtype)  # an element a kernel forgets to write stays NaN
    v = normal(rng, (C, N, K), dtype)
    g = np.abs(normal(rng, (C, 1, 1), dtype)) + 0.5
    calls = {
        "fill": ([out], [draw(st.sampled_from([0.0, 1.5]))]),
        "copy": ([out], [x]),
        "add": ([out], [x, normal(rng, x.shape, dtype)]),
        "scale": ([out], [x, draw(st.floats(-2, 2))]),
        "sum_squares": ([], [[x, v, g]]),
        "transpose": ([np.full((N, T, C), np.nan, dtype)], [x]),
        "take_steps": ([np.full((N, C), np.nan, dtype)], [x, rng.integers(0, T, N)]),
        "scatter_steps": ([out], [normal(rng, (N, C), dtype), rng.integers(0, T, N)]),
        "window": ([np.full((N, C, draw(st.integers(1, 40))), np.nan, dtype)], [x, draw(st.integers(-45, 45))]),
        "scale_channels": ([out], [x, (rng.random((N, C)) > 0.3).astype(dtype) / dtype.type(0.7)]),
        "weight_norm": ([np.full(v.shape, np.nan, dtype)], [g, v]),
        "weight_norm_backward": ([np.full(g.shape, np.nan, dtype), np.full(v.shape, np.nan, dtype)],
                                 [normal(rng, v.shape, dtype), g, v]),
        "sgd_update": ([x.copy()], [normal(rng, x.shape, dtype), draw(st.floats(1e-4, 0.5))]),
    }
    outputs, inputs = calls[op]
    return dtype, outputs, inputs


@pytest.mark.parametrize("op", sorted(kernels.PLUMBING))
@examples
@given(data=st.data())
def test_cuda_plumbing_equals_numpy_reference(op, data):
    dtype, outputs, inputs = data.draw(plumbing_calls(op))
    expected = [a.copy() for a in outputs]
    inputs_before = [a.copy() if isinstance(a, np.ndarray) else a for a in inputs]
    expected_result = kernels.PLUMBING[op](*expected, *inputs)
    result = on_device(cuda_twins()[op])(*outputs, *inputs)
    for k, (a, e) in enumerate(zip(outputs, expected)):
        assert_close(a, e, dtype=dtype, what=f"{op}: output {k}")
    if expected_result is not None:
        assert_close(np.float64(result), np.float64(expected_result), dtype=dtype, what=f"{op}: result")
    for a, b in zip(inputs, inputs_before):
        if isinstance(a, np.ndarray):
            assert np.array_equal(a, b), f"{op} wrote an input"


# ----------------------------------------------------------------------------------------------------------------
# A model on 'cuda' against the same model on 'cpu'


def pair_of_models(dtype=np.float64, **arch):
    """The same architecture and weights on 'cpu' and on 'cuda' (weights randomised, biases included)."""
    kw = dict(input_channels=2, outputs=3, nb_filters=SIZES["C"], kernel_size=SIZES["K"], dilations=[1, 2, 4],
              dtype=dtype, seed=0)
    kw.update(arch)
    cpu = pytcn.TCN(**kw, backend="cpu")
    randomize(cpu.params, np.random.default_rng(1))
    gpu = pytcn.TCN(**kw, backend="cuda")
    gpu.load_state_dict(cpu.state_dict())
    return cpu, gpu


ARCHITECTURES = [dict(return_sequences=rs, use_skip_connections=skip, use_weight_norm=wn, nb_stacks=stacks)
                 for rs in (False, True) for skip in (False, True) for wn in (False, True) for stacks in (1, 2)]


@pytest.mark.parametrize("arch", ARCHITECTURES, ids=lambda a: "-".join(f"{k}={int(v)}" for k, v in a.items()))
def test_cuda_model_computes_what_the_cpu_model_computes(arch):
    cpu, gpu = pair_of_models(**arch)
    x = np.random.default_rng(2).standard_normal((SIZES["N"], SIZES["T"], 2))
    y = cpu.forward(x)
    y_gpu = gpu.forward(x)
    assert backends.get_backend("cuda").is_array(y_gpu), "forward on 'cuda' should return a device array"
    assert_close(pytcn.to_numpy(y_gpu), y, what="forward")
    dy = np.random.default_rng(3).standard_normal(y.shape)
    assert_close(pytcn.to_numpy(gpu.backward(dy)), cpu.backward(dy), what="input gradient")
    for name in cpu.params:
        assert_close(pytcn.to_numpy(gpu.grads[name]), cpu.grads[name], what=f"gradient of {name}")


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=str)
@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
def test_cuda_training_steps_follow_the_cpu_ones(dtype, loss):
    # dropout on (the masks are drawn on the host from the same generator; spatial with one loss, element-wise with
    # the other), weight norm on, clipping on, 3 steps
    cpu, gpu = pair_of_models(dtype=dtype, dropout_rate=0.3, use_weight_norm=True, return_sequences=loss != "mse",
                              seed=5, dropout_type="spatial" if loss == "mse" else "elementwise")
    optimizers = {m: pytcn.Adam(m.params, lr=1e-2, max_grad_norm=0.5, weight_decay=1e-3) for m in (cpu, gpu)}
    assert optimizers[gpu].backend.name == "cuda", "Adam should take the backend of device arrays"
    data = np.random.default_rng(4)
    for step in range(3):
        x = data.standard_normal((SIZES["N"], SIZES["T"], 2))
        labels = data.integers(0, 3, (SIZES["N"], SIZES["T"]))
        losses = {}
        for m in (cpu, gpu):
            pred = m.forward(x, training=True)
            if loss == "mse":
                losses[m], dpred = pytcn.mse(pred, np.ones(pred.shape, dtype))
            else:
                losses[m], dpred = pytcn.cross_entropy(pred, labels)
            m.backward(dpred)
            optimizers[m].step(m.grads)
        assert_close(np.float64(losses[gpu]), np.float64(losses[cpu]), dtype=dtype, what=f"loss at step {step}")
    cpu_state, gpu_state = cpu.state_dict(), gpu.state_dict()
    for name in cpu_state:
        assert_close(gpu_state[name], cpu_state[name], dtype=dtype, what=f"{name} after 3 steps")
    for key in ("m", "v"):
        for name, a in optimizers[cpu].state_dict()[key].items():
            assert_close(optimizers[gpu].state_dict()[key][name], a, dtype=dtype, what=f"Adam {key} of {name}")


def test_sgd_on_cuda_follows_sgd_on_cpu():
    cpu, gpu = pair_of_models()
    x = np.random.default_rng(6).standard_normal((SIZES["N"], SIZES["T"], 2))
    for m in (cpu, gpu):
        _, dpred = pytcn.mse(m.forward(x), np.zeros((SIZES["N"], 3)))
        m.backward(dpred)
        pytcn.SGD(m.params, lr=0.1, max_grad_norm=0.2).step(m.grads)
    for name, p in cpu.state_dict().items():
        assert_close(gpu.state_dict()[name], p, what=name)


def test_a_seed_gives_the_same_initial_model_on_every_backend():
    kw = dict(input_channels=1, nb_filters=4, kernel_size=3, dilations=[1, 2], use_weight_norm=True, seed=11)
    expected = pytcn.TCN(**kw).state_dict()
    for name, p in pytcn.TCN(**kw, backend="cuda").state_dict().items():
        assert np.array_equal(p, expected[name]), name


# ----------------------------------------------------------------------------------------------------------------
# What crosses between host and device


class Transfers:
    """Counts host-to-device copies (numba.cuda.to_device, which kernels/gpu.py calls for every new device array made
    from a host one, and copy_to_device of the device array type, which Backend.load calls to fill an existing one)
    and device-to-host copies (copy_to_host)."""

    def __init__(self, monkeypatch):
        from numba import cuda

        from pytcn.kernels import gpu

        self.to_device = self.to_host = 0
        self._inside_to_device = False  # cuda.to_device may call copy_to_device itself: one copy, counted once
        device_array_type = type(gpu.device_array(1, np.float32))
        original_to_device = cuda.to_device
        original_copy_to_device = device_array_type.copy_to_device
        original_to_host = device_array_type.copy_to_host

        def to_device(*args, **kwargs):
            self.to_device += 1
            self._inside_to_device = True
            try:
                return original_to_device(*args, **kwargs)
            finally:
                self._inside_to_device = False

        def copy_to_device(array, *args, **kwargs):
            self.to_device += not self._inside_to_device
            return original_copy_to_device(array, *args, **kwargs)

        def copy_to_host(array, *args, **kwargs):
            self.to_host += 1
            return original_to_host(array, *args, **kwargs)

        monkeypatch.setattr(cuda, "to_device", to_device)
        monkeypatch.setattr(device_array_type, "copy_to_device", copy_to_device)
        monkeypatch.setattr(device_array_type, "copy_to_host", copy_to_host)


@pytest.mark.parametrize("dropout_rate", [0.0, 0.2])
def test_a_training_step_copies_the_batch_in_and_the_loss_and_norm_out(monkeypatch, dropout_rate):
    _, gpu = pair_of_models(dtype=np.float32, use_weight_norm=True, use_skip_connections=True,
                            dropout_rate=dropout_rate)
    optimizer = pytcn.Adam(gpu.params, max_grad_norm=1.0)
    x = np.random.default_rng(7).standard_normal((SIZES["N"], SIZES["T"], 2)).astype(np.float32)
    target = np.zeros((SIZES["N"], 3), np.float32)
    gpu.forward(x)  # the first pass of a batch shape also copies in the steps the head reads, once for the shape
    transfers = Transfers(monkeypatch)
    pred = gpu.forward(x, training=True)
    loss, dpred = pytcn.mse(pred, target)
    gpu.backward(dpred)
    optimizer.step(gpu.grads)
    # in: the batch and the target, and with dropout each layer's mask (drawn on the host); out: the loss, and the
    # gradient norm for clipping. Nothing else, per layer or otherwise.
    masks = 2 * len(gpu.blocks) if dropout_rate else 0
    assert (transfers.to_device, transfers.to_host) == (2 + masks, 2), \
        f"{transfers.to_device} copies to the device and {transfers.to_host} back in one step"


@pytest.mark.skipif(not cuda_simulated(), reason="checks the simulator's strictness (tests/conftest.py)")
def test_the_simulator_refuses_what_a_gpu_refuses():
    # tests/conftest.py makes the simulator's device arrays as strict as real ones; without it, NumPy code reaching
    # a device array would pass every test here and fail on a GPU
    from pytcn.kernels import gpu

    a = gpu.to_device(np.ones(3, np.float32))
    with pytest.raises(AttributeError, match="'sum'"):
        a.sum()
    with pytest.raises(TypeError, match="NumPy arithmetic"):
        a * 2
    with pytest.raises(TypeError, match="is a NumPy array"):
        gpu.fill_cuda(np.ones(3, np.float32), 0.0)


def test_gradcheck_refuses_a_cuda_module_and_says_what_to_do():
    model = pytcn.TCN(input_channels=1, nb_filters=2, kernel_size=2, dilations=[1], dtype=np.float64,
                      backend="cuda")
    with pytest.raises(TypeError, match="gradcheck needs a module on a host backend"):
        pytcn.gradcheck(model, np.zeros((1, 3, 1)))


# ----------------------------------------------------------------------------------------------------------------
# Training, resume and the CLI on 'cuda'


def tiny_config(tmp_path, backend):
    from pytcn.training import default_config

    config = default_config("adding")
    config.update(length=SIZES["T"], nb_filters=SIZES["C"], kernel_size=SIZES["K"], dilations=[1, 2], epochs=2,
                  batch_size=8, train_size=16, val_size=8, test_size=8, backend=backend, dropout_rate=0.2)
    return config


def test_training_on_cuda_resumes_bit_for_bit_and_follows_the_cpu(tmp_path):
    from pytcn.training import Trainer

    straight = Trainer(tiny_config(tmp_path, "cuda"), tmp_path / "straight", progress=False, log=lambda *a: None)
    straight.run()
    first = Trainer(dict(tiny_config(tmp_path, "cuda"), epochs=1), tmp_path / "split", progress=False,
                    log=lambda *a: None)
    first.run()
    resumed = Trainer.resume(tmp_path / "split", progress=False, log=lambda *a: None, epochs=2)
    resumed.run()
    on_cpu = Trainer(tiny_config(tmp_path, "cpu"), tmp_path / "cpu", progress=False, log=lambda *a: None)
    on_cpu.run()
    for name, p in straight.model.state_dict().items():
        # the CUDA kernels add in a fixed order: stopping and resuming changes no bit
        assert np.array_equal(resumed.model.state_dict()[name], p), f"{name} differs after a resume"
        assert_close(p, on_cpu.model.state_dict()[name], what=f"{name}, cuda vs cpu after 2 epochs")


def test_cli_trains_and_evaluates_on_cuda(tmp_path, capsys):
    from pytcn.cli import main

    out = tmp_path / "run"
    args = ["train", "adding", "--backend", "cuda", "--length", str(SIZES["T"]), "--nb-filters", "3",
            "--kernel-size", "2", "--dilations", "1,2", "--epochs", "1", "--train-size", "16", "--val-size", "8",
            "--test-size", "8", "--batch-size", "8", "--no-progress", "--out", str(out)]
    assert main(args) == 0
    assert "test MSE" in capsys.readouterr().out
    assert main(["evaluate", str(out / "checkpoint.npz")]) == 0
    assert main(["evaluate", str(out / "checkpoint.npz"), "--backend", "cpu"]) == 0
    assert main(["info", str(out / "checkpoint.npz")]) == 0


# ----------------------------------------------------------------------------------------------------------------
# Errors


def test_device_arrays_of_the_wrong_dtype_or_shape_are_refused_by_name():
    from pytcn.kernels import gpu

    model = pytcn.TCN(input_channels=2, nb_filters=3, kernel_size=2, dilations=[1], backend="cuda")
    with pytest.raises(TypeError, match="x is a device array of float64; it must be float32"):
        model.forward(gpu.to_device(np.zeros((1, 4, 2))))
    with pytest.raises(ValueError, match=r"x must have shape \(\*, \*, 2\), got \(1, 4, 3\)"):
        model.forward(gpu.to_device(np.zeros((1, 4, 3), np.float32)))
    with pytest.raises(TypeError, match="params\\['w'\\] must be a device array"):
        pytcn.Adam({"w": np.zeros(3, np.float32)}, backend="cuda")


def test_cuda_without_numba_cuda_says_what_to_install(monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "numba_cuda"
                        else real_find_spec(name, *a))
    monkeypatch.delitem(backends.BACKENDS, "cuda", raising=False)
    with pytest.raises(backends.BackendUnavailableError, match=r"needs the numba-cuda package.*pip install"):
        pytcn.TCN(input_channels=1, backend="cuda")


def test_cuda_without_a_gpu_says_so_in_one_line(monkeypatch, tmp_path, capsys):
    from numba import cuda

    from pytcn.cli import main

    monkeypatch.setattr(cuda, "is_available", lambda: False)
    monkeypatch.delitem(backends.BACKENDS, "cuda", raising=False)
    with pytest.raises(backends.BackendUnavailableError, match="no usable NVIDIA GPU"):
        backends.get_backend("cuda")
    code = main(["train", "adding", "--backend", "cuda", "--out", str(tmp_path / "r"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("pytcn: error: backend 'cuda' found numba-cuda but no usable NVIDIA GPU")
    assert err.count("\n") == 1, err


def test_cuda_with_a_numpy_too_new_for_numba_cuda_says_what_to_install():
    # numpy 2.5 removed np.row_stack, which numba-cuda 0.30.4's array support refers to: without the simulator (and
    # with or without a GPU), asking for the backend must say so and what to install, not fail inside Numba later
    script = ("import numpy; del numpy.row_stack\n"
              "import pytcn\n"
              "try:\n    pytcn.get_backend('cuda')\n"
              "except pytcn.BackendUnavailableError as e:\n    print(e)\n")
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert re.search(r"does not work with numpy .*row_stack.*numpy<2.5", out.stdout), out.stdout


@pytest.mark.parametrize("simulated", [True, False])
def test_numpy_is_checked_only_where_numba_cuda_compiles(monkeypatch, simulated):
    import numba

    def numpy_2_5():
        raise AttributeError("module 'numpy' has no attribute 'row_stack'")

    # the check reads numba's flag at the time the backend is made: both ways here, on a GPU or in the simulator
    monkeypatch.setattr(numba.config, "ENABLE_CUDASIM", simulated)
    monkeypatch.setattr(backends, "_numba_cuda_array_support", numpy_2_5)
    monkeypatch.delitem(backends.BACKENDS, "cuda", raising=False)
    if simulated:  # the simulator compiles nothing, and runs with any numpy
        assert backends.get_backend("cuda").name == "cuda"
    else:  # the check comes before the GPU's: it says the same with or without a GPU
        with pytest.raises(backends.BackendUnavailableError, match=r"does not work with numpy .*numpy<2.5"):
            backends.get_backend("cuda")


def test_gradient_norm_of_device_gradients_equals_the_cpu_one():
    cpu, gpu = pair_of_models()
    x = np.random.default_rng(8).standard_normal((SIZES["N"], SIZES["T"], 2))
    for m in (cpu, gpu):
        m.backward(np.ones(m.forward(x).shape))
    expected = pytcn.optim.global_grad_norm(cpu.grads)
    assert_close(np.float64(pytcn.optim.global_grad_norm(gpu.grads)), np.float64(expected))  # backend inferred
    assert_close(np.float64(pytcn.optim.clip_factor(gpu.grads, 0.1)),
                 np.float64(pytcn.optim.clip_factor(cpu.grads, 0.1)))
