"""The checks of the build-it-yourself track: each piece of a TCN that a learner writes, checked as pytcn checks its
own kernels, with a message that says what went wrong and where to look.

    python tutorials/build/exercises.py                      # check every piece of your copy, in order
    python tutorials/build/exercises.py conv_forward         # one piece (or several)
    python -m pytcn.exercises path/to/your_file.py [PIECE ...]

tutorials/build/exercises.py holds the stubs (each piece's docstring, then ``raise NotImplementedError``);
tutorials/build/solutions.py one way to write each; tutorial 11 walks through the track. A piece is a function of
that name in the file checked:

    piece                                         checked with
    conv_forward(x, W, b, d) -> y                 pytcn.testing.assert_matches_reference (float32 and float64,
                                                  drawn shapes) and assert_causal
    conv_backward_input(dy, W, d) -> dx           assert_matches_reference against reference_backward_input, and
                                                  assert_adjoint in x
    conv_backward_weight(dy, x, d, K) -> dW       assert_matches_reference against reference_backward_weight, and
                                                  assert_adjoint in W
    block_backward(dy, cache) -> (dx, grads)      pytcn.gradcheck (float64, relative error < 1e-6) of block_forward
                                                  below, with and without the 1x1 residual convolution
    weight_norm_backward(dW, v, g) -> (dv, dg)    pytcn.gradcheck of weight_norm_forward below
    adam_step(param, dparam, m, v, step, lr)      against pytcn's Adam (kernels/adam.py's NumPy twin), 20 steps
      -> (param, m, v)
    spatial_dropout_forward(x, rate, rng)         its mask's shape and values, the share of channels dropped, and
      -> (y, mask)                                y = x * mask; and the backward by pytcn.gradcheck, the mask fixed
    spatial_dropout_backward(dy, mask) -> dx

The block's backward is checked once the three convolutions pass (it is meant to call them), so that a failure
points at the piece that is wrong. Arrays are NumPy arrays in pytcn's layout: x (N, C_in, T), W (C_out, C_in, K).
"""
import importlib.util
import os
import sys
from dataclasses import dataclass

import numpy as np

from . import testing
from .kernels import adam_update_numpy
from .nn.gradcheck import gradcheck

#: the pieces in the order the track builds them
PIECES = ("conv_forward", "conv_backward_input", "conv_backward_weight", "block_backward", "weight_norm_backward",
          "adam_step", "spatial_dropout")
#: the functions each piece needs in the file
FUNCTIONS = {"spatial_dropout": ("spatial_dropout_forward", "spatial_dropout_backward")}
#: a piece that calls others, checked only once they pass
NEEDS = {"block_backward": ("conv_forward", "conv_backward_input", "conv_backward_weight")}

#: where to look when a piece fails, beside the failure itself
HINTS = {
    "conv_forward": "tap j reads step t - (K-1-j)*d: the last tap (j = K-1) reads step t itself, and a step before 0 "
                    "reads 0 (the causal padding). The output has the input's T steps.",
    "conv_backward_input": "each x[n, i, t_in] was read by the outputs t = t_in + (K-1-j)*d, one per tap j: "
                           "dx[n, i, t_in] adds W[o, i, j] * dy[n, o, t] over o and j, for the t that are < T. It is "
                           "the forward run backwards in time, with each tap's weight matrix transposed.",
    "conv_backward_weight": "dW[o, i, j] adds dy[n, o, t] * x[n, i, t - (K-1-j)*d] over n and t, skipping the steps "
                            "that read the padding; the bias is not part of it.",
    "block_backward": "go through block_forward's steps in reverse: the last ReLU's mask (z > 0), then the gradient "
                      "splits into the branch and the residual path and adds up again at x; each ReLU passes the "
                      "gradient only where its output was positive.",
    "weight_norm_backward": "W = g * v / ||v|| per output channel o (the norm over v[o]'s C_in * K entries): dg[o] = "
                            "sum(dW[o] * v[o]) / ||v[o]||, and dv[o] = (g[o] / ||v[o]||) * (dW[o] - dg[o] * v[o] / "
                            "||v[o]||): the part of dW along v[o] only rescales W, and belongs to g.",
    "adam_step": "m and v are moving averages of dparam and dparam^2; divide each by its bias correction "
                 "(1 - beta^step, step counting from 1) before the step lr * m_hat / (sqrt(v_hat) + eps).",
    "spatial_dropout": "draw one number per (sequence, channel), not per step: mask has shape (N, C), 0 with "
                       "probability rate and 1 / (1 - rate) otherwise; y = x * mask[:, :, None], and the backward "
                       "multiplies by the same mask.",
}


