"""Streaming inference: a trained TCN run on live sequences one step at a time, a batch of them at once.

The full forward pass recomputes every step of its window; to get the output at a new step that way costs the work
of R steps (R the receptive field). But a causal convolution's output at step t reads only its input at t and at
(K-1)*d steps before it. So each convolution keeps those inputs in a ring buffer (kernels/stream.py) and one step
costs what one column of the forward pass costs: O(layers * C^2 * K), whatever R is.

    state = model.stream(batch_size)        # zeros: every sequence at its start
    for x_t in signal:                      # x_t: (N, input_channels), the N sequences' inputs at this step
        y_t, state = model.step(x_t, state) # y_t: (N, outputs), what forward(x[:, :t+1]) gives at its last step

The output at each step is what the full forward gives at that step: with return_sequences=True the row t of its
output, without it the output of the sequence cut after step t (the head reads the last step). ``step`` also takes
a chunk of steps, x: (N, T_chunk, input_channels) -> y: (N, T_chunk, outputs).

A state is a plain dict of arrays, on the model's backend:

    "step"                     the number of steps taken (a 0-d int64 NumPy array, on every backend)
    "batch_size"               N, the number of sequences (a 0-d int64 NumPy array: a model of kernel size 1 keeps
                               no history that would say it)
    "tcn.network.{b}.conv1"    block b's first convolution: its last (K-1)*d inputs, (N, (K-1)*d, C_in)
    "tcn.network.{b}.conv2"    ... and its second: (N, (K-1)*d, C_out)

(none for K = 1, which reads only the current step). The skip connections and the head read the current step
only, and dropout is off at inference, so nothing else is kept. (Hence no stream for a model with padding='same',
whose step t reads later inputs, nor with pooling='mean', whose head reads every step so far.) ``step`` updates the
state in place and returns it: its ring buffers must be writeable C-contiguous arrays (a read-only one is refused
by name, never copied, which would leave the caller's state behind); x is only read, and may be read-only.
To keep a state (a checkpoint of the stream, a branch to try something on), copy it: ``model.stream(state=state)``;
to save it, ``{name: pytcn.to_numpy(a) for name, a in state.items()}`` is plain NumPy arrays (np.savez), and
``model.stream(state=loaded)`` restores it. ``model.reset_stream(state, samples)`` starts some sequences afresh
(zero histories are exactly the start of a sequence, at any step count).
"""
import numbers

import numpy as np

from ..runtime import validate
from ..runtime.memory import afresh, empty

COUNTERS = ("step", "batch_size")  # a state's two 0-d host integers; every other entry is a ring buffer
INT64_MAX = int(np.iinfo(np.int64).max)  # a step count is an int64, on the host and in the kernels


def history_shapes(model, batch_size):
    """name -> shape of every ring buffer of ``model``'s stream state for ``batch_size`` sequences."""
    shapes = {}
    for b, block in enumerate(model.blocks):
        for name, conv in (("conv1", block.conv1), ("conv2", block.conv2)):
            if conv.history_length > 0:
                shapes[f"tcn.network.{b}.{name}"] = (batch_size, conv.history_length, conv.in_channels)
    return shapes


def new_state(model, batch_size=None, state=None):
    """What ``TCN.stream`` returns: zeros for ``batch_size`` sequences, or a checked copy of ``state``."""
    _check_streamable(model)
    be = model.backend
    if batch_size is not None:
        batch_size = _checked_batch_size(model, batch_size)
    if state is None:
        if batch_size is None:
            raise TypeError("stream() needs batch_size (the number of sequences streamed together) or a state to "
                            "copy; both are None")
        new = {name: be.zeros(shape, model.dtype) for name, shape in history_shapes(model, batch_size).items()}
        new["step"] = np.zeros((), np.int64)
        new["batch_size"] = np.array(batch_size, np.int64)
        return new
    N = check_state(model, state)
    if batch_size is not None and batch_size != N:
        raise ValueError(f"batch_size is {batch_size}, but the state given holds {N} sequences")
    new = {"step": np.array(int(state["step"]), np.int64), "batch_size": np.array(N, np.int64)}
    for name, a in _buffers(state):
        if be.is_array(a):  # a state of this backend: copied on it (writeable and contiguous, whatever a is)
            new[name] = be.empty(a.shape, model.dtype)
            be.copy(new[name], a)
        else:  # NumPy arrays (read from a file, say): checked, and moved to the backend
            new[name] = be.array(f"state[{name!r}]", a, 3, model.dtype, shape=a.shape)
    return new


