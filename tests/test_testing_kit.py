"""pytcn.testing, the kit for testing convolution kernels, tested as its users meet it: a correct plain-loop kernel
passes every assertion, and each bug a kernel typically has is caught by the assertion made for it, with a message
that names the case and where it went wrong."""
import inspect
import itertools
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
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
    with pytest.raises(AssertionError, match=r"nan_conv on case .*NaN or infinite\n  at \(0, 0, 0\)"):
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

    # returning's output starts as NaN: the step never written is named as NaN, at its index
    with pytest.raises(AssertionError, match=r"forgets_the_last_step on case .*1 of 2 entries are NaN or infinite\n"
                                             r"  at \(0, 0, 1\)"):
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


# ------------------------------------------------------------------------------------------------------------------
# issue #25: what a function under test returns is checked before it is compared, and the kit's own arguments are
# checked by name; no assertion passes a NaN or an infinity


def conv_then(change):
    """loop_conv, its output then changed by ``change`` (a wrong shape, None, ...), named after the change."""
    def fn(x, W, b, d):
        return change(loop_conv(x, W, b, d))

    fn.__name__ = change.__name__
    return fn


def drops_the_last_step(y):
    return y[:, :, :-1]


def drops_the_channel_axis(y):
    return y[:, 0]


def returns_none(y):
    return None


def transposed(y):
    return y.transpose(0, 2, 1)  # (N, T, C_out), the layout of pytcn's models


@pytest.mark.parametrize("change, shown", [
    (drops_the_last_step, r"returned shape \(\d, 3, \d\), expected \(\d, 3, \d\), \(N, C_out, T\)"),
    (drops_the_channel_axis, r"returned shape \(\d, \d\), expected"),
    (returns_none, r"returned None, expected an array of shape \(\d, 3, \d\)"),
    (transposed, r"returned shape \(\d, \d, 3\), .*its axes transposed\?")],
    ids=["one step short", "no channel axis", "None", "transposed"])
def test_assert_causal_fails_on_an_output_of_the_wrong_shape_naming_the_case(change, shown):
    cases = testing.conv_cases(N=st.integers(1, 2), T=st.integers(4, 8), C_in=st.just(2), C_out=st.just(3))
    with pytest.raises(AssertionError, match=rf"{change.__name__} on case N=.*T=.*: {shown}"):
        testing.assert_causal(conv_then(change), cases=cases, max_examples=5)


@pytest.mark.parametrize("wrt", ["x", "W"])
def test_assert_adjoint_fails_on_a_backward_or_forward_of_the_wrong_shape_naming_the_case(wrt):
    backward = loop_backward_input if wrt == "x" else loop_backward_weight

    def short_backward(*args):
        return backward(*args)[..., :-1]

    axes = r"\(N, C_in, T\)" if wrt == "x" else r"\(C_out, C_in, K\)"
    with pytest.raises(AssertionError, match=rf"short_backward on case N=.*: returned shape .*, expected .*{axes}"):
        testing.assert_adjoint(loop_conv, short_backward, wrt=wrt, cases=SMALL, max_examples=5)
    with pytest.raises(AssertionError, match=r"drops_the_last_step \(the forward\) on case N=.*: returned shape"):
        testing.assert_adjoint(conv_then(drops_the_last_step), backward, wrt=wrt, cases=SMALL, max_examples=5)


@pytest.mark.parametrize("module", [loop_conv, None, 3], ids=["a function", "None", "an int"])
def test_assert_gradcheck_refuses_what_is_not_a_module_by_name(module):
    with pytest.raises(TypeError, match=r"^module: expected a pytcn layer, block or model \(with forward, backward "
                                        r"and params\), got (<function loop_conv|None \(NoneType\)|3 \(int\))"):
        testing.assert_gradcheck(module)