@dataclass
class Result:
    """One piece's check: status "passed", "not written" (the stub's NotImplementedError), "failed", "waiting" (on
    pieces it needs) or "missing" (no such function in the file); message says what happened."""
    piece: str
    status: str
    message: str = ""

    def __str__(self):
        mark = {"passed": "PASS", "failed": "FAIL"}.get(self.status, self.status.upper())
        return f"{mark:11s} {self.piece}" + (f"\n            {self.message}" if self.message else "")


# ----------------------------------------------------------------------------------------------------------------
# the given forward passes: what the learner's backward passes are checked against


def relu(z):
    return np.maximum(z, 0.0)


def block_forward(x, params, d, conv=testing.reference_forward):
    """The residual block (tutorial 04) without dropout or normalisation:

        z1 = conv(x, conv1.weight, conv1.bias, d);   h1 = relu(z1)
        z2 = conv(h1, conv2.weight, conv2.bias, d);  h2 = relu(z2)
        r  = x, or conv(x, downsample.weight, downsample.bias, 1) when params has "downsample.weight" (C_in != C_out)
        z  = h2 + r;                                  y = relu(z)

    Returns (y, cache), cache = dict(x, params, d, z1, h1, z2, h2, z). ``conv``: the convolution used (pytcn's
    reference by default; the track's block passes the learner's own)."""
    z1 = conv(x, params["conv1.weight"], params["conv1.bias"], d)
    h1 = relu(z1)
    z2 = conv(h1, params["conv2.weight"], params["conv2.bias"], d)
    h2 = relu(z2)
    r = conv(x, params["downsample.weight"], params["downsample.bias"], 1) if "downsample.weight" in params else x
    z = h2 + r
    return relu(z), dict(x=x, params=params, d=d, z1=z1, h1=h1, z2=z2, h2=h2, z=z)


def weight_norm_forward(v, g):
    """W = g * v / ||v||, the norm over each output channel's C_in * K entries. v: (C_out, C_in, K), g: (C_out, 1, 1)
    (PyTorch's weight_v and weight_g)."""
    return g * v / np.sqrt(np.sum(v * v, axis=(1, 2), keepdims=True))


# ----------------------------------------------------------------------------------------------------------------
# the checks, one per piece: each raises AssertionError (or what the learner's code raised)


def _conv_forward(fns):
    fn = fns["conv_forward"]
    testing.assert_matches_reference(fn, max_examples=40)
    testing.assert_causal(fn, max_examples=15)


def _conv_backward_input(fns):
    fn = fns["conv_backward_input"]
    testing.assert_matches_reference(fn, reference=testing.reference_backward_input,
                                     args=lambda c: (c.dy, c.W, c.d), max_examples=40)
    testing.assert_adjoint(testing.reference_forward, fn, "x", max_examples=20)


def _conv_backward_weight(fns):
    fn = fns["conv_backward_weight"]
    testing.assert_matches_reference(fn, reference=testing.reference_backward_weight,
                                     args=lambda c: (c.dy, c.x, c.d, c.K), max_examples=40)
    testing.assert_adjoint(testing.reference_forward, fn, "W", max_examples=20)


class _Module:
    """What pytcn.gradcheck checks: params, forward(x) -> (y, cache), backward(dy, cache) -> (dx, grads)."""

    def __init__(self, params, forward, backward):
        self.params, self._forward, self._backward = params, forward, backward

    def forward(self, x):
        return self._forward(x)

    def backward(self, dy, cache):
        result = self._backward(dy, cache)
        if not (isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], dict)):
            raise AssertionError(f"expected (dx, grads) with grads a dict of the parameters' gradients, got "
                                 f"{testing._describe(result)}")
        return result


def _gradcheck(module, x, what, check_input=True):
    result = gradcheck(module, x, check_input=check_input)
    if not result.max_rel_error < 1e-6:
        raise AssertionError(f"{what}: the gradient disagrees with finite differences: {result}")


