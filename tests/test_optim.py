"""Adam, RMSprop and SGD against references written here from PyTorch's documented algorithms, gradient clipping against
torch.nn.utils.clip_grad_norm_'s rule, and the optimizers driving a model."""

import numpy as np
import pytest

import pytcn

from .helpers import assert_close, one_numba_thread  # noqa: F401 (an autouse fixture)


def torch_clip_scale(grads, max_grad_norm):
    """torch.nn.utils.clip_grad_norm_: total_norm = ||all gradients||_2, clip_coef = max_norm / (total_norm + 1e-6),
    gradients multiplied by min(clip_coef, 1)."""
    if max_grad_norm is None:
        return 1.0
    total_norm = np.sqrt(sum(np.sum(np.asarray(g, np.float64) ** 2) for g in grads.values()))
    return min(max_grad_norm / (total_norm + 1e-6), 1.0)


class ReferenceAdam:
    """torch.optim.Adam's documented algorithm (L2 weight decay, not AdamW), in float64, one array at a time:

        g = g + weight_decay * p
        m = beta1 m + (1 - beta1) g
        v = beta2 v + (1 - beta2) g^2
        p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
    """

    def __init__(self, params, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, max_grad_norm=None):
        self.params = {name: np.array(p, np.float64) for name, p in params.items()}
        self.lr, self.beta1, self.beta2, self.eps = lr, beta1, beta2, eps
        self.weight_decay, self.max_grad_norm = weight_decay, max_grad_norm
        self.m = {name: np.zeros_like(p) for name, p in self.params.items()}
        self.v = {name: np.zeros_like(p) for name, p in self.params.items()}
        self.t = 0

    def step(self, grads):
        scale = torch_clip_scale(grads, self.max_grad_norm)
        self.t += 1
        for name, p in self.params.items():
            g = scale * grads[name] + self.weight_decay * p
            self.m[name] = self.beta1 * self.m[name] + (1 - self.beta1) * g
            self.v[name] = self.beta2 * self.v[name] + (1 - self.beta2) * g * g
            step_size = self.lr / (1 - self.beta1 ** self.t)
            denom = np.sqrt(self.v[name]) / np.sqrt(1 - self.beta2 ** self.t) + self.eps
            self.params[name] = p - step_size * self.m[name] / denom