def test_assert_close_compares_integer_arrays_exactly_and_refuses_dtypes_without_a_tolerance():
    testing.assert_close(np.arange(6).reshape(2, 3), np.arange(6).reshape(2, 3))
    testing.assert_close(np.array([True, False]), np.array([True, False]))
    with pytest.raises(AssertionError, match=r"^counts: 1 of 6 entries differ \(exactly\)\n  at \(1, 2\): "
                                             r"np.int64\(6\), expected np.int64\(5\)$"):
        testing.assert_close(np.arange(6).reshape(2, 3) + np.eye(2, 3, 2, dtype=int)[::-1], np.arange(6).reshape(2, 3),
                             what="counts")
    with pytest.raises(AssertionError, match="entries differ"):  # float values near integers are not integers
        testing.assert_close(np.arange(3) + 1e-9, np.arange(3))
    with pytest.raises(TypeError, match=r"^dtype: no tolerance for float16"):
        testing.assert_close(np.ones(2, np.float16), np.ones(2, np.float16))
    with pytest.raises(TypeError, match=r"^dtype: expected a NumPy dtype, got 'not a dtype' \(str\)"):
        testing.assert_close(np.ones(2), np.ones(2), dtype="not a dtype")
    with pytest.raises(TypeError, match=r"^actual: expected an array of real numbers, got None \(NoneType\)"):
        testing.assert_close(None, np.ones(2))


def test_a_non_callable_argument_is_refused_by_name_before_any_case_is_drawn():
    with pytest.raises(TypeError, match=r"^fn: expected a callable, got 3 \(int\)$"):
        testing.assert_causal(3)
    with pytest.raises(TypeError, match=r"^fn: expected a callable, got None \(NoneType\)$"):
        testing.assert_matches_reference(None)
    with pytest.raises(TypeError, match=r"^reference: expected a callable, got 'reference_forward' \(str\)$"):
        testing.assert_matches_reference(loop_conv, "reference_forward")
    with pytest.raises(TypeError, match=r"^args: expected a callable"):
        testing.assert_matches_reference(loop_conv, args=(1, 2))
    with pytest.raises(TypeError, match=r"^forward: expected a callable, got an array of shape \(2,\)"):
        testing.assert_adjoint(np.zeros(2), loop_backward_input)
    with pytest.raises(TypeError, match=r"^backward: expected a callable, got 1.5 \(float\)$"):
        testing.assert_adjoint(loop_conv, 1.5)
    with pytest.raises(TypeError, match=r"^kernel: expected a callable"):
        testing.returning("conv_forward", testing.forward_shape)


