"""Bad input is refused at the public boundary with a ValueError or TypeError that names the argument and its value.

Every bad case is one row of ``CASES``: (call, the error it must raise, a regex that must find both the argument's
name and the bad value in the message). Two tests read the table: one checks the error and its message, the other
that the error is exactly ValueError or TypeError, never a Numba error (``numba.core.errors.NumbaTypeError``
subclasses TypeError, so ``pytest.raises(TypeError)`` alone would let one through). A last group checks what is
converted rather than refused: non-contiguous and non-float32 floating input gives the same result as its
contiguous copy.
"""
import inspect

import numpy as np
import pytest

import pytcn
from pytcn import SGD, TCN, Adam, CausalConv1D, Linear, SpatialDropout1D, cross_entropy, mse

SMALL = dict(input_channels=3, outputs=2, nb_filters=4, kernel_size=2, dilations=[1, 2], seed=0)
N, T, C_IN, OUTPUTS = 2, 5, 3, 2


def small_tcn(**overrides):
    return TCN(**{**SMALL, **overrides})


def x_good(shape=(N, T, C_IN), dtype=np.float32):
    return np.random.default_rng(1).standard_normal(shape).astype(dtype)


def after_forward(**overrides):
    """A model whose forward has run on a good input, ready for a backward."""
    model = small_tcn(**overrides)
    model.forward(x_good())
    return model


def case(case_id, call, error, pattern):
    return pytest.param(call, error, pattern, id=case_id)


def tcn_case(error, pattern, **bad):
    """A constructor case; its id starts with TCN-<argument>= so that the grid test below can find it."""
    (name, value), = bad.items()
    return case(f"TCN-{name}={value!r}", lambda: small_tcn(**bad), error, pattern)


CONSTRUCTOR = [
    tcn_case(ValueError, r"dropout_type.*got 'channel'", dropout_type="channel"),
    tcn_case(ValueError, r"padding.*got 'valid'", padding="valid"),
    tcn_case(ValueError, r"pooling must be one of 'last', 'mean'; got 'max'", pooling="max"),
    tcn_case(ValueError, r"pooling.*got None", pooling=None),
    case("TCN-pooling-mean-with-return_sequences", lambda: small_tcn(pooling="mean", return_sequences=True),
         ValueError, r"pooling='mean'.*return_sequences=True"),
    tcn_case(TypeError, r"use_layer_norm.*got 1\b", use_layer_norm=1),
    tcn_case(TypeError, r"use_batch_norm.*got 'yes'", use_batch_norm="yes"),
    tcn_case(ValueError, r"kernel_size.*got 0\b", kernel_size=0),
    tcn_case(ValueError, r"kernel_size.*got -1\b", kernel_size=-1),
    tcn_case(TypeError, r"kernel_size.*got 2\.5", kernel_size=2.5),
    tcn_case(TypeError, r"kernel_size.*got '3'", kernel_size="3"),
    tcn_case(TypeError, r"kernel_size.*got True", kernel_size=True),
    tcn_case(ValueError, r"dilations.*got \[\]", dilations=[]),
    tcn_case(TypeError, r"dilations.*\[1, 1\.5\]", dilations=[1, 1.5]),
    tcn_case(TypeError, r"dilations.*\[1, '2'\]", dilations=[1, "2"]),
    tcn_case(TypeError, r"dilations.*\[1, None\]", dilations=[1, None]),
    tcn_case(ValueError, r"dilations.*\[1, 0\]", dilations=[1, 0]),
    tcn_case(ValueError, r"dilations.*\[1, -2\]", dilations=[1, -2]),
    tcn_case(TypeError, r"dilations.*got 4\b", dilations=4),
    tcn_case(TypeError, r"dilations.*got \{1, 2\}", dilations={1, 2}),  # a set has no order for the blocks
    tcn_case(ValueError, r"nb_stacks.*got 0\b", nb_stacks=0),
    tcn_case(ValueError, r"nb_stacks x len\(dilations\) must be <= 10000 residual blocks, got 1000000000 x 2",
             nb_stacks=10**9),
    tcn_case(ValueError, r"kernel_size must be <= 2147483647, got 4611686018427387904", kernel_size=2**62),
    tcn_case(ValueError, r"input_channels must be <= 2147483647, got 9223372036854775808", input_channels=2**63),
    tcn_case(ValueError, r"outputs must be <= 2147483647, got 1180591620717411303424", outputs=2**70),
    tcn_case(ValueError, r"nb_filters must be <= 2147483647, got 9223372036854775808", nb_filters=2**63),
    tcn_case(ValueError, r"nb_filters.*got 0\b", nb_filters=0),
    tcn_case(ValueError, r"nb_filters.*got \[4\]", nb_filters=[4]),  # two dilations, one width
    tcn_case(ValueError, r"nb_filters.*got 0\b", nb_filters=[4, 0]),
    tcn_case(ValueError, r"nb_filters.*\[4, 8\]", nb_filters=[4, 8]),  # skip connections sum equal widths
    tcn_case(ValueError, r"dropout_rate.*got -0\.1", dropout_rate=-0.1),
    tcn_case(ValueError, r"dropout_rate.*got 1\.0", dropout_rate=1.0),
    tcn_case(ValueError, r"dropout_rate.*got 1\.5", dropout_rate=1.5),
    tcn_case(ValueError, r"dropout_rate.*got nan", dropout_rate=float("nan")),
    tcn_case(TypeError, r"dropout_rate.*got '0\.1'", dropout_rate="0.1"),
    tcn_case(ValueError, r"activation.*got 'tanh'", activation="tanh"),
    tcn_case(ValueError, r"activation.*got array", activation=np.array(["relu", "tanh"])),  # not `==`'s error
    tcn_case(ValueError, r"kernel_initializer.*got 'bogus'", kernel_initializer="bogus"),
    tcn_case(TypeError, r"dtype.*got int32", dtype=np.int32),
    tcn_case(TypeError, r"dtype.*got complex64", dtype=np.complex64),
    tcn_case(TypeError, r"dtype.*got float16", dtype="float16"),
    tcn_case(TypeError, r"dtype.*got None", dtype=None),  # np.dtype(None) would be float64, silently
    tcn_case(ValueError, r"input_channels.*got 0\b", input_channels=0),
    tcn_case(ValueError, r"outputs.*got 0\b", outputs=0),
    tcn_case(ValueError, r"backend.*got 'gpu'", backend="gpu"),
    tcn_case(ValueError, r"seed.*got -1\b", seed=-1),
    tcn_case(TypeError, r"use_skip_connections.*got 'False'", use_skip_connections="False"),  # bool('False')
    tcn_case(TypeError, r"return_sequences.*got 1\b", return_sequences=1),
    tcn_case(TypeError, r"use_weight_norm.*got 'yes'", use_weight_norm="yes"),
]