def check_state(model, state):
    """The batch size of ``state``, after checking it is a stream state of ``model``: its names, its two counters,
    and each ring buffer's type, shape and dtype."""
    _check_streamable(model)
    if not isinstance(state, dict) or "step" not in state:
        got = f"a dict without 'step' (keys {sorted(state, key=repr)})" if isinstance(state, dict) else \
            type(state).__name__
        raise TypeError(f"state must be the dict that model.stream() returned, got {got}")
    expected = history_shapes(model, 1)
    names = set(state) - set(COUNTERS)
    missing = sorted(set(expected) - names) + [c for c in COUNTERS if c not in state]
    extra = sorted(names - set(expected), key=repr)  # keys of any type: sorted by their repr, as they are printed
    if missing or extra:
        hint = "; a state without 'batch_size' (saved before states kept it) needs it added: state['batch_size'] = " \
               "np.array(N)" if missing == ["batch_size"] and not extra else ""
        raise ValueError(f"state does not fit this model (a state of another architecture?): missing {missing}, "
                         f"unexpected {extra}{hint}")
    _counter(state, "step", 0)
    N = _counter(state, "batch_size", 1)
    be = model.backend
    for name, shape in history_shapes(model, N).items():
        a = state[name]
        if not isinstance(a, np.ndarray) and not be.is_array(a):
            raise TypeError(f"state[{name!r}] must be an array (NumPy, or of the model's backend {be.name!r}), got "
                            f"{type(a).__name__}")
        if tuple(a.shape) != shape:
            raise ValueError(f"state[{name!r}] must have shape {shape} (state['batch_size'] is {N}), got "
                             f"{tuple(a.shape)}")
        if np.dtype(a.dtype) != model.dtype:
            raise TypeError(f"state[{name!r}] must be {model.dtype}, the model's dtype, got {a.dtype}")
    return N


def _counter(state, name, minimum):
    """``state[name]``, one of the two counters, as an int in [minimum, 2**63 - 1]: a 0-d integer array (or an int).
    Read without np.asarray, which would fail on a ragged list before naming it."""
    value = state[name]
    number = value[()] if isinstance(value, np.ndarray) and value.shape == () else value
    kind = "a non-negative" if minimum == 0 else "a positive"
    if isinstance(number, (bool, np.bool_)) or not isinstance(number, numbers.Integral):
        raise TypeError(f"state[{name!r}] must be {kind} integer (0-d array), got {value!r} of type "
                        f"{type(value).__name__}")
    if not minimum <= int(number) <= INT64_MAX:
        raise ValueError(f"state[{name!r}] must be {kind} integer (0-d array) below 2**63, got {value!r}")
    return int(number)


def _checked_batch_size(model, batch_size):
    """``batch_size`` as an int >= 1 small enough that the state's ring buffers can be addressed (their bytes below
    2**63), rather than NumPy's "array is too big" that names no argument."""
    N = validate.integer("batch_size", batch_size, 1)
    row = max((L * C * model.dtype.itemsize for _, L, C in history_shapes(model, 1).values()), default=1)  # bytes
    if N > INT64_MAX // row:
        raise ValueError(f"batch_size must be at most {INT64_MAX // row} for this model (a larger state could not "
                         f"be addressed), got {N}")
    return N


def _check_streamable(model):
    """A model that can stream: causal, and with a head that reads one step."""
    if model.padding == "same":
        raise ValueError("a model with padding='same' cannot stream: its output at step t reads inputs after t, which "
                         "a stream has not seen yet")
    if model.pooling == "mean":
        # the mean would need a running sum of the features and, for reset_stream, a step count per sequence (the
        # state counts the steps of the whole batch): not implemented
        raise ValueError("a model with pooling='mean' cannot stream: a stream outputs the head at each step, and a "
                         "running mean of the features over the steps so far is not implemented")


def _buffers(state):
    """The ring buffers of a checked state: (name, array) pairs."""
    return [(name, a) for name, a in state.items() if name not in COUNTERS]


def _check_writable(model, state):
    """Before ``step`` or ``reset_stream`` writes into the ring buffers, in place: each must be an array of the
    model's backend, and, on the host, writeable and C-contiguous (the kernels assume it). Refused, never copied: a
    copy would leave the caller's state behind."""
    be = model.backend
    for name, a in _buffers(state):
        if not be.is_array(a):
            raise TypeError(f"state[{name!r}] is not an array of backend {be.name!r}: pass the state through "
                            f"model.stream(state=...) first, which moves it there")
        if isinstance(a, np.ndarray) and not (a.flags.writeable and a.flags.c_contiguous):
            what = "read-only" if not a.flags.writeable else f"not C-contiguous (strides {a.strides})"
            raise ValueError(f"state[{name!r}] is {what}, but the stream writes into it, in place: "
                             f"model.stream(state=state) makes a writeable, contiguous copy")


