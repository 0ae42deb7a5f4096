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
    "tcn.network.{b}.conv1"    block b's first convolution: its last (K-1)*d inputs, (N, (K-1)*d, C_in)
    "tcn.network.{b}.conv2"    ... and its second: (N, (K-1)*d, C_out)

(none for K = 1, which reads only the current step). The skip connections and the head read the current step
only, and dropout is off at inference, so nothing else is kept. ``step`` updates the state in place and returns it.
To keep a state (a checkpoint of the stream, a branch to try something on), copy it: ``model.stream(state=state)``;
to save it, ``{name: pytcn.to_numpy(a) for name, a in state.items()}`` is plain NumPy arrays (np.savez), and
``model.stream(state=loaded)`` restores it. ``model.reset_stream(state, samples)`` starts some sequences afresh
(zero histories are exactly the start of a sequence, at any step count).
"""
import numpy as np

from ..runtime import validate
from ..runtime.memory import afresh, empty


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
    be = model.backend
    if model.padding == "same":
        raise ValueError("a model with padding='same' cannot stream: its output at step t reads inputs after t, which "
                         "a stream has not seen yet")
    if state is None:
        if batch_size is None:
            raise TypeError("stream() needs batch_size (the number of sequences streamed together), or a state to "
                            "copy")
        N = validate.integer("batch_size", batch_size, 1)
        new = {name: be.zeros(shape, model.dtype) for name, shape in history_shapes(model, N).items()}
        new["step"] = np.zeros((), np.int64)
        return new
    N = check_state(model, state)
    if batch_size is not None and validate.integer("batch_size", batch_size, 1) != N:
        raise ValueError(f"batch_size is {batch_size}, but the state given holds {N} sequences")
    new = {}
    for name, a in state.items():
        if name == "step":
            new[name] = np.array(int(np.asarray(a)), np.int64)
        elif be.is_array(a):  # a state of this backend: copied on it
            new[name] = be.empty(a.shape, model.dtype)
            be.copy(new[name], a)
        else:  # NumPy arrays (read from a file, say): checked, and moved to the backend
            new[name] = be.array(f"state[{name!r}]", a, 3, model.dtype, shape=a.shape)
    return new


def check_state(model, state):
    """The batch size of ``state``, after checking it is a stream state of ``model`` (names, shapes, dtype)."""
    if not isinstance(state, dict) or "step" not in state:
        raise TypeError(f"state must be the dict that model.stream() returned, got {type(state).__name__}")
    step = np.asarray(state["step"])
    if step.shape != () or step.dtype.kind not in "iu" or int(step) < 0:
        raise ValueError(f"state['step'] must be a non-negative integer (0-d array), got {state['step']!r}")
    names = {k for k in state if k != "step"}
    any_history = next(iter(names), None)
    N = state[any_history].shape[0] if any_history is not None else None
    expected = history_shapes(model, N if N is not None else 1)
    if names != set(expected):
        missing, extra = sorted(set(expected) - names), sorted(names - set(expected))
        raise ValueError(f"state does not fit this model (a state of another architecture?): missing {missing}, "
                         f"unexpected {extra}")
    for name, shape in expected.items():
        a = state[name]
        if tuple(a.shape) != shape:
            raise ValueError(f"state[{name!r}] must have shape {shape}, got {tuple(a.shape)}")
        if np.dtype(a.dtype) != model.dtype:
            raise TypeError(f"state[{name!r}] must be {model.dtype}, the model's dtype, got {a.dtype}")
    return N


def step(model, x, state):
    """What ``TCN.step`` does: x: (N, C_in) -> (N, outputs), or a chunk (N, T_chunk, C_in) -> (N, T_chunk, outputs)."""
    N = check_state(model, state)
    be = model.backend
    for name in state:
        if name != "step" and not be.is_array(state[name]):
            raise TypeError(f"state[{name!r}] is not an array of backend {be.name!r}: pass the state through "
                            f"model.stream(state=...) first, which moves it there")
    ndim = len(getattr(x, "shape", ()))
    if ndim not in (2, 3):
        raise ValueError(f"x must be one step (N, input_channels) or a chunk of steps (N, T, input_channels), got "
                         f"{_describe(x)}")
    shape = (N, model.input_channels) if ndim == 2 else (N, None, model.input_channels)
    x = model.passes.checked("x", x, ndim, shape)  # N None: a model of kernel size 1 keeps no history, any N goes
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
    if samples is None:
        rows = None
    else:
        rows = np.asarray(samples)
        if rows.ndim != 1 or rows.dtype.kind not in "iu" or (N is not None and rows.size and
                                                              (rows.min() < -N or rows.max() >= N)):
            raise ValueError(f"samples must be a list of indices into the batch of {N} sequences, got {samples!r}")
    for name, a in state.items():
        if name == "step":
            continue
        if rows is None:
            model.backend.fill(a, 0)
        else:
            for n in rows:
                model.backend.fill(a[int(n)], 0)
    if rows is None:
        state["step"] = np.zeros((), np.int64)
    return state


def _describe(x):
    shape = getattr(x, "shape", None)
    return f"an array of shape {tuple(shape)}" if shape is not None else f"{type(x).__name__} {x!r}"


def stream_flops(model, batch_size=1):
    """Floating-point operations of one streaming step for ``batch_size`` sequences (a multiply-add counts 2)."""
    batch_size = validate.integer("batch_size", batch_size, 1)
    total = 0
    for block in model.blocks:
        convs = [block.conv1, block.conv2] + ([block.downsample] if block.downsample is not None else [])
        total += sum(2 * c.out_channels * c.in_channels * c.kernel_size for c in convs)
    total += 2 * model.linear.in_features * model.linear.out_features
    return batch_size * total