MODEL = small_tcn()  # forward only reads it: the bad forwards below can share it

FORWARD = [
    case("forward-2d", lambda: MODEL.forward(x_good((T, C_IN))), ValueError, r"\bx\b.*3 dimensions.*\(5, 3\)"),
    case("forward-4d", lambda: MODEL.forward(x_good((N, T, C_IN, 1))), ValueError, r"\bx\b.*\(2, 5, 3, 1\)"),
    case("forward-channels", lambda: MODEL.forward(x_good((N, T, 4))), ValueError,
         r"\bx\b.*\(\*, \*, 3\).*\(2, 5, 4\)"),
    case("forward-channels-first", lambda: MODEL.forward(x_good((N, C_IN, T))), ValueError, r"\bx\b.*\(2, 3, 5\)"),
    case("forward-int", lambda: MODEL.forward(np.ones((N, T, C_IN), np.int64)), TypeError, r"\bx\b.*int64"),
    case("forward-complex", lambda: MODEL.forward(np.ones((N, T, C_IN), np.complex128)), TypeError,
         r"\bx\b.*complex128"),
    case("forward-bool", lambda: MODEL.forward(np.ones((N, T, C_IN), bool)), TypeError, r"\bx\b.*bool"),
    case("forward-object", lambda: MODEL.forward(np.ones((N, T, C_IN), object)), TypeError, r"\bx\b.*object"),
    case("forward-list", lambda: MODEL.forward(x_good().tolist()), TypeError, r"\bx\b.*got list"),
    case("forward-T=0", lambda: MODEL.forward(x_good((N, 0, C_IN))), ValueError, r"\bx\b.*empty.*\(2, 0, 3\)"),
    case("forward-N=0", lambda: MODEL.forward(x_good((0, T, C_IN))), ValueError, r"\bx\b.*empty.*\(0, 5, 3\)"),
    case("forward-training-str", lambda: MODEL.forward(x_good(), training="no"), TypeError, r"training.*got 'no'"),
    case("forward-rng-int", lambda: MODEL.forward(x_good(), training=True, rng=3), TypeError, r"\brng\b.*got 3\b"),
    case("backward-dy-shape", lambda: after_forward().backward(np.ones((N, 3), np.float32)), ValueError,
         r"\bdy\b.*\(2, 2\).*\(2, 3\)"),
    case("backward-dy-rank", lambda: after_forward().backward(np.ones((N, T, OUTPUTS), np.float32)), ValueError,
         r"\bdy\b.*2 dimensions.*\(2, 5, 2\)"),
    case("backward-dy-sequences", lambda: after_forward(return_sequences=True).backward(np.ones((N, OUTPUTS))),
         ValueError, r"\bdy\b.*3 dimensions.*\(2, 2\)"),
    case("backward-dy-int", lambda: after_forward().backward(np.ones((N, OUTPUTS), np.int32)), TypeError,
         r"\bdy\b.*int32"),
    case("backward-dy-list", lambda: after_forward().backward([[0.0, 0.0]] * N), TypeError, r"\bdy\b.*got list"),
]