class ReferenceRMSprop:
    """torch.optim.RMSprop's documented algorithm (centered=False), in float64, one array at a time:

        g = g + weight_decay * p
        v = alpha v + (1 - alpha) g^2
        b = momentum b + g / (sqrt(v) + eps);  p = p - lr * b       (momentum > 0)
        p = p - lr * g / (sqrt(v) + eps)                            (momentum = 0)
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, max_grad_norm=None):
        self.params = {name: np.array(p, np.float64) for name, p in params.items()}
        self.lr, self.alpha, self.eps, self.weight_decay, self.momentum = lr, alpha, eps, weight_decay, momentum
        self.max_grad_norm = max_grad_norm
        self.v = {name: np.zeros_like(p) for name, p in self.params.items()}
        self.b = {name: np.zeros_like(p) for name, p in self.params.items()}

    def step(self, grads):
        scale = torch_clip_scale(grads, self.max_grad_norm)
        for name, p in self.params.items():
            g = scale * grads[name] + self.weight_decay * p
            self.v[name] = self.alpha * self.v[name] + (1 - self.alpha) * g * g
            if self.momentum > 0:
                self.b[name] = self.momentum * self.b[name] + g / (np.sqrt(self.v[name]) + self.eps)
                self.params[name] = p - self.lr * self.b[name]
            else:
                self.params[name] = p - self.lr * g / (np.sqrt(self.v[name]) + self.eps)


def make_params(rng):
    return {"a": rng.standard_normal((3, 4)), "b": rng.standard_normal(5), "tiny": rng.standard_normal((2, 3))}


def make_grads(rng, step):
    """Gradients that change every step, in scale too; those of "tiny" are about 1e-8, where epsilon is as large
    as sqrt(v) and its exact place in the formula shows in the update."""
    return {"a": (1.0 + step) * rng.standard_normal((3, 4)), "b": rng.standard_normal(5) / (1.0 + step),
            "tiny": 1e-8 * rng.standard_normal((2, 3))}


HYPERPARAMETERS = [
    {},  # torch's defaults: lr 1e-3, betas (0.9, 0.999), eps 1e-8
    dict(lr=0.05, beta1=0.8, beta2=0.95, epsilon=1e-7),
]


@pytest.mark.parametrize("backend", ["cpu", "numpy"])
@pytest.mark.parametrize("max_grad_norm", [None, 0.5], ids=["unclipped", "clipped"])
@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
@pytest.mark.parametrize("hyper", HYPERPARAMETERS, ids=["defaults", "custom"])
def test_adam_matches_torch_algorithm(hyper, weight_decay, max_grad_norm, backend):
    rng = np.random.default_rng(0)
    params = make_params(rng)
    start = {name: p.copy() for name, p in params.items()}
    optimizer = pytcn.Adam(params, weight_decay=weight_decay, max_grad_norm=max_grad_norm, backend=backend, **hyper)
    reference = ReferenceAdam(params, weight_decay=weight_decay, max_grad_norm=max_grad_norm,
                              **{("eps" if k == "epsilon" else k): v for k, v in hyper.items()})
    for step in range(5):
        grads = make_grads(rng, step)
        if max_grad_norm is not None:
            assert torch_clip_scale(grads, max_grad_norm) < 0.5, "the clipped case should clip"
        optimizer.step(grads)
        reference.step(grads)
        for name, p in params.items():
            np.testing.assert_allclose(p, reference.params[name], rtol=1e-12, atol=0,
                                       err_msg=f"{name} after step {step + 1}")
            # the displacement, not only the parameter: a wrong update is small beside the parameter itself
            np.testing.assert_allclose(p - start[name], reference.params[name] - start[name], rtol=1e-9, atol=0,
                                       err_msg=f"{name} moved wrongly by step {step + 1}")
            np.testing.assert_allclose(optimizer.m[name], reference.m[name], rtol=1e-12, atol=0, err_msg=f"m[{name}]")
            np.testing.assert_allclose(optimizer.v[name], reference.v[name], rtol=1e-12, atol=0, err_msg=f"v[{name}]")
    assert optimizer.t == 5


@pytest.mark.parametrize("backend", ["cpu", "numpy"])
@pytest.mark.parametrize("max_grad_norm", [None, 0.5], ids=["unclipped", "clipped"])
@pytest.mark.parametrize("hyper", [{}, dict(lr=5e-4, alpha=0.9, epsilon=1e-6, weight_decay=0.01),
                                   dict(lr=1e-3, momentum=0.9)], ids=["defaults", "custom", "momentum"])
def test_rmsprop_matches_torch_algorithm(hyper, max_grad_norm, backend):
    rng = np.random.default_rng(0)
    params = make_params(rng)
    start = {name: p.copy() for name, p in params.items()}
    optimizer = pytcn.RMSprop(params, max_grad_norm=max_grad_norm, backend=backend, **hyper)
    reference = ReferenceRMSprop(params, max_grad_norm=max_grad_norm,
                                 **{("eps" if k == "epsilon" else k): v for k, v in hyper.items()})
    for step in range(5):
        grads = make_grads(rng, step)
        optimizer.step(grads)
        reference.step(grads)
        for name, p in params.items():
            np.testing.assert_allclose(p, reference.params[name], rtol=1e-12, atol=0,
                                       err_msg=f"{name} after step {step + 1}")
            np.testing.assert_allclose(p - start[name], reference.params[name] - start[name], rtol=1e-9, atol=0,
                                       err_msg=f"{name} moved wrongly by step {step + 1}")
            np.testing.assert_allclose(optimizer.v[name], reference.v[name], rtol=1e-12, atol=0, err_msg=f"v[{name}]")
            np.testing.assert_allclose(optimizer.m[name], reference.b[name], rtol=1e-12, atol=0, err_msg=f"m[{name}]")
    assert optimizer.t == 5


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_rmsprop_equals_torch_s_where_torch_is_installed(momentum):
    # without PyTorch, test_rmsprop_matches_torch_algorithm checks the same against torch's documented algorithm
    torch = pytest.importorskip("torch", reason="compares with torch.optim.RMSprop, not installed here")
    rng = np.random.default_rng(3)
    params = make_params(rng)
    tensors = {name: torch.tensor(p.copy(), requires_grad=True) for name, p in params.items()}
    theirs = torch.optim.RMSprop(tensors.values(), lr=1e-2, alpha=0.95, eps=1e-8, weight_decay=0.001,
                                 momentum=momentum)
    ours = pytcn.RMSprop(params, lr=1e-2, alpha=0.95, weight_decay=0.001, momentum=momentum, backend="numpy")
    for step in range(4):
        grads = make_grads(rng, step)
        for name, t in tensors.items():
            t.grad = torch.tensor(grads[name])
        theirs.step()
        ours.step(grads)
    for name, p in params.items():
        np.testing.assert_allclose(p, tensors[name].detach().numpy(), rtol=1e-12, atol=1e-15, err_msg=name)


@pytest.mark.parametrize("bad, message", [
    (dict(lr=-1.0), "lr"), (dict(alpha=1.5), "alpha"), (dict(alpha="x"), "alpha"), (dict(epsilon=-1e-8), "epsilon"),
    (dict(momentum=1.0), "momentum"), (dict(momentum=-0.1), "momentum"), (dict(weight_decay=-1.0), "weight_decay"),
    (dict(max_grad_norm=0.0), "max_grad_norm"),
])
def test_rmsprop_refuses_a_bad_hyperparameter_naming_it(bad, message):
    with pytest.raises((ValueError, TypeError), match=message):
        pytcn.RMSprop({"w": np.zeros(3)}, **bad)


def test_rmsprop_state_round_trips_and_refuses_another_shape():
    rng = np.random.default_rng(4)
    params = make_params(rng)
    optimizer = pytcn.RMSprop(params, momentum=0.5)
    optimizer.step(make_grads(rng, 0))
    state = optimizer.state_dict()
    again = pytcn.RMSprop({name: p.copy() for name, p in params.items()}, momentum=0.5)
    again.load_state_dict(state)
    assert again.t == 1 and all(np.array_equal(again.v[n], optimizer.v[n]) for n in params)
    state["v"]["a"] = np.zeros((2, 2))
    with pytest.raises(ValueError, match="RMSprop's v"):
        again.load_state_dict(state)


@pytest.mark.parametrize("factor", [0.5, 1.0, 2.0], ids=["clipped", "at_the_norm", "not_clipped"])
def test_clipping_follows_clip_grad_norm(factor):
    """max_grad_norm = factor * the gradients' norm. At the norm itself torch still scales by norm / (norm + 1e-6)."""
    rng = np.random.default_rng(1)
    params = {"w": rng.standard_normal((3, 2)), "b": rng.standard_normal(3)}
    start = {name: p.copy() for name, p in params.items()}
    grads = {"w": rng.standard_normal((3, 2)), "b": rng.standard_normal(3)}
    norm = np.sqrt(sum(np.sum(g ** 2) for g in grads.values()))
    scale = torch_clip_scale(grads, factor * norm)
    assert (scale < 1.0) == (factor <= 1.0)
    lr = 0.1
    pytcn.SGD(params, lr=lr, max_grad_norm=factor * norm).step(grads)
    for name, p in params.items():
        np.testing.assert_allclose(start[name] - p, lr * scale * grads[name], rtol=1e-12, atol=0, err_msg=name)
    assert pytcn.optim.clip_factor(grads, factor * norm) == pytest.approx(scale, rel=1e-14)