def step(model, x, state):
    """What ``TCN.step`` does: x: (N, C_in) -> (N, outputs), or a chunk (N, T_chunk, C_in) -> (N, T_chunk, outputs)."""
    N = check_state(model, state)
    _check_writable(model, state)
    be = model.backend
    if not isinstance(x, np.ndarray) and not be.is_array(x):
        raise TypeError(f"x must be a NumPy array, got {type(x).__name__}")
    ndim = len(x.shape)
    if ndim not in (2, 3):
        raise ValueError(f"x must be one step (N, input_channels) or a chunk of steps (N, T, input_channels), got "
                         f"an array of shape {tuple(x.shape)}")
    shape = (N, model.input_channels) if ndim == 2 else (N, None, model.input_channels)
    # x is only read: a read-only x is used as it is (the kernels take read-only inputs)
    x = model.passes.checked("x", x, ndim, shape)
    steps = 1 if ndim == 2 else x.shape[1]
    if int(state["step"]) > INT64_MAX - steps:
        raise ValueError(f"state['step'] is {int(state['step'])}: {steps} more steps would count past 2**63 - 1, "
                         f"the most a stream counts")
    with model.passes.stream(x) as x:  # one call at a time; its arena (pytcn/runtime/passes.py); x on the device
        if ndim == 2:
            return _one_step(model, x, state), state
        # a chunk: the steps one after the other, each step's input and output a contiguous (N, C) row of a
        # time-major copy (T, N, C), made and undone with the model's transpose of the last two axes
        N, T, C = x.shape
        xt = empty(be, (N, C, T), model.dtype)
        be.transpose(xt, x)
        x_rows = empty(be, (1, T, N * C), model.dtype)
        be.transpose(x_rows, xt.reshape(1, N * C, T))  # T, N, C
        x_rows = x_rows.reshape(T, N, C)
        y_rows = empty(be, (T, N, model.outputs), model.dtype)
        for t in range(T):
            be.copy(y_rows[t], _one_step(model, x_rows[t], state))
        yt = empty(be, (1, N * model.outputs, T), model.dtype)
        be.transpose(yt, y_rows.reshape(1, T, N * model.outputs))  # N, outputs, T
        with afresh():  # the output is the caller's to keep
            y = be.empty((N, T, model.outputs), model.dtype)
        be.transpose(y, yt.reshape(N, model.outputs, T))
        return y, state


def _one_step(model, x, state):
    """x: (N, C_in), contiguous, on the backend -> y: (N, outputs), a new array. Advances the state by one step."""
    with model.passes.stream_step():  # this step's temporaries: the same buffers again at the next step
        return _step_through_blocks(model, x, state)


def _step_through_blocks(model, x, state):
    be = model.backend
    t = int(state["step"])
    features = None
    h = x
    for b, block in enumerate(model.blocks):
        histories = {name: state.get(f"tcn.network.{b}.{name}") for name in ("conv1", "conv2")}
        h, branch = block.step(h, histories, t)
        if model.use_skip_connections:  # features = the sum of every block's branch
            if features is None:
                features = branch
            else:
                summed = empty(be, branch.shape, model.dtype)
                be.add(summed, features, branch)
                features = summed
    if not model.use_skip_connections:
        features = h
    with afresh():  # the output is the caller's to keep
        y, _ = model.linear.forward(features)
    state["step"] = np.array(t + 1, np.int64)
    return y


def reset(model, state, samples=None):
    """Starts the sequences ``samples`` (indices into the batch; all by default) afresh, in place."""
    N = check_state(model, state)
    rows = None if samples is None else _sample_indices(samples, N)
    _check_writable(model, state)
    for _, a in _buffers(state):
        if rows is None:
            model.backend.fill(a, 0)
        else:
            for n in rows:
                model.backend.fill(a[n], 0)
    if rows is None:
        state["step"] = np.zeros((), np.int64)
    return state


def _sample_indices(samples, N):
    """``samples`` as a list of ints in [-N, N), as NumPy indexes a batch of N: an empty list or tuple is no sequence
    (nothing to reset); a bool mask, floats, or a scalar are refused rather than read some other way."""
    if isinstance(samples, (list, tuple)) and len(samples) == 0:
        return []  # np.asarray([]) is float64, which the check below would refuse
    try:
        rows = np.asarray(samples)
    except (TypeError, ValueError):  # a ragged nested list: refused below, by name
        rows = None
    # np.asarray([True, 2]) is [1, 2]: a bool among the indices is a mistake, not the index 1
    has_bool = isinstance(samples, (list, tuple)) and any(isinstance(n, (bool, np.bool_)) for n in samples)
    if rows is None or has_bool or rows.ndim != 1 or rows.dtype.kind not in "iu" or \
            (rows.size and not -N <= int(rows.min()) <= int(rows.max()) < N):
        raise ValueError(f"samples must be a list of indices into the batch of {N} sequences, got {samples!r}")
    return [int(n) for n in rows]


def stream_flops(model, batch_size=1):
    """Floating-point operations of one streaming step for ``batch_size`` sequences (a multiply-add counts 2)."""
    if not all(hasattr(model, name) for name in ("blocks", "linear")):
        raise TypeError(f"model must be a pytcn.TCN, got {type(model).__name__}")
    batch_size = validate.integer("batch_size", batch_size, 1)
    total = 0
    for block in model.blocks:
        convs = [block.conv1, block.conv2] + ([block.downsample] if block.downsample is not None else [])
        total += sum(2 * c.out_channels * c.in_channels * c.kernel_size for c in convs)
    total += 2 * model.linear.in_features * model.linear.out_features
    return batch_size * total