def test_bad_cases_sizes_and_max_examples_are_refused_by_name():
    with pytest.raises(TypeError, match=r"^cases: expected a hypothesis strategy .*got 3 \(int\)$"):
        testing.assert_causal(loop_conv, cases=3)
    with pytest.raises(TypeError, match=r"^cases: drew 0 \(int\), expected a ConvCase"):
        testing.assert_causal(loop_conv, cases=st.just(0))
    with pytest.raises(ValueError, match=r"^max_examples: expected an integer >= 1, got 0$"):
        testing.assert_causal(loop_conv, cases=SMALL, max_examples=0)
    with pytest.raises(TypeError, match=r"^max_examples: expected an integer, got '5' \(str\)$"):
        testing.assert_adjoint(loop_conv, loop_backward_input, max_examples="5")
    with pytest.raises(TypeError, match=r"^N: expected a hypothesis strategy .*got 3 \(int\)$"):
        testing.conv_cases(N=3)
    with pytest.raises(ValueError, match=r"^N \(drawn by conv_cases\): expected an integer >= 1, got 0\n"):
        testing.assert_causal(loop_conv, cases=testing.conv_cases(N=st.just(0)), max_examples=2)
    with pytest.raises(TypeError, match=r"^dtype \(drawn by conv_cases\): expected float32 or float64, got int64\n"):
        testing.assert_causal(loop_conv, cases=testing.conv_cases(dtype=st.just(np.int64)), max_examples=2)
    with pytest.raises(ValueError, match=r"^conv_cases drew N=1000000000000 .* more than the 67108864"):
        testing.assert_causal(loop_conv, cases=testing.conv_cases(N=st.just(10**12)), max_examples=2)
    with pytest.raises(ValueError, match=r"^wrt: expected 'x' or 'W', got an array of shape \(2,\) and dtype <U1$"):
        testing.assert_adjoint(loop_conv, loop_backward_input, wrt=np.array(["x", "W"]))
    x = np.zeros((1, 2, 5), int)
    with pytest.raises(TypeError, match=r"^ConvCase x: expected an array of float32 or float64, got one of int64$"):
        testing.ConvCase(x=x, W=np.zeros((3, 2, 2)), b=np.zeros(3), dy=np.zeros((1, 3, 5)), d=1)
    with pytest.raises(ValueError, match=r"^ConvCase b: 1 of 3 entries are NaN or infinite$"):
        testing.ConvCase(x=x * 1.0, W=np.zeros((3, 2, 2)), b=np.array([0, np.nan, 0]), dy=np.zeros((1, 3, 5)), d=1)
    with pytest.raises(ValueError, match=r"^ConvCase dy: shape \(1, 3, 4\) has T = 4, but ConvCase x has T = 5$"):
        testing.ConvCase(x=x * 1.0, W=np.zeros((3, 2, 2)), b=np.zeros(3), dy=np.zeros((1, 3, 4)), d=1)
    with pytest.raises(ValueError, match=r"^d: 1000000000000 with K = 2 pads the input .* more than the 67108864"):
        testing.reference_forward(np.zeros((1, 2, 5)), np.zeros((3, 2, 2)), np.zeros(3), 10**12)


def test_assert_gradcheck_refuses_bad_tolerances_seeds_and_options_by_name():
    layer = pytcn.CausalConv1D(1, 2, 2, 1, dtype=np.float64, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"^max_relative_error: expected a number > 0 and < 1, got nan$"):
        testing.assert_gradcheck(layer, max_relative_error=float("nan"))
    with pytest.raises(ValueError, match=r"^seed: expected an integer >= 0, got -1$"):
        testing.assert_gradcheck(layer, seed=-1)
    with pytest.raises(ValueError, match=r"^h: expected a finite number > 0, got 0$"):
        testing.assert_gradcheck(layer, h=0)
    with pytest.raises(ValueError, match=r"^dy: expected the output's shape \(2, 2, 7\), got \(3,\)$"):
        testing.assert_gradcheck(layer, dy=np.ones(3))


def nan_gradient_layer(name):
    """A float64 linear layer whose backward returns NaN for ``name`` ("input" or a parameter)."""
    layer = pytcn.Linear(3, 2, dtype=np.float64, rng=np.random.default_rng(0), backend="numpy")
    right_backward = layer.backward

    def backward(dy, cache):
        dx, grads = right_backward(dy, cache)
        if name == "input":
            return np.full_like(dx, np.nan), grads
        return dx, grads | {name: np.full_like(grads[name], np.nan)}

    layer.backward = backward
    return layer


@pytest.mark.parametrize("name", ["weight", "bias", "input"])
def test_assert_gradcheck_fails_on_a_nan_gradient_naming_the_array(name):
    # gradcheck's worst error skipped NaN (NaN > worst is False): an all-NaN backward passed, worst error -1
    with pytest.raises(AssertionError, match=rf"^gradient check of Linear failed: the relative error of {name} is "
                                             rf"NaN or infinite"):
        testing.assert_gradcheck(nan_gradient_layer(name))