def _block_backward(fns):
    conv = fns["conv_forward"]
    for c_in, c_out, k, d in ((3, 3, 3, 1), (2, 4, 2, 2), (3, 2, 3, 3)):
        rng = np.random.default_rng(10 * c_in + c_out)
        params = {"conv1.weight": rng.standard_normal((c_out, c_in, k)) * 0.5, "conv1.bias": rng.standard_normal(c_out),
                  "conv2.weight": rng.standard_normal((c_out, c_out, k)) * 0.5,
                  "conv2.bias": rng.standard_normal(c_out)}
        if c_in != c_out:
            params["downsample.weight"] = rng.standard_normal((c_out, c_in, 1))
            params["downsample.bias"] = rng.standard_normal(c_out)
        module = _Module(params, lambda x, p=params, d=d: block_forward(x, p, d, conv=conv), fns["block_backward"])
        what = f"block C_in={c_in} C_out={c_out} K={k} d={d}" + (" (with downsample)" if c_in != c_out else "")
        _gradcheck(module, rng.standard_normal((2, c_in, 9)), what)


def _weight_norm_backward(fns):
    fn = fns["weight_norm_backward"]
    rng = np.random.default_rng(3)
    params = {"v": rng.standard_normal((4, 3, 2)), "g": rng.uniform(0.5, 2.0, (4, 1, 1))}

    def backward(dW, cache):
        result = fn(dW, params["v"], params["g"])
        if not (isinstance(result, tuple) and len(result) == 2):
            raise AssertionError(f"weight_norm_backward: expected (dv, dg), got {testing._describe(result)}")
        dv, dg = result
        for name, got, want in (("dv", dv, params["v"].shape), ("dg", dg, params["g"].shape)):
            if np.shape(got) != want:
                raise AssertionError(f"weight_norm_backward: {name} has shape {np.shape(got)}, expected {want}")
        return None, {"v": dv, "g": dg}

    module = _Module(params, lambda x: (weight_norm_forward(params["v"], params["g"]), None), backward)
    _gradcheck(module, np.zeros(1), "weight_norm_backward (C_out=4, C_in=3, K=2)", check_input=False)


def _adam_step(fns):
    fn = fns["adam_step"]
    rng = np.random.default_rng(4)
    lr, beta1, beta2, eps = 1e-2, 0.9, 0.999, 1e-8
    param = rng.standard_normal(6)
    m, v = np.zeros(6), np.zeros(6)
    want_param, want_m, want_v = param.copy(), m.copy(), v.copy()
    for step in range(1, 21):
        dparam = rng.standard_normal(6) * (1 + step % 3)
        result = fn(param.copy(), dparam.copy(), m.copy(), v.copy(), step, lr)
        if not (isinstance(result, tuple) and len(result) == 3):
            raise AssertionError(f"adam_step: expected (param, m, v), got {testing._describe(result)}")
        adam_update_numpy(want_param, want_m, want_v, dparam, 1.0, lr, beta1, beta2, eps, 0.0, step)
        for name, got, want in zip(("param", "m", "v"), result, (want_param, want_m, want_v)):
            got = np.asarray(got)
            if got.shape != want.shape or not np.allclose(got, want, rtol=1e-10, atol=1e-12):
                raise AssertionError(f"adam_step at step {step} (lr={lr}, beta1={beta1}, beta2={beta2}, eps={eps}): "
                                     f"{name} is {np.array2string(got, precision=6)}, Adam's is "
                                     f"{np.array2string(want, precision=6)}")
        param, m, v = (np.array(a, np.float64) for a in result)


