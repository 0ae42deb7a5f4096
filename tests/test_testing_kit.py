"""pytcn.testing, the kit for testing convolution kernels, tested as its users meet it: a correct plain-loop kernel
passes every assertion, and each bug a kernel typically has is caught by the assertion made for it, with a message
that names the case and where it went wrong."""
import itertools

import numpy as np
import pytest
from hypothesis import strategies as st

import pytcn
from pytcn import testing


def loop_conv(x, W, b, d, shift=0, flip=False):
    """The formula as plain loops, as a user would first write it; ``shift`` and ``flip`` plant bugs."""
    N, C_in, T = x.shape
    C_out, _, K = W.shape
    y = np.zeros((N, C_out, T)) + b[None, :, None]
    for n, o, i, j, t in itertools.product(range(N), range(C_out), range(C_in), range(K), range(T)):
        s = t - (K - 1 - j) * d + shift
        if 0 <= s < T:
            y[n, o, t] += W[o, i, K - 1 - j if flip else j] * x[n, i, s]
    return y.astype(x.dtype)


def loop_backward_input(dy, W, d):
    N, C_out, T = dy.shape
    _, C_in, K = W.shape
    dx = np.zeros((N, C_in, T))
    for n, o, i, j, t in itertools.product(range(N), range(C_out), range(C_in), range(K), range(T)):
        s = t - (K - 1 - j) * d
        if s >= 0:
            dx[n, i, s] += W[o, i, j] * dy[n, o, t]  # forward: y[n, o, t] += W[o, i, j] * x[n, i, s]
    return dx


def loop_backward_weight(dy, x, d, K):
    N, C_out, T = dy.shape
    C_in = x.shape[1]
    dW = np.zeros((C_out, C_in, K))
    for n, o, i, j, t in itertools.product(range(N), range(C_out), range(C_in), range(K), range(T)):
        s = t - (K - 1 - j) * d
        if s >= 0:
            dW[o, i, j] += x[n, i, s] * dy[n, o, t]
    return dW


SMALL = testing.conv_cases(N=st.integers(1, 2), T=st.integers(2, 12), C_in=st.integers(1, 3), C_out=st.integers(1, 3))


def test_a_correct_kernel_passes_every_assertion():
    testing.assert_matches_reference(loop_conv, cases=SMALL)
    testing.assert_matches_reference(loop_conv, cases=testing.conv_cases(layouts=testing.all_layouts, T=st.integers(
        1, 8)))
    testing.assert_causal(loop_conv, cases=SMALL)
    testing.assert_adjoint(loop_conv, loop_backward_input, wrt="x", cases=SMALL)
    testing.assert_adjoint(loop_conv, loop_backward_weight, wrt="W", cases=SMALL)
    testing.assert_matches_reference(loop_backward_input, testing.reference_backward_input,
                                     args=lambda c: (c.dy, c.W, c.d), cases=SMALL)


def test_a_flipped_tap_is_caught_naming_the_case_and_the_entry():
    with pytest.raises(AssertionError) as info:
        testing.assert_matches_reference(lambda x, W, b, d: loop_conv(x, W, b, d, flip=True), cases=SMALL)
    message = str(info.value)
    assert "on case N=" in message and "K=2" in message and "entries differ" in message and "at (0, 0, " in message


def test_a_kernel_that_reads_the_future_is_caught():
    with pytest.raises(AssertionError, match="not causal: changing the input from step"):
        testing.assert_causal(lambda x, W, b, d: loop_conv(x, W, b, d, shift=1), cases=SMALL)


def test_an_output_shifted_late_is_caught():
    with pytest.raises(AssertionError, match="ignored the input at step"):
        testing.assert_causal(lambda x, W, b, d: loop_conv(x, W, b, d, shift=-1), cases=SMALL)


def test_a_backward_that_is_not_the_adjoint_is_caught():
    def off_by_one(dy, W, d):
        return np.roll(loop_backward_input(dy, W, d), 1, axis=2)

    with pytest.raises(AssertionError, match="not the adjoint of the forward in x"):
        testing.assert_adjoint(loop_conv, off_by_one, wrt="x", cases=SMALL)
    with pytest.raises(AssertionError, match="not the adjoint of the forward in W"):
        testing.assert_adjoint(loop_conv, lambda dy, x, d, K: 1.01 * loop_backward_weight(dy, x, d, K), wrt="W",
                               cases=SMALL)