def test_sgd_steps_against_the_update_rule():
    rng = np.random.default_rng(2)
    params = make_params(rng)
    expected = {name: p.copy() for name, p in params.items()}
    optimizer = pytcn.SGD(params, lr=0.03)
    for step in range(3):
        grads = make_grads(rng, step)
        optimizer.step(grads)
        for name in expected:
            expected[name] = expected[name] - 0.03 * grads[name]  # param -= lr * grad
    for name, p in params.items():
        np.testing.assert_allclose(p, expected[name], rtol=1e-15, atol=0, err_msg=name)


@pytest.mark.parametrize("optimizer_class", [pytcn.Adam, pytcn.SGD])
def test_optimizer_updates_the_model_in_place(optimizer_class):
    rng = np.random.default_rng(3)
    model = pytcn.TCN(input_channels=2, outputs=1, nb_filters=3, kernel_size=2, dilations=[1, 2], seed=0)
    live = {name: p for name, p in model.params.items()}
    before = model.state_dict()
    x = rng.standard_normal((4, 6, 2)).astype(np.float32)
    y = model.forward(x)
    model.backward(rng.standard_normal(y.shape).astype(np.float32))
    optimizer_class(model.params, lr=1e-2).step(model.grads)
    assert not np.allclose(model.forward(x), y), "the step did not change the model's output"
    assert model.blocks[0].conv1.params["weight"] is model.params["tcn.network.0.conv1.weight"]
    for name, p in model.params.items():
        assert p is live[name], f"{name} was replaced, not updated in place"
        if np.any(model.grads[name] != 0):
            assert not np.array_equal(p, before[name]), f"{name} has a gradient but did not move"