def test_no_comparison_passes_an_infinity():
    # an infinity in expected made the absolute tolerance infinite (atol times the largest |expected|): anything passed
    with pytest.raises(AssertionError, match=r"^y \(expected\): 1 of 2 entries are NaN or infinite\n  at \(0,\): "):
        testing.assert_close(np.array([0.0, 5.0]), np.array([np.inf, 1.0]), what="y")
    with pytest.raises(AssertionError, match=r"^y \(actual\): 1 of 2 entries are NaN or infinite\n  at \(0,\): .*inf"):
        testing.assert_close(np.array([np.inf, 1.0]), np.array([np.inf, 1.0]), what="y")

    def infinite_reference(x, W, b, d):
        y = testing.reference_forward(x, W, b, d)
        y.flat[0] = np.inf
        return y

    def twice_infinite_reference(x, W, b, d):  # inf where the reference has it, every other entry twice too large
        return 2 * infinite_reference(x, W, b, d)

    with pytest.raises(AssertionError, match=r"infinite_reference \(the reference\) on case N=.*NaN or infinite"):
        testing.assert_matches_reference(twice_infinite_reference, infinite_reference, cases=SMALL, max_examples=5)

    def overflowing(x, W, b, d):  # two finite entries whose sum overflows: <y, dy> and its scale became inf
        y = loop_conv(x, W, b, d)
        y[0, 0, :2] = 1e308
        return y

    rng = np.random.default_rng(0)
    case = testing.ConvCase(x=rng.standard_normal((1, 2, 5)), W=rng.standard_normal((3, 2, 2)),
                            b=rng.standard_normal(3), dy=np.ones((1, 3, 5)), d=1)
    with pytest.raises(AssertionError, match=r"loop_backward_input on case N=1 .*: the inner products overflowed: "
                                             r"<forward\(x\), dy> = inf"):
        testing.assert_adjoint(overflowing, loop_backward_input, cases=st.just(case))


# ------------------------------------------------------------------------------------------------------------------
# every public entry point, driven with generated bad arguments: a clean pass, a TypeError or ValueError naming the
# argument, or, where the function under test is what is wrong, an AssertionError naming the case (the kit's job);
# never an IndexError, KeyError or AttributeError, an unnamed NumPy error or one of hypothesis's own


def bad(label, value, must_fail=True):
    """A generated argument, labelled; ``must_fail`` False for one that is odd but valid (a read-only array, huge
    values, a nested list), which may pass."""
    return label, value, must_fail