LOGITS = np.zeros((4, 3))
LOSSES = [
    case("mse-shapes", lambda: mse(np.zeros((4, 3)), np.zeros((4, 2))), ValueError, r"target.*\(4, 3\).*\(4, 2\)"),
    case("mse-rank", lambda: mse(np.zeros((4, 3)), np.zeros(4)), ValueError, r"target.*\(4,\)"),
    case("mse-pred-list", lambda: mse([1.0, 2.0], np.zeros(2)), TypeError, r"pred.*got list"),
    case("mse-pred-int", lambda: mse(np.zeros(2, np.int64), np.zeros(2)), TypeError, r"pred.*int64"),
    case("mse-pred-0d", lambda: mse(np.array(1.0), np.array(1.0)), ValueError, r"pred.*shape \(\)"),
    case("mse-target-list", lambda: mse(np.zeros(2), [0.0, 0.0]), TypeError, r"target.*got list"),
    case("mse-backend", lambda: mse(np.zeros(2), np.zeros(2), backend="gpu"), ValueError, r"backend.*'gpu'"),
    case("ce-float-labels", lambda: cross_entropy(LOGITS, np.zeros(4)), TypeError, r"labels.*float64"),
    case("ce-bool-labels", lambda: cross_entropy(LOGITS, np.zeros(4, bool)), TypeError, r"labels.*bool"),
    case("ce-label-negative", lambda: cross_entropy(LOGITS, np.array([0, 1, -1, 2])), ValueError,
         r"labels.*\[0, 3\).*-1\b"),
    case("ce-label-C", lambda: cross_entropy(LOGITS, np.array([0, 3, 1, 2])), ValueError,
         r"labels.*\[0, 3\).*label 3\b"),
    case("ce-label-shape", lambda: cross_entropy(LOGITS, np.zeros((4, 1), np.int64)), ValueError,
         r"labels.*\(4,\).*\(4, 1\)"),
    case("ce-label-per-step", lambda: cross_entropy(np.zeros((2, 5, 3)), np.zeros(2, np.int64)), ValueError,
         r"labels.*\(2, 5\).*\(2,\)"),
    case("ce-labels-list", lambda: cross_entropy(LOGITS, [0, 1, 2, 0]), TypeError, r"labels.*got list"),
    case("ce-logits-1d", lambda: cross_entropy(np.zeros(3), np.zeros((), np.int64)), ValueError,
         r"logits.*\(3,\)"),
    case("ce-logits-4d", lambda: cross_entropy(np.zeros((1, 2, 2, 3)), np.zeros((1, 2, 2), np.int64)),
         ValueError, r"logits.*\(1, 2, 2, 3\)"),
]


def state_with(change):
    """MODEL's state_dict with ``change`` applied, loaded back into a fresh model."""
    state = MODEL.state_dict()
    change(state)
    return lambda: small_tcn().load_state_dict(state)


LOAD = [
    case("load-missing", state_with(lambda s: s.pop("linear.bias")), ValueError,
         r"state_dict.*missing.*'linear\.bias'"),
    case("load-extra", state_with(lambda s: s.update(extra=np.zeros(1, np.float32))), ValueError,
         r"state_dict.*unexpected.*'extra'"),
    case("load-shape", state_with(lambda s: s.update({"linear.weight": np.zeros((2, 5), np.float32)})), ValueError,
         r"state_dict\['linear\.weight'\].*\(2, 5\)"),
    case("load-dtype", state_with(lambda s: s.update({"linear.bias": np.zeros(2)})), TypeError,
         r"state_dict\['linear\.bias'\].*float64"),
    case("load-not-array", state_with(lambda s: s.update({"linear.bias": [0.0, 0.0]})), TypeError,
         r"state_dict\['linear\.bias'\].*got list"),
    case("load-not-mapping", lambda: small_tcn().load_state_dict(list(MODEL.state_dict().items())), TypeError,
         r"state_dict.*got list"),
]


