"""Compare a backward pass with central finite differences.

For a layer or model f with output y = f(x; params) and a random upstream gradient dy, the backward pass claims

    d<y, dy>/dx = backward(dy)        and      d<y, dy>/dp = grads[p]   for every parameter p.

``gradcheck`` perturbs every entry of x and of every parameter by +-h, measures the change of <f, dy>, and compares:

    numeric[k] = (<f(z + h e_k), dy> - <f(z - h e_k), dy>) / (2 h)        (h = 1e-5 by default)

The error of entry k is |analytic[k] - numeric[k]| / max(|analytic[k]|, |numeric[k]|, floor) with floor = 1e-3 times
the largest |numeric| of that array: a plain relative error, except that entries a thousand times smaller than the
array's largest (true zeros, say, where roundoff alone would give a "relative error" of 1) are measured against that
floor instead. Run it in float64: in float32 the differences drown in roundoff.

Why h = 1e-5: the roundoff in a central difference grows as eps/h, the truncation error as h^2. On the models of the
test suite h = 1e-6 left roundoff errors of 1-2e-6 in a few configurations, h = 1e-5 kept every one below 6e-7, and
a larger h starts to cross ReLU kinks (a pre-activation within h of zero), where no finite difference is right.
"""
from dataclasses import dataclass, field

import numpy as np


@dataclass
class GradcheckResult:
    """The worst relative error over all checked arrays, and where it is."""
    max_rel_error: float
    worst: str  # "name[index]"
    errors: dict = field(default_factory=dict)  # array name -> its worst relative error

    def __str__(self):
        per = ", ".join(f"{name}: {err:.2e}" for name, err in self.errors.items())
        return f"worst relative error {self.max_rel_error:.3e} at {self.worst} ({per})"


def relative_error(analytic, numeric):
    """Entrywise relative error as defined in the module docstring (returns an array)."""
    analytic = np.asarray(analytic, np.float64)
    numeric = np.asarray(numeric, np.float64)
    floor = 1e-3 * np.max(np.abs(numeric)) if numeric.size else 0.0
    denom = np.maximum(np.maximum(np.abs(analytic), np.abs(numeric)), floor)
    denom[denom == 0] = 1.0  # both exactly zero everywhere: no error
    return np.abs(analytic - numeric) / denom


def numerical_gradient(f, z, h=1e-5):
    """Central-difference gradient of the scalar function f() with respect to array z, which f reads and this
    function perturbs in place (restoring every entry)."""
    grad = np.zeros(z.shape, np.float64)
    flat = z.reshape(-1)  # a view: z must be contiguous
    gflat = grad.reshape(-1)
    for k in range(flat.size):
        old = flat[k]
        flat[k] = old + h
        plus = f()
        flat[k] = old - h
        minus = f()
        flat[k] = old
        gflat[k] = (plus - minus) / (2 * h)
    return grad


def gradcheck(module, x, dy=None, forward=None, h=1e-5, seed=0, check_input=True):
    """Check a backward pass (the input gradient and the gradient of every parameter) against finite differences.

    module   a layer or block, ``forward(x) -> (y, cache)`` and ``backward(dy, cache) -> (dx, grads)``; or a model,
             ``forward(x) -> y`` and ``backward(dy) -> dx`` filling ``module.grads``. Either has ``params``.
    x        the input, float64
    dy       the upstream gradient (default: standard normal, drawn from ``seed``, never ones)
    forward  forward(x), called instead of module.forward and returning what it returns (e.g. with dropout masks
             drawn from a freshly seeded generator every time, so that every evaluation uses the same mask)
    A block's forward returns ((out, branch), cache): it is checked on its first output, ``out``.
    """
    _check_module(module, x)
    x = np.ascontiguousarray(x).copy()
    forward = module.forward if forward is None else forward

    def run(inp):
        """(y, the backward of this very pass: dy -> (dx, grads))."""
        result = forward(inp)
        if isinstance(result, tuple):  # a layer: (y, cache)
            y, cache = result
            return (y[0] if isinstance(y, tuple) else y), lambda g: module.backward(g, cache)
        return result, lambda g: (module.backward(g), module.grads)  # a model keeps its pass itself

    y, backward = run(x)
    if dy is None:
        dy = np.random.default_rng(seed).standard_normal(y.shape)
    dx, grads = backward(dy)
    missing = [name for name in module.params if name not in grads]
    if missing:
        raise ValueError(f"backward returned no gradient for the parameters {missing}")
    analytic = {name: np.array(grads[name], np.float64) for name in module.params}
    if check_input:
        analytic["input"] = np.array(dx, np.float64)

    arrays = dict(module.params)
    if check_input:
        arrays["input"] = x
    errors, worst, worst_where = {}, -1.0, ""
    for name, z in arrays.items():
        numeric = numerical_gradient(lambda: float(np.sum(run(x)[0] * dy)), z, h)
        err = relative_error(analytic[name], numeric)
        err[~np.isfinite(err)] = np.inf  # a NaN gradient is the worst error there is, not one that max() skips
        k = int(np.argmax(err))
        errors[name] = float(err.flat[k])
        if err.flat[k] > worst:
            worst = float(err.flat[k])
            worst_where = f"{name}{tuple(int(i) for i in np.unravel_index(k, err.shape))}"
    return GradcheckResult(worst, worst_where, errors)


def _check_module(module, x):
    if not all(hasattr(module, attr) for attr in ("forward", "backward", "params")):
        raise TypeError(f"module must be a pytcn layer, block or model (with forward, backward and params), got "
                        f"{type(module).__name__}")
    if not isinstance(x, np.ndarray):
        raise TypeError(f"x must be a NumPy array, got {type(x).__name__}")
    if x.dtype != np.float64:
        raise TypeError(f"x must be float64 for a gradient check, got {x.dtype}")
    on_device = [name for name, p in module.params.items() if not isinstance(p, np.ndarray)]
    if on_device:
        # finite differences perturb the parameters in place, one entry at a time, which needs them on the host
        raise TypeError(f"gradcheck needs a module on a host backend ('cpu' or 'numpy'); params[{on_device[0]!r}] is "
                        f"a {type(module.params[on_device[0]]).__name__}. Check a 'cuda' model against the same "
                        f"model on 'cpu' instead (load_state_dict), as tests/test_cuda.py does")
    not_float64 = sorted({str(p.dtype) for p in module.params.values() if p.dtype != np.float64})
    if not_float64:
        raise TypeError(f"gradcheck needs a float64 module, got parameters of {', '.join(not_float64)}: in float32 a "
                        f"central difference drowns in roundoff (a relative error near 1 would measure that, not the "
                        f"backward). Build the module with dtype=np.float64")