def adding_like(rng, n, T):
    """x: (n, T, 2), values and two markers; y: (n, 1), the sum of the two marked values."""
    x = np.zeros((n, T, 2))
    x[:, :, 0] = rng.random((n, T))
    for i in range(n):
        x[i, rng.choice(T, 2, replace=False), 1] = 1.0
    y = (x[:, :, 0] * x[:, :, 1]).sum(axis=1, keepdims=True)
    return x, y


def test_training_lowers_the_loss():
    rng = np.random.default_rng(0)
    x, y = adding_like(rng, 64, 8)
    model = pytcn.TCN(input_channels=2, outputs=1, nb_filters=8, kernel_size=2, dilations=[1, 2, 4],
                      dtype=np.float64, seed=0)
    assert model.receptive_field >= 8
    optimizer = pytcn.Adam(model.params, lr=1e-2)
    losses = []
    for _ in range(100):
        loss, dy = pytcn.mse(model.forward(x), y)
        model.backward(dy)
        optimizer.step(model.grads)
        losses.append(loss)
    assert np.all(np.isfinite(losses))
    assert losses[-1] < losses[0] / 10, f"loss went from {losses[0]:.4f} to {losses[-1]:.4f}"
    # and below what predicting the mean target scores: the model uses the markers
    assert losses[-1] < 0.5 * np.var(y), f"final loss {losses[-1]:.4f}, variance of the target {np.var(y):.4f}"


def counting(backend_name, op):
    """Backend ``backend_name`` with ``op`` wrapped to count its calls: (backend, calls list)."""
    be = pytcn.get_backend(backend_name)
    calls = []

    def counted(*args):
        calls.append(args[0].shape)
        return getattr(be, op)(*args)

    return be.replace(**{op: counted}), calls


@pytest.mark.parametrize("max_grad_norm", [None, 0.05], ids=["no_clip", "clip"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_adam_updates_a_models_flat_buffer_in_one_pass_as_it_would_array_by_array(dtype, max_grad_norm):
    rng = np.random.default_rng(4)
    kw = dict(input_channels=2, outputs=2, nb_filters=3, kernel_size=2, dilations=[1, 2], use_weight_norm=True,
              dtype=dtype, seed=0)
    packed, separate = pytcn.TCN(**kw), pytcn.TCN(**kw)
    # the model's params and grads are views of one flat buffer each, which its layers use too
    for arrays in (packed.params, packed.grads):
        assert arrays.flat.size == sum(a.size for a in arrays.values())
        assert all(np.shares_memory(a, arrays.flat) for a in arrays.values())
    assert packed.blocks[1].conv2.params["weight_v"] is packed.params["tcn.network.1.conv2.weight_v"]
    backend, calls = counting("cpu", "adam_update")
    one_pass = pytcn.Adam(packed.params, lr=1e-2, weight_decay=1e-3, max_grad_norm=max_grad_norm, backend=backend)
    # plain dicts of the other model's arrays: no flat buffer, one kernel call per array
    per_array = pytcn.Adam(dict(separate.params), lr=1e-2, weight_decay=1e-3, max_grad_norm=max_grad_norm,
                           backend="cpu")  # the same kernels as one_pass (a plain dict of NumPy arrays: 'numpy')
    for _ in range(3):
        x = rng.standard_normal((2, 6, 2))
        dy = rng.standard_normal((2, 2))
        for model, optimizer, grads in ((packed, one_pass, packed.grads), (separate, per_array, dict(separate.grads))):
            model.forward(x)
            model.backward(dy)
            optimizer.step(grads)
    assert calls == [(packed.count_params(),)] * 3, f"Adam made {len(calls)} calls in 3 steps: {calls}"
    for name, p in separate.state_dict().items():
        if max_grad_norm is None:
            assert np.array_equal(packed.state_dict()[name], p), name  # the same arithmetic, element by element
        else:  # the norm is summed in another order, so the clip factor may differ in its last bit
            assert_close(packed.state_dict()[name], p, what=name)
    for key in ("m", "v"):
        for name, a in per_array.state_dict()[key].items():
            assert_close(one_pass.state_dict()[key][name], a, what=f"{key} of {name}")