def params():
    return {"w": np.zeros((2, 3), np.float32), "b": np.zeros(3, np.float32)}


def grads(**change):
    return {**{"w": np.ones((2, 3), np.float32), "b": np.ones(3, np.float32)}, **change}


def grads_without_b():
    g = grads()
    del g["b"]
    return g


OPTIMIZERS = [
    case("adam-lr=inf", lambda: Adam(params(), lr=float("inf")), ValueError, r"\blr\b.*finite.*got inf"),
    case("adam-lr<0", lambda: Adam(params(), lr=-1e-3), ValueError, r"\blr\b.*got -0\.001"),
    case("adam-lr-nan", lambda: Adam(params(), lr=float("nan")), ValueError, r"\blr\b.*got nan"),
    case("adam-lr-str", lambda: Adam(params(), lr="0.1"), TypeError, r"\blr\b.*got '0\.1'"),
    case("sgd-lr<0", lambda: SGD(params(), lr=-1), ValueError, r"\blr\b must be in \[0\.0, inf\), got -1\b"),
    case("adam-beta1=1", lambda: Adam(params(), beta1=1.0), ValueError, r"beta1.*\[0\.0, 1\.0\).*got 1\.0"),
    case("adam-beta2=1", lambda: Adam(params(), beta2=1), ValueError, r"beta2.*got 1\b"),
    case("adam-epsilon<0", lambda: Adam(params(), epsilon=-1e-8), ValueError, r"epsilon.*got -1e-08"),
    case("adam-weight_decay<0", lambda: Adam(params(), weight_decay=-0.5), ValueError, r"weight_decay.*got -0\.5"),
    case("adam-max_grad_norm=0", lambda: Adam(params(), max_grad_norm=0.0), ValueError, r"max_grad_norm.*got 0\.0"),
    case("adam-backend", lambda: Adam(params(), backend="gpu"), ValueError, r"backend.*'gpu'"),
    case("adam-params-list", lambda: Adam(list(params().values())), TypeError, r"params.*got list"),
    case("sgd-params-list", lambda: SGD([np.zeros(3)]), TypeError, r"params.*got list"),
    case("adam-param-not-array", lambda: Adam({"w": [0.0, 1.0]}), TypeError, r"params\['w'\].*got list"),
    case("adam-param-int", lambda: Adam({"w": np.zeros(3, np.int64)}), TypeError, r"params\['w'\].*int64"),
    case("adam-param-strided", lambda: Adam({"w": np.zeros((3, 4))[:, ::2]}), ValueError,
         r"params\['w'\].*contiguous.*\(3, 2\)"),
    case("adam-step-missing", lambda: Adam(params()).step(grads_without_b()), ValueError, r"grads.*'b'"),
    case("sgd-step-missing", lambda: SGD(params()).step(grads_without_b()), ValueError, r"grads.*'b'"),
    case("adam-step-shape", lambda: Adam(params()).step(grads(w=np.ones((3, 2), np.float32))), ValueError,
         r"grads\['w'\].*\(3, 2\)"),
    case("adam-step-dtype", lambda: Adam(params()).step(grads(w=np.ones((2, 3)))), ValueError,
         r"grads\['w'\].*float64"),
    case("adam-step-not-array", lambda: Adam(params()).step(grads(b=[1.0, 1.0, 1.0])), TypeError,
         r"grads\['b'\].*got list"),
    case("adam-step-not-mapping", lambda: Adam(params()).step(list(grads().values())), TypeError,
         r"grads.*got list"),
]