def with_entry(a, value):
    a = np.array(a, dtype=float)
    a.flat[a.size // 2] = value
    return a


def read_only(a):
    a = np.array(a)
    a.flags.writeable = False
    return a


RNG = np.random.default_rng(7)
# one case in float64, its sizes all different, so that an output with two axes swapped never has the right shape
CASE = testing.ConvCase(x=RNG.standard_normal((1, 2, 5)), W=RNG.standard_normal((3, 2, 3)), b=RNG.standard_normal(3),
                        dy=RNG.standard_normal((1, 3, 5)), d=2, seed=7)
Y = loop_conv(CASE.x, CASE.W, CASE.b, CASE.d)
# on the numpy backend: a gradient check's hundred passes of a tiny layer take a millisecond there (the Numba kernels'
# threads cost more than such a pass)
LAYER = pytcn.CausalConv1D(1, 2, 2, 1, dtype=np.float64, rng=np.random.default_rng(0), backend="numpy")  # x (2, 1, 7)
FLOAT32_LAYER = pytcn.CausalConv1D(1, 2, 2, 1, dtype=np.float32, rng=np.random.default_rng(0), backend="numpy")
READ_ONLY_LAYER = pytcn.CausalConv1D(1, 2, 2, 1, dtype=np.float64, rng=np.random.default_rng(0), backend="numpy")
READ_ONLY_LAYER.params["weight"].flags.writeable = False

NOT_CALLABLE = [bad("None", None), bad("an int", 3), bad("a string", "loop_conv"), bad("an array", np.zeros(3)),
                bad("a list of a function", [loop_conv])]
NOT_STRATEGIES = [bad("None", None), bad("an int", 3), bad("a list", [1, 2]), bad("a function", loop_conv),
                  bad("a ConvCase", CASE)]
# what a function under test may wrongly return, made from its right output
OUTPUT_DEFECTS = [("None", lambda y: None, True), ("one step short", lambda y: y[..., :-1], True),
                  ("an axis short", lambda y: y[:, 0], True), ("an axis more", lambda y: y[..., None], True),
                  ("two axes swapped", lambda y: np.swapaxes(y, 1, 2), True),
                  ("a NaN", lambda y: with_entry(y, np.nan), True), ("an inf", lambda y: with_entry(y, np.inf), True),
                  ("a -inf", lambda y: with_entry(y, -np.inf), True), ("a string", lambda y: "y", True),
                  ("(y, cache)", lambda y: (y, {}), True),
                  ("an object array", lambda y: np.array([y, None], dtype=object), True),
                  ("ints", lambda y: y.astype(np.int64), False), ("huge values", lambda y: y * 1e300, False),
                  ("a nested list", lambda y: y.tolist(), False), ("a read-only array", read_only, False)]


def functions(right):
    """``right`` with a defect planted in what it returns, or something not callable."""
    def planted(label, change, must_fail):
        def fn(*args):
            return change(right(*args))

        fn.__name__ = right.__name__
        return bad(f"{right.__name__} returning {label}", fn, must_fail)

    return st.sampled_from(NOT_CALLABLE + [planted(*defect) for defect in OUTPUT_DEFECTS])


def arrays(right):
    """Arrays given in place of ``right``: of other types, dtypes and shapes, and odd but valid ones."""
    return st.sampled_from([
        bad("None", None), bad("a float", 1.0), bad("a string", "x"), bad("ints", right.astype(np.int64)),
        bad("float16", right.astype(np.float16)), bad("complex", right.astype(complex)), bad("an axis short", right[0]),
        bad("an axis more", right[None]), bad("empty", right[:0]),
        bad("a nested list", right.tolist()),
        bad("one more along the last axis", np.concatenate([right, right[..., :1]], -1), False),
        bad("a NaN", with_entry(right, np.nan), False), bad("read-only", read_only(right), False),
        bad("huge values", right * 1e300, False), bad("Fortran-ordered", np.asfortranarray(right), False)])


def integers(low):
    """Sizes, dilations and seeds given as something other than an integer >= ``low``."""
    return st.sampled_from([bad("None", None), bad(f"{low - 1}", low - 1), bad("-5", -5), bad("1.5", 1.5),
                            bad("'2'", "2"), bad("True", True), bad("an array", np.array([2])),
                            bad("np.int64(2)", np.int64(2), False), bad("10**12", 10**12, False)])


def drawing(low, huge_fails):
    """Strategies given in place of a size's: not strategies at all, or drawing what is no size."""
    return st.sampled_from(NOT_STRATEGIES + [bad(f"drawing {v!r}", st.just(v)) for v in (low - 1, -2, 1.5, None, "3",
                                                                                          True)] +
                           [bad("drawing 10**12", st.just(10**12), huge_fails)])


DTYPES = st.sampled_from([bad("None", None), bad("int64", np.int64), bad("float16", np.float16),
                          bad("a string", "floaty"), bad("an int", 3), bad("complex", complex),
                          bad("'float64'", "float64", False)])
COUNTS = st.sampled_from([bad("0", 0), bad("-1", -1), bad("1.5", 1.5), bad("'2'", "2"), bad("None", None),
                          bad("True", True), bad("np.float64(2)", np.float64(2.0)), bad("np.int64(1)", np.int64(1),
                                                                                       False)])
CASES = st.sampled_from(NOT_STRATEGIES[1:] + [bad("None, the default", None, False), bad("a list", [CASE]),
                                          bad("drawing ints", st.sampled_from([0, 1])),
                                          bad("drawing None", st.just(None)), bad("drawing a string", st.just("case"))])
SIZES = dict(N=(1, True), T=(1, True), C_in=(1, True), C_out=(1, True), K=(1, True), d=(1, False))
ARGS = st.sampled_from(NOT_CALLABLE + [
    bad("returning None", lambda c: None), bad("returning x", lambda c: c.x),
    bad("returning (x, W)", lambda c: (c.x, c.W)),
    bad("returning x as a list", lambda c: (c.x.tolist(), c.W, c.b, c.d)),
    bad("returning d = 0", lambda c: (c.x, c.W, c.b, 0)), bad("returning (x, W, b, d) as a list", lambda c: [
        c.x, c.W, c.b, c.d], False)])


def kernel(label, write, must_fail=True):
    """A kernel writing its output into its first argument, as pytcn's do: ``write(out, y)`` with y right."""
    def fn(out, x, W, b, d):
        write(out, loop_conv(x, W, b, d))

    return bad(f"a kernel that {label}", fn, must_fail)


def assign(out, y):
    out[...] = y


KERNELS = st.sampled_from(NOT_CALLABLE + [
    kernel("writes nothing", lambda out, y: None), kernel("forgets the last step", lambda out, y: assign(
        out[..., :-1], y[..., :-1])), kernel("writes a NaN", lambda out, y: assign(out, with_entry(y, np.nan))),
    kernel("writes huge values", lambda out, y: assign(out, y * 1e300)), kernel("is right", assign, False)])
OUTPUT_SHAPES = st.sampled_from(NOT_CALLABLE + [
    bad(f"returning {shape!r}", lambda *inputs, shape=shape: shape) for shape in (
        None, "135", (-1, 3, 5), (1.5, 3, 5), (10**6, 10**6, 10**6), {1: 3})] +
    [bad("returning a list", lambda *inputs: [1, 3, 5], False)])
CLOSE_ARRAYS = st.sampled_from([bad(label, value, label not in ("read-only", "Fortran-ordered", "a nested list"))
                                for label, value, _ in arrays(Y).elements] +
                               [bad("an inf", with_entry(Y, np.inf)), bad("twice as large", 2 * Y)])
CLOSE_DTYPES = st.sampled_from([bad("None, the default", None, False), bad("int64: exactly", np.int64, False),
                                bad("float16", np.float16), bad("a string", "floaty"), bad("an int", 3),
                                bad("complex", complex), bad("object", object)])
POSITIVE = [bad("NaN", float("nan")), bad("inf", float("inf")), bad("-1", -1), bad("0", 0), bad("'1e-6'", "1e-6"),
            bad("None", None), bad("True", True), bad("a list", [1e-6])]
MODULES = st.sampled_from(NOT_CALLABLE + [
    bad("a function", loop_conv), bad("a layer's class", pytcn.CausalConv1D), bad("a float32 layer", FLOAT32_LAYER),
    bad("a layer with a NaN gradient", nan_gradient_layer("bias")), bad("a layer with read-only params",
                                                                         READ_ONLY_LAYER)])
GRADCHECK_X = st.sampled_from([
    bad("a nested list", np.ones((2, 1, 7)).tolist()), bad("ints", np.ones((2, 1, 7), int)),
    bad("another C_in", np.ones((2, 3, 7))), bad("float32", np.ones((2, 1, 7), np.float32)),
    bad("a NaN", with_entry(np.ones((2, 1, 7)), np.nan)), bad("1-d", np.ones(7)),
    bad("read-only", read_only(np.ones((2, 1, 7))), False), bad("None, the default", None, False)])
GRADCHECK_DY = st.sampled_from([
    bad("a nested list", np.ones((2, 2, 7)).tolist()), bad("ints", np.ones((2, 2, 7), int)),
    bad("another shape", np.ones((2, 2, 6))), bad("a NaN", with_entry(np.ones((2, 2, 7)), np.nan)),
    bad("read-only", read_only(np.ones((2, 2, 7))), False)])

# entry point -> (how it is called, its right arguments, the generated bad ones, and for each argument where an
# AssertionError is the kit doing its job (a function under test, an array compared), what its message must say)
ON_CASE = "on case N="
ENTRY_POINTS = {
    "normal": (testing.normal, dict(rng=np.random.default_rng(0), shape=(2, 3), dtype=np.float32), dict(
        rng=st.sampled_from(NOT_CALLABLE + [bad("a RandomState", np.random.RandomState(0)), bad("a seed", 0)]),
        shape=st.sampled_from([bad("None", None), bad("a negative size", (2, -1)), bad("a float size", (2.5,)),
                               bad("a string", "23"), bad("huge", (10**6, 10**6)), bad("a size", 4, False),
                               bad("a list", [2, 3], False)]),
        dtype=DTYPES), {}),
    "conv_cases": (lambda **kw: testing.assert_causal(loop_conv, cases=testing.conv_cases(**kw), max_examples=2),
                   dict(dtype=st.just(np.dtype(np.float64)), N=st.just(1), T=st.integers(2, 3), C_in=st.just(1),
                        C_out=st.just(1), K=st.just(2), d=st.just(1), layouts=testing.contiguous),
                   dict(dtype=st.sampled_from(NOT_STRATEGIES + [bad(f"drawing {v!r}", st.just(v), v != "float64")
                                                                for v in (np.int64, None, "float16", "float64")]),
                        layouts=st.sampled_from(NOT_STRATEGIES + [bad(f"drawing {v!r}", st.just(v)) for v in (
                            "X", None, 3)] + [bad("all layouts", testing.all_layouts, False)]),
                        **{name: drawing(low, huge_fails) for name, (low, huge_fails) in SIZES.items()}), {}),
    "ConvCase": (testing.ConvCase, dict(x=CASE.x, W=CASE.W, b=CASE.b, dy=CASE.dy, d=2, seed=7), dict(
        x=arrays(CASE.x), W=arrays(CASE.W), b=arrays(CASE.b), dy=arrays(CASE.dy), d=integers(1), seed=integers(0)), {}),
    "reference_forward": (testing.reference_forward, dict(x=CASE.x, W=CASE.W, b=CASE.b, d=2), dict(
        x=arrays(CASE.x), W=arrays(CASE.W), b=arrays(CASE.b), d=integers(1)), {}),
    "reference_backward_input": (testing.reference_backward_input, dict(dy=CASE.dy, W=CASE.W, d=2), dict(
        dy=arrays(CASE.dy), W=arrays(CASE.W), d=integers(1)), {}),
    "reference_backward_weight": (testing.reference_backward_weight, dict(dy=CASE.dy, x=CASE.x, d=2, K=3), dict(
        dy=arrays(CASE.dy), x=arrays(CASE.x), d=integers(1), K=integers(1)), {}),
    "forward_shape": (testing.forward_shape, dict(x=CASE.x, W=CASE.W, b=CASE.b, d=2), dict(
        x=arrays(CASE.x), W=arrays(CASE.W), b=arrays(CASE.b), d=integers(1)), {}),
    "backward_input_shape": (testing.backward_input_shape, dict(dy=CASE.dy, W=CASE.W, d=2), dict(
        dy=arrays(CASE.dy), W=arrays(CASE.W), d=integers(1)), {}),
    "backward_weight_shape": (testing.backward_weight_shape, dict(dy=CASE.dy, x=CASE.x, d=2, K=3), dict(
        dy=arrays(CASE.dy), x=arrays(CASE.x), d=integers(1), K=integers(1)), {}),
    "returning": (lambda kernel, output_shape: testing.assert_matches_reference(
        testing.returning(kernel, output_shape), cases=st.just(CASE), max_examples=1),
        dict(kernel=kernel("is right", assign)[1], output_shape=testing.forward_shape),
        dict(kernel=KERNELS, output_shape=OUTPUT_SHAPES), dict(kernel=ON_CASE)),
    "assert_close": (lambda **kw: testing.assert_close(**kw, what="the compared y"),
                     dict(actual=Y, expected=Y.copy(), dtype=None),
                     dict(actual=CLOSE_ARRAYS, expected=CLOSE_ARRAYS, dtype=CLOSE_DTYPES),
                     dict(actual="the compared y", expected="the compared y")),
    "assert_matches_reference": (testing.assert_matches_reference, dict(
        fn=loop_conv, reference=testing.reference_forward, cases=st.just(CASE), args=lambda c: (c.x, c.W, c.b, c.d),
        max_examples=1), dict(fn=functions(loop_conv), reference=functions(testing.reference_forward), cases=CASES,
                              args=ARGS, max_examples=COUNTS), dict(fn=ON_CASE, reference=ON_CASE)),
    "assert_causal": (testing.assert_causal, dict(fn=loop_conv, cases=st.just(CASE), max_examples=1), dict(
        fn=functions(loop_conv), cases=CASES, max_examples=COUNTS), dict(fn=ON_CASE)),
    "assert_adjoint": (testing.assert_adjoint, dict(forward=loop_conv, backward=loop_backward_input, wrt="x",
                                                    cases=st.just(CASE), max_examples=1),
                       dict(forward=functions(loop_conv), backward=functions(loop_backward_input), cases=CASES,
                            max_examples=COUNTS, wrt=st.sampled_from([bad(repr(v), v) for v in (
                                "y", "X", "", None, 3, ["x"], np.array(["x", "W"]), b"x")])),
                       dict(forward=ON_CASE, backward=ON_CASE)),
    "assert_gradcheck": (testing.assert_gradcheck, dict(module=LAYER), dict(
        module=MODULES, x=GRADCHECK_X, dy=GRADCHECK_DY, forward=st.sampled_from(NOT_CALLABLE),
        max_relative_error=st.sampled_from(POSITIVE + [bad("1", 1), bad("1e300", 1e300), bad("0.5", 0.5, False)]),
        h=st.sampled_from(POSITIVE + [bad("1e-4", 1e-4, False)]), seed=integers(0),
        check_input=st.sampled_from([bad("'yes'", "yes"), bad("None", None), bad("1", 1), bad("False", False, False)])),
        dict(module="gradient check of")),
}


def names(message, name):
    return re.search(rf"(?<![\w.]){re.escape(name)}(?!\w)", message) is not None


@pytest.mark.parametrize("entry", ENTRY_POINTS)
@settings(max_examples=25, deadline=None, database=None, suppress_health_check=[HealthCheck.nested_given])
@given(data=st.data())
def test_every_entry_point_gives_a_clean_pass_or_an_error_naming_the_argument_or_the_case(entry, data):
    call, right, wrong, asserts = ENTRY_POINTS[entry]
    name = data.draw(st.sampled_from(sorted(wrong)), label="argument")
    label, value, must_fail = data.draw(wrong[name], label=f"{name} given")
    given_as = f"{entry}({name}={label})"
    try:
        call(**right | {name: value})
    except (TypeError, ValueError) as error:
        assert names(str(error), name), f"{given_as}: the {type(error).__name__} does not name {name}: {error}"
    except AssertionError as error:  # a failed check: only where the function under test, or what it compared, is wrong
        assert name in asserts, f"{given_as}: an AssertionError, not a TypeError or ValueError naming {name}: {error}"
        assert asserts[name] in str(error), f"{given_as}: the AssertionError does not say {asserts[name]!r}: {error}"
    else:
        assert not must_fail, f"{given_as} passed"


def test_the_entry_point_test_drives_every_public_function_of_the_kit_and_every_argument():
    # a function or an argument added to pytcn.testing and left out of ENTRY_POINTS fails here
    public = {name for name, value in vars(testing).items() if not name.startswith("_") and callable(value)
              and getattr(value, "__module__", None) == testing.__name__}
    assert public == set(ENTRY_POINTS)
    for name in public:
        arguments = set(inspect.signature(getattr(testing, name)).parameters) - {"what", "options"}  # what: any label
        assert arguments <= set(ENTRY_POINTS[name][2]), f"{name}: {arguments - set(ENTRY_POINTS[name][2])} not driven"
    assert {"dy", "forward", "h", "check_input"} <= set(ENTRY_POINTS["assert_gradcheck"][2])  # its **options