def _spatial_dropout(fns):
    forward, backward = fns["spatial_dropout_forward"], fns["spatial_dropout_backward"]
    x = np.random.default_rng(5).standard_normal((40, 50, 6))
    for rate in (0.0, 0.25, 0.5):
        result = forward(x.copy(), rate, np.random.default_rng(6))
        if not (isinstance(result, tuple) and len(result) == 2):
            raise AssertionError(f"spatial_dropout_forward: expected (y, mask), got {testing._describe(result)}")
        y, mask = (np.asarray(a) for a in result)
        if mask.shape != x.shape[:2]:
            raise AssertionError(f"spatial_dropout_forward: the mask has shape {mask.shape}, expected (N, C) = "
                                 f"{x.shape[:2]}: one number per channel of each sequence, the same at every step")
        keep = 1 / (1 - rate)
        odd = ~(np.isclose(mask, 0) | np.isclose(mask, keep))
        if odd.any():
            raise AssertionError(f"spatial_dropout_forward (rate={rate}): mask values must be 0 or 1/(1-rate) = "
                                 f"{keep:.4g}, got {mask[odd][0]!r}")
        if not np.allclose(y, x * mask[:, :, None]):
            raise AssertionError(f"spatial_dropout_forward (rate={rate}): y is not x * mask[:, :, None]")
        dropped, n = float(np.isclose(mask, 0).mean()), mask.size
        spread = 5 * np.sqrt(rate * (1 - rate) / n)  # five standard deviations of the share dropped
        if abs(dropped - rate) > spread:
            raise AssertionError(f"spatial_dropout_forward (rate={rate}): dropped {dropped:.3f} of the {n} channels, "
                                 f"expected {rate} (within {spread:.3f})")
    fixed = np.where(np.random.default_rng(7).random((2, 3)) < 0.5, 0.0, 2.0)
    module = _Module({}, lambda inp: (inp * fixed[:, :, None], None), lambda dy, cache: (backward(dy, fixed), {}))
    _gradcheck(module, np.random.default_rng(8).standard_normal((2, 3, 4)), "spatial_dropout_backward (rate 0.5)")


CHECKS = {"conv_forward": _conv_forward, "conv_backward_input": _conv_backward_input,
          "conv_backward_weight": _conv_backward_weight, "block_backward": _block_backward,
          "weight_norm_backward": _weight_norm_backward, "adam_step": _adam_step, "spatial_dropout": _spatial_dropout}


# ----------------------------------------------------------------------------------------------------------------
# running them


def load(path):
    """The learner's file ``path`` (a .py file), imported as a module of its own."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a path to a .py file, got {type(path).__name__}")
    path = os.fspath(path)
    if not path.endswith(".py") or not os.path.isfile(path):
        raise ValueError(f"path must be an existing .py file, got {path!r}")
    name = f"_pytcn_exercise_{abs(hash(os.path.abspath(path)))}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def check(source, pieces=None):
    """Checks ``pieces`` (names of PIECES; all by default, in order) of ``source`` (a module, or a path to a .py
    file); returns one Result per piece. Never raises for the learner's code: what it raised is in the Result."""
    module = load(source) if isinstance(source, (str, os.PathLike)) else source
    if pieces is None:
        pieces = PIECES
    elif isinstance(pieces, str) or not all(isinstance(p, str) for p in pieces):
        raise TypeError(f"pieces must be a list of piece names, got {pieces!r}")
    unknown = [p for p in pieces if p not in PIECES]
    if unknown:
        raise ValueError(f"pieces: unknown piece {unknown[0]!r}; the pieces: {', '.join(PIECES)}")
    results, passed = [], set()
    for piece in pieces:
        results.append(_check_one(module, piece, passed))
        if results[-1].status == "passed":
            passed.add(piece)
    return results


def _check_one(module, piece, passed):
    names = FUNCTIONS.get(piece, (piece,))
    fns = {name: getattr(module, name, None) for name in (*names, *NEEDS.get(piece, ()))}
    missing = [name for name in names if not callable(fns[name])]
    if missing:
        return Result(piece, "missing", f"the file has no function {missing[0]}")
    waiting = [p for p in NEEDS.get(piece, ()) if p not in passed and _check_one(module, p, set()).status != "passed"]
    if waiting:
        return Result(piece, "waiting", f"it calls {', '.join(waiting)}, which do not pass yet: make them pass first")
    try:
        CHECKS[piece](fns)
    except NotImplementedError:
        return Result(piece, "not written", "still the stub: replace its `raise NotImplementedError` with your code")
    except Exception as error:  # the learner's code may raise anything: report it with the hint
        lines = str(error).strip().splitlines()[:4]  # the failure and its first places (the kit lists up to five)
        kind = "" if isinstance(error, AssertionError) else f"{type(error).__name__}: "
        text = "\n            ".join(line.strip() for line in lines)
        return Result(piece, "failed", f"{kind}{text}\n            hint: {HINTS[piece]}")
    return Result(piece, "passed")


def main(argv=None):
    """``python -m pytcn.exercises FILE [PIECE ...]``: prints each piece's result; exit status 1 unless all pass."""
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.split("\n\n")[1])
        return 0 if argv else 2
    try:
        results = check(argv[0], argv[1:] or None)
    except (TypeError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for result in results:
        print(result)
    done = sum(r.status == "passed" for r in results)
    print(f"\n{done} of {len(results)} pieces pass")
    return 0 if done == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