LAYERS = [
    case("conv-in_channels=0", lambda: CausalConv1D(0, 4, 2), ValueError, r"in_channels.*got 0\b"),
    case("conv-out_channels=0", lambda: CausalConv1D(3, 0, 2), ValueError, r"out_channels.*got 0\b"),
    case("conv-kernel_size=0", lambda: CausalConv1D(3, 4, 0), ValueError, r"kernel_size.*got 0\b"),
    case("conv-kernel_size-float", lambda: CausalConv1D(3, 4, 2.0), TypeError, r"kernel_size.*got 2\.0"),
    case("conv-dilation=0", lambda: CausalConv1D(3, 4, 2, 0), ValueError, r"dilation.*got 0\b"),
    case("conv-dilation-float", lambda: CausalConv1D(3, 4, 2, 1.5), TypeError, r"dilation.*got 1\.5"),
    case("conv-dtype", lambda: CausalConv1D(3, 4, 2, dtype=np.int32), TypeError, r"dtype.*int32"),
    case("conv-initializer", lambda: CausalConv1D(3, 4, 2, kernel_initializer="bogus"), ValueError,
         r"kernel_initializer.*'bogus'"),
    case("conv-backend", lambda: CausalConv1D(3, 4, 2, backend="gpu"), ValueError, r"backend.*'gpu'"),
    case("conv-forward-channels", lambda: CausalConv1D(3, 4, 2).forward(x_good((N, T, C_IN))), ValueError,
         r"\bx\b.*\(\*, 3, \*\).*\(2, 5, 3\)"),
    case("conv-forward-2d", lambda: CausalConv1D(3, 4, 2).forward(x_good((C_IN, T))), ValueError,
         r"\bx\b.*\(3, 5\)"),
    case("conv-forward-int", lambda: CausalConv1D(3, 4, 2).forward(np.ones((N, C_IN, T), np.int64)), TypeError,
         r"\bx\b.*int64"),
    case("conv-forward-list", lambda: CausalConv1D(3, 4, 2).forward([[[0.0]]]), TypeError, r"\bx\b.*got list"),
    case("linear-in_features=0", lambda: Linear(0, 2), ValueError, r"in_features.*got 0\b"),
    case("linear-out_features=0", lambda: Linear(3, 0), ValueError, r"out_features.*got 0\b"),
    case("linear-dtype", lambda: Linear(3, 2, dtype="float16"), TypeError, r"dtype.*float16"),
    case("linear-forward-features", lambda: Linear(3, 2).forward(x_good((4, 5))), ValueError,
         r"\bx\b.*\(\*, 3\).*\(4, 5\)"),
    case("linear-forward-3d", lambda: Linear(3, 2).forward(x_good((4, 5, 3))), ValueError, r"\bx\b.*\(4, 5, 3\)"),
    case("linear-forward-complex", lambda: Linear(3, 2).forward(np.ones((4, 3), np.complex64)), TypeError,
         r"\bx\b.*complex64"),
    # the argument is called `rate`; the message says `dropout_rate`, which this pattern also accepts
    case("dropout-rate=1", lambda: SpatialDropout1D(1.0), ValueError, r"rate.*got 1\.0"),
    case("dropout-rate<0", lambda: SpatialDropout1D(-0.1), ValueError, r"rate.*got -0\.1"),
    case("dropout-rate-str", lambda: SpatialDropout1D("0.5"), TypeError, r"rate.*got '0\.5'"),
    case("dropout-no-rng", lambda: SpatialDropout1D(0.5).forward(x_good((N, C_IN, T)), training=True), ValueError,
         r"\brng\b.*got None"),
]

CASES = CONSTRUCTOR + FORWARD + LOSSES + LOAD + OPTIMIZERS + LAYERS