def nan_like(a):
    return np.full(a.shape, np.nan)


@pytest.mark.parametrize("wrt", ["x", "W"])
def test_assert_adjoint_fails_on_a_nan_backward_or_forward_naming_the_place(wrt):
    backward = loop_backward_input if wrt == "x" else loop_backward_weight

    def nan_backward(*args):
        return nan_like(backward(*args))

    with pytest.raises(AssertionError, match=r"nan_backward on case .*NaN or infinite\n  at \(0, 0, 0\)"):
        testing.assert_adjoint(loop_conv, nan_backward, wrt=wrt, cases=SMALL, max_examples=5)

    def nan_forward(x, W, b, d):
        return nan_like(loop_conv(x, W, b, d))

    with pytest.raises(AssertionError, match=r"nan_forward \(the forward\) on case .*NaN or infinite"):
        testing.assert_adjoint(nan_forward, backward, wrt=wrt, cases=SMALL, max_examples=5)

    def one_inf(*args):
        out = backward(*args)
        out.flat[-1] = np.inf
        return out

    with pytest.raises(AssertionError, match=r"one_inf on case .*1 of \d+ entries are NaN or infinite\n  at "):
        testing.assert_adjoint(loop_conv, one_inf, wrt=wrt, cases=SMALL, max_examples=5)


def test_assert_causal_and_assert_matches_reference_fail_on_nan_saying_so():
    def nan_conv(x, W, b, d):
        return nan_like(loop_conv(x, W, b, d))

    with pytest.raises(AssertionError, match=r"nan_conv on case .*NaN or infinite"):
        testing.assert_causal(nan_conv, cases=SMALL, max_examples=5)
    with pytest.raises(AssertionError, match=r"nan_conv on case .*entries differ"):
        testing.assert_matches_reference(nan_conv, cases=SMALL, max_examples=5)


def test_a_kernel_that_writes_its_input_or_leaves_output_unwritten_is_caught():
    def writes_input(x, W, b, d):
        y = loop_conv(x, W, b, d)
        x[...] = 0
        return y

    with pytest.raises(AssertionError, match="wrote into its input 0"):
        testing.assert_matches_reference(writes_input, cases=SMALL)

    def forgets_the_last_step(y, x, W, b, d):
        y[:, :, :-1] = loop_conv(x, W, b, d)[:, :, :-1]

    with pytest.raises(AssertionError, match="entries differ"):
        testing.assert_matches_reference(testing.returning(forgets_the_last_step, testing.forward_shape), cases=SMALL)


def test_assert_gradcheck_passes_a_right_backward_and_catches_a_wrong_one():
    layer = pytcn.CausalConv1D(2, 3, 3, 2, activation="relu", dtype=np.float64, rng=np.random.default_rng(0))
    result = testing.assert_gradcheck(layer)
    assert result.max_rel_error < 1e-6
    testing.assert_gradcheck(pytcn.TCN(input_channels=2, nb_filters=3, kernel_size=2, dilations=[1, 2],
                                       dtype=np.float64, seed=0))
    wrong = pytcn.Linear(3, 2, dtype=np.float64, rng=np.random.default_rng(0))
    right_backward = wrong.backward
    wrong.backward = lambda dy, cache: (lambda dx, grads: (dx, grads | {"bias": 2 * grads["bias"]}))(
        *right_backward(dy, cache))
    with pytest.raises(AssertionError, match="gradient check of Linear failed: worst relative error .* at bias"):
        testing.assert_gradcheck(wrong)


def test_the_strategies_reach_large_batches_and_every_layout():
    seen = {"layouts": set(), "N": set()}

    @testing.given(case=testing.conv_cases(N=testing.large_batch_sizes, layouts=testing.all_layouts))
    @testing.settings(max_examples=200, deadline=None, database=None)
    def record(case):
        seen["N"].add(case.N)
        seen["layouts"].add("F" if case.x.flags.f_contiguous and not case.x.flags.c_contiguous else
                            "C" if case.x.flags.c_contiguous else "strided")

    record()
    assert max(seen["N"]) > 16 and seen["layouts"] == {"C", "F", "strided"}