@pytest.mark.parametrize("call, error, pattern", CASES)
def test_bad_input_raises_an_error_naming_the_argument_and_its_value(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


@pytest.mark.parametrize("call, error, pattern", CASES)
def test_bad_input_error_is_exactly_value_or_type_error_never_numba(call, error, pattern):
    with pytest.raises(Exception) as info:
        call()
    # `is`, not issubclass: numba's NumbaTypeError and NumbaValueError subclass TypeError and ValueError
    assert info.type is ValueError or info.type is TypeError, \
        f"{info.type.__module__}.{info.type.__qualname__}: {info.value}"


def test_every_tcn_constructor_argument_has_a_bad_case():
    covered = {param.id.split("=")[0].removeprefix("TCN-") for param in CONSTRUCTOR}
    arguments = set(inspect.signature(TCN).parameters)
    assert arguments <= covered, f"no bad case for TCN arguments {sorted(arguments - covered)}"


def test_backward_before_forward_says_so():
    with pytest.raises(RuntimeError, match=r"backward called before forward"):
        small_tcn().backward(np.ones((N, OUTPUTS), np.float32))


def test_failed_load_state_dict_changes_nothing():
    model = small_tcn()
    before = model.state_dict()
    state = small_tcn(seed=1).state_dict()
    state["linear.bias"] = state["linear.bias"].astype(np.float64)  # the last array is wrong, the others fine
    with pytest.raises(TypeError):
        model.load_state_dict(state)
    for name, p in model.params.items():
        np.testing.assert_array_equal(p, before[name], err_msg=name)


# ---------------------------------------------------------------------------------------------------------------
# converted, not refused: any real floating input, in any memory layout, is copied to a C-contiguous array of the
# model's dtype at the boundary (pytcn.runtime.validate.float_array), so it gives what its contiguous copy gives


def strided_in_time(rng):
    return rng.standard_normal((N, 2 * T, C_IN)).astype(np.float32)[:, ::2]  # N, T, C_IN


def transposed(rng):
    return rng.standard_normal((C_IN, T, N)).astype(np.float32).transpose(2, 1, 0)  # N, T, C_IN


def strided_in_channels(rng):
    return rng.standard_normal((N, T, 2 * C_IN)).astype(np.float32)[:, :, 1::2]  # N, T, C_IN


def fortran_order(rng):
    return np.asfortranarray(rng.standard_normal((N, T, C_IN)).astype(np.float32))


@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("make", [strided_in_time, transposed, strided_in_channels, fortran_order])
def test_noncontiguous_input_gives_the_same_result_as_its_contiguous_copy(make, return_sequences):
    rng = np.random.default_rng(2)
    x = make(rng)
    assert x.shape == (N, T, C_IN) and not x.flags.c_contiguous
    x_before = x.copy()
    model = small_tcn(return_sequences=return_sequences)
    y = model.forward(x)
    dx = model.backward(np.ones_like(y))
    dW = model.grads["tcn.network.0.conv1.weight"].copy()
    y_ref = model.forward(np.ascontiguousarray(x))
    dx_ref = model.backward(np.ones_like(y_ref))
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(dx, dx_ref)
    np.testing.assert_array_equal(dW, model.grads["tcn.network.0.conv1.weight"])
    np.testing.assert_array_equal(x, x_before)  # the caller's array is read, never written


def test_noncontiguous_dy_gives_the_same_dx_as_its_contiguous_copy():
    model = small_tcn(return_sequences=True)
    x = x_good()
    y = model.forward(x)
    dy = np.random.default_rng(3).standard_normal((N, 2 * T, OUTPUTS)).astype(np.float32)[:, ::2]
    assert dy.shape == y.shape and not dy.flags.c_contiguous
    dx = model.backward(dy)
    model.forward(x)
    np.testing.assert_array_equal(dx, model.backward(np.ascontiguousarray(dy)))


@pytest.mark.parametrize("dtype", [np.float64, np.float16, ">f4"])
def test_other_floating_input_is_converted_to_the_model_dtype(dtype):
    x = x_good(dtype=np.float64)
    y = MODEL.forward(x.astype(dtype))
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, MODEL.forward(x.astype(dtype).astype(np.float32)))


def test_noncontiguous_input_to_a_layer_gives_the_same_result_as_its_contiguous_copy():
    conv = CausalConv1D(3, 4, 2, dilation=2, rng=np.random.default_rng(0))
    x = np.random.default_rng(4).standard_normal((N, T, C_IN)).astype(np.float32).transpose(0, 2, 1)  # N, C_IN, T
    assert not x.flags.c_contiguous
    np.testing.assert_array_equal(conv.forward(x)[0], conv.forward(np.ascontiguousarray(x))[0])


def test_the_table_reaches_the_numba_backend():
    # the exact-type test above only means something if the bad cases run against the Numba kernels' backend
    assert MODEL.backend is pytcn.runtime.backends.BACKENDS["cpu"]


def test_relu_and_dropout_backward_reject_a_dy_of_the_wrong_shape():
    rng = np.random.default_rng(0)
    relu = pytcn.ReLU()
    _, cache = relu.forward(rng.standard_normal((2, 3, 5)))
    with pytest.raises(ValueError, match=r"dy must have shape \(2, 3, 5\), got \(2, 3, 4\)"):
        relu.backward(rng.standard_normal((2, 3, 4)), cache)
    dropout = pytcn.SpatialDropout1D(0.5)
    _, cache = dropout.forward(rng.standard_normal((2, 3, 5)), training=True, rng=rng)
    with pytest.raises(ValueError, match=r"dy must have the shape of the forward's input.*got \(2, 4, 5\)"):
        dropout.backward(rng.standard_normal((2, 4, 5)), cache)
