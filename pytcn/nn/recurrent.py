"""The recurrent baselines: a GRU and an LSTM with the TCN's heads, written as the TCN is.

    x: (N, T, C_in) -> layer 0 -> ... -> layer L-1 -> h (N, T, H) -> head -> y: (N, outputs)     return_sequences=False
                                                                            y: (N, T, outputs)  return_sequences=True

The head is the TCN's: a linear layer reading the last layer's state at the last step of each sequence (its own
last step, given ``lengths``), or at every step. The models follow the TCN's protocol (``forward``/``backward``,
``params``/``grads`` packed in one flat buffer, ``state_dict``, ``save``, ``stream``/``step``), so the training loop,
Adam, checkpoints, an exact resume and `pytcn train --model gru|lstm` take them as they take a TCN.

Each layer is a pair of kernels (kernels/gru.py, kernels/lstm.py: the equations are in their docstrings), forward
through the sequence and backward through time, on the backend 'cpu' (Numba) or 'numpy' (the references). They
have no CUDA kernels: backend='cuda' is refused, with that said.

Parameters are named and shaped as PyTorch's: layer l of ``torch.nn.GRU``/``torch.nn.LSTM`` has ``weight_ih_l{l}``
(G, C_in), ``weight_hh_l{l}`` (G, H), ``bias_ih_l{l}`` and ``bias_hh_l{l}`` (G,), G = 3H (gates r, z, n) or 4H
(gates i, f, g, o), here under ``rnn.``; the head is ``linear.``. So the state_dict of a PyTorch module holding
``self.rnn = nn.GRU(C_in, H, num_layers, batch_first=True)`` and ``self.linear = nn.Linear(H, outputs)`` loads here,
and ours loads there. Initialisation is PyTorch's too: every weight and bias uniform in +-1/sqrt(H); the head's
weight glorot_uniform as the TCN's.
"""
import math

import numpy as np

from ..runtime import validate
from ..runtime.archive import save_checkpoint
from ..runtime.backends import get_backend, pack, packed_zeros, recurrent_kernels
from ..runtime.memory import afresh, empty, zeros
from ..runtime.passes import Passes
from .architecture import MAX_SIZE
from .layers import Layer, Linear, _gradient_array
from .streaming import _sample_indices

__all__ = ["GRU", "LSTM"]


class RecurrentLayer(Layer):
    """One GRU or LSTM layer over whole sequences: x (N, T, C_in) -> h (N, T, H), batch first and channels last.

    ``forward(x, h0=None, c0=None) -> (h, cache)``, the state (and, for an LSTM, the cell) before the first step
    zeros unless given; ``backward(dh, cache) -> (dx, grads)``, grads under the names weight_ih, weight_hh,
    bias_ih, bias_hh. The last step's state is h[:, -1]; an LSTM's last cell is in the cache (``last_cell``)."""

    def __init__(self, cell, input_size, hidden_size, *, rng=None, dtype=np.float32, backend="cpu"):
        super().__init__()
        self.cell = validate.one_of("cell", cell, ("gru", "lstm"))
        self.input_size = validate.integer("input_size", input_size, 1, MAX_SIZE)
        self.hidden_size = validate.integer("hidden_size", hidden_size, 1, MAX_SIZE)
        self.dtype = validate.as_dtype("dtype", dtype)
        self.backend = get_backend(backend)
        self.kernels = recurrent_kernels(self.backend, self.cell)
        rng = np.random.default_rng() if rng is None else rng
        H, G = self.hidden_size, self.gates * self.hidden_size
        bound = 1.0 / math.sqrt(H)  # torch.nn.GRU's and LSTM's reset_parameters
        for name, shape in (("weight_ih", (G, self.input_size)), ("weight_hh", (G, H)), ("bias_ih", (G,)),
                            ("bias_hh", (G,))):
            self.params[name] = rng.uniform(-bound, bound, shape).astype(self.dtype)

    @property
    def gates(self):
        """Rows of the weights per hidden unit: 3 (r, z, n) or 4 (i, f, g, o)."""
        return 3 if self.cell == "gru" else 4

    def forward(self, x, h0=None, c0=None):
        """x: (N, T, C_in) -> h: (N, T, H), cache."""
        x = self.backend.input("x", x, 3, self.dtype, shape=(None, None, self.input_size))
        N, T, _ = x.shape
        H, p = self.hidden_size, self.params
        h0 = zeros(self.backend, (N, H), self.dtype) if h0 is None else self._start("h0", h0, N)
        h = empty(self.backend, (N, T, H), self.dtype)
        # a GRU's r, z, n and W_hn h + b_hn; an LSTM's i, f, g, o
        gates = empty(self.backend, (N, T, 4 * H), self.dtype)
        if self.cell == "gru":
            self.kernels["forward"](h, gates, x, p["weight_ih"], p["weight_hh"], p["bias_ih"], p["bias_hh"], h0)
            return h, (x, h, None, gates, h0, None)
        c0 = zeros(self.backend, (N, H), self.dtype) if c0 is None else self._start("c0", c0, N)
        c = empty(self.backend, (N, T, H), self.dtype)
        self.kernels["forward"](h, c, gates, x, p["weight_ih"], p["weight_hh"], p["bias_ih"], p["bias_hh"], h0, c0)
        return h, (x, h, c, gates, h0, c0)

    def _start(self, name, a, N):
        """A state (or cell) before the first step, checked: (N, H) of the layer's dtype, never converted (a float32
        state for a float64 layer is refused, not widened behind the caller's back)."""
        if isinstance(a, np.ndarray) and a.dtype != self.dtype and a.dtype in validate.FLOAT_DTYPES:
            raise TypeError(f"{name} is {a.dtype}; the layer is {self.dtype}: convert it with {name}.astype(np."
                            f"{self.dtype})")
        return self.backend.input(name, a, 2, self.dtype, shape=(N, self.hidden_size))

    @staticmethod
    def last_cell(cache):
        """An LSTM's cell after the last step, (N, H), from the cache of its forward; None for a GRU."""
        c = cache[2]
        return None if c is None else c[:, -1]

    def backward(self, dh, cache, out=None):
        """dh: (N, T, H) -> dx: (N, T, C_in), {name: gradient}. ``out``: arrays to write the gradients into (as for
        Conv1D.backward)."""
        x, h, c, gates, h0, c0 = cache
        dh = self.backend.input("dh", dh, 3, self.dtype, shape=h.shape)
        p = self.params
        dx = empty(self.backend, x.shape, self.dtype)
        grads = {name: _gradient_array(self.backend, out, name, p[name].shape, self.dtype) for name in p}
        dh0 = empty(self.backend, h0.shape, self.dtype)  # the gradient of the state before the first step
        g = (grads["weight_ih"], grads["weight_hh"], grads["bias_ih"], grads["bias_hh"])
        if self.cell == "gru":
            self.kernels["backward"](dx, *g, dh0, dh, x, p["weight_ih"], p["weight_hh"], h, gates, h0)
        else:
            dc0 = empty(self.backend, h0.shape, self.dtype)
            self.kernels["backward"](dx, *g, dh0, dc0, dh, x, p["weight_ih"], p["weight_hh"], h, c, gates, h0, c0)
        return dx, grads


class _Recurrent:
    """What the GRU and the LSTM models share: all but the cell (see the module's docstring)."""

    cell = None  # "gru" or "lstm"

    def __init__(self, *, input_channels, outputs=1, hidden_size=64, num_layers=1, return_sequences=False,
                 dtype=np.float32, seed=None, backend="cpu", architecture=None):
        if architecture is not None and architecture != self.cell:  # config's own key: cls(**model.config) works
            raise ValueError(f"architecture must be {self.cell!r} for {type(self).__name__} (or left out), got "
                             f"{architecture!r}")
        self.input_channels = validate.integer("input_channels", input_channels, 1, MAX_SIZE)
        self.outputs = validate.integer("outputs", outputs, 1, MAX_SIZE)
        self.hidden_size = validate.integer("hidden_size", hidden_size, 1, MAX_SIZE)
        self.num_layers = validate.integer("num_layers", num_layers, 1, 100)
        self.return_sequences = validate.boolean("return_sequences", return_sequences)
        self.dtype = validate.as_dtype("dtype", dtype)
        self.backend = get_backend(backend)
        recurrent_kernels(self.backend, self.cell)  # refuses 'cuda' at once, saying why
        self.seed = None if seed is None else validate.integer("seed", seed, 0)
        self.rng = np.random.default_rng(seed)  # the initial weights (no dropout: nothing else is random)
        self.layers = [RecurrentLayer(self.cell, self.input_channels if k == 0 else self.hidden_size,
                                      self.hidden_size, rng=self.rng, dtype=self.dtype, backend=self.backend)
                       for k in range(self.num_layers)]
        self._initialise()
        self.linear = Linear(self.hidden_size, self.outputs, rng=self.rng, dtype=self.dtype, backend=self.backend)
        # one flat buffer for every parameter, and one for the gradients, as the TCN's (pytcn/nn/model.py)
        named = [(f"rnn.{name}_l{k}", p) for k, layer in enumerate(self.layers) for name, p in layer.params.items()]
        self.params = pack(self.backend, dict(named + self.linear.named_parameters("linear.")))
        self.grads = packed_zeros(self.backend, self.params)
        for k, layer in enumerate(self.layers):
            layer.params = {name: self.params[f"rnn.{name}_l{k}"] for name in layer.params}
        self.linear.rebind(self.params, "linear.")
        self.buffers = {}
        self.passes = Passes(self.backend, self.dtype)

    def _initialise(self):
        """Changes to PyTorch's initialisation a cell makes (the LSTM's forget bias)."""

    def _layer_names(self, k):
        return {name: f"rnn.{name}_l{k}" for name in self.layers[k].params}

    # ---------------------------------------------------------------------------------------------------------
    # what the network is

    @property
    def receptive_field(self):
        """None: a recurrent network's output at step t may depend on every step before it."""
        return None

    def count_params(self):
        return int(sum(p.size for p in self.params.values()))

    @property
    def config(self):
        """The constructor's arguments, and ``architecture``: ``pytcn.load_model`` builds the same model."""
        return dict(architecture=self.cell, input_channels=self.input_channels, outputs=self.outputs,
                    hidden_size=self.hidden_size, num_layers=self.num_layers, return_sequences=self.return_sequences,
                    dtype=self.dtype.name, seed=self.seed, backend=self.backend.name)

    def summary(self, print_fn=print):
        """One line per layer and the head, and the total (``print_fn`` receives each line)."""
        name = type(self).__name__
        reads = "at every step" if self.return_sequences else "at the last step"
        print_fn(f"{name}: {self.input_channels} input channel{'s' if self.input_channels > 1 else ''} -> "
                 f"{self.outputs} output{'s' if self.outputs > 1 else ''}, {self.num_layers} layer"
                 f"{'s' if self.num_layers > 1 else ''} of {self.hidden_size} units; the head reads the state {reads}")
        for k, layer in enumerate(self.layers):
            n = sum(int(p.size) for p in layer.params.values())
            print_fn(f"layer {k}: (N, T, {layer.input_size}) -> (N, T, {self.hidden_size}), {n:,} parameters")
        head = sum(int(p.size) for p in self.linear.params.values())
        print_fn(f"head: {self.hidden_size} -> {self.outputs}, {head:,} parameters")
        print_fn(f"total: {self.count_params():,} parameters")

    # ---------------------------------------------------------------------------------------------------------
    # passes

    def forward(self, x, training=False, rng=None, lengths=None):
        """x: (N, T, input_channels) -> y: (N, outputs), or (N, T, outputs) with return_sequences.

        As ``TCN.forward``: ``lengths`` (N integers in [1, T]) makes the head read step lengths[n] - 1 of sequence n,
        whose state the padding after it never reaches. ``training`` and ``rng`` are accepted for the training loop's
        sake and change nothing: these models have no dropout."""
        validate.boolean("training", training)
        if rng is not None:
            validate.generator("rng", rng)
        x = self.passes.checked("x", x, 3, (None, None, self.input_channels))
        N, T, _ = x.shape
        if lengths is not None:
            if self.return_sequences:
                raise ValueError("lengths is for a head that reads one step (return_sequences=False); with "
                                 "return_sequences every step is output: mask the padding out of the loss instead "
                                 "(pytcn.losses.length_mask(lengths, T))")
            lengths = validate.lengths("lengths", lengths, N, T)
        be = self.backend
        with self.passes.forward(x) as h:
            caches = []
            for layer in self.layers:
                h, cache = layer.forward(h)
                caches.append(cache)
            if self.return_sequences:
                steps = None
                rows = h.reshape(N * T, self.hidden_size)
            else:
                steps = self._steps(N, T, lengths)
                rows = empty(be, (N, self.hidden_size), self.dtype)
                be.take_steps(rows, _channels_first(be, h, self.dtype), steps)  # the state at step steps[n]
            with afresh():  # the prediction is the caller's to keep
                y, head_cache = self.linear.forward(rows)
            y = y.reshape(N, T, self.outputs) if self.return_sequences else y
            self.passes.keep((caches, head_cache, steps, h.shape), y.shape)
        return y

    def backward(self, dy):
        """dy: the gradient of the loss with respect to forward's output -> dx: (N, T, input_channels). Fills
        ``grads``."""
        be = self.backend
        with self.passes.backward(dy) as (dy, (caches, head_cache, steps, h_shape)):
            N, T, H = h_shape
            drows, _ = self.linear.backward(dy.reshape(-1, self.outputs), head_cache,
                                            out={"weight": self.grads["linear.weight"],
                                                 "bias": self.grads["linear.bias"]})
            if self.return_sequences:
                dh = drows.reshape(N, T, H)
            else:  # forward read one step of each sequence: its gradient goes there, zeros elsewhere
                dh_first = empty(be, (N, H, T), self.dtype)
                be.scatter_steps(dh_first, drows, steps)
                dh = empty(be, h_shape, self.dtype)
                be.transpose(dh, dh_first)
            for k in reversed(range(self.num_layers)):
                out = {name: self.grads[key] for name, key in self._layer_names(k).items()}
                dh, _ = self.layers[k].backward(dh, caches[k], out=out)
            dx = be.empty((N, T, self.input_channels), self.dtype)  # the caller's: not from an arena
            be.copy(dx, dh)
        return dx

    __call__ = forward

    def _steps(self, N, T, lengths):
        """The step the head reads of each sequence, (N,) int64 on the backend."""
        if lengths is not None:
            return self.backend.to_device(lengths - 1)
        return self.passes.device_constant("head steps", lambda: np.full(N, T - 1, np.int64))

    # ---------------------------------------------------------------------------------------------------------
    # streaming: a recurrent network's state is its last step's (and cell)

    def stream(self, batch_size=None, state=None):
        """A stream state for ``batch_size`` sequences at their start (zeros), or a copy of ``state``: a dict with
        'h' (and, for an LSTM, 'c'), each (num_layers, N, H)."""
        if batch_size is not None:
            batch_size = self._checked_batch_size(batch_size)
        if state is not None:
            if not isinstance(state, dict) or set(state) != set(self._state_keys()):
                raise TypeError(f"state must be the dict that model.stream() returned, with keys "
                                f"{self._state_keys()}; got {type(state).__name__}")
            arrays = {key: validate.array(f"state[{key!r}]", state[key]) for key in self._state_keys()}
            first = arrays["h"]
            N = first.shape[1] if first.ndim == 3 else None
            if batch_size is not None and N is not None and batch_size != N:
                raise ValueError(f"batch_size is {batch_size}, but the state given holds {N} sequences")
            shape = (self.num_layers, N, self.hidden_size)
            return {key: validate.float_array(f"state[{key!r}]", np.array(a), 3, self.dtype, shape)
                    for key, a in arrays.items()}
        N = 1 if batch_size is None else batch_size
        return {key: np.zeros((self.num_layers, N, self.hidden_size), self.dtype) for key in self._state_keys()}

    def _checked_batch_size(self, batch_size):
        """``batch_size`` as an int >= 1 small enough that the state's arrays can be addressed (their bytes below
        2**63), rather than NumPy's "array is too big" that names no argument."""
        N = validate.integer("batch_size", batch_size, 1)
        row = self.num_layers * self.hidden_size * self.dtype.itemsize  # bytes of the state per sequence
        if N > (2 ** 63 - 1) // row:
            raise ValueError(f"batch_size must be at most {(2 ** 63 - 1) // row} for this model (a larger state "
                             f"could not be addressed), got {N}")
        return N

    def _check_state(self, state):
        """``state`` is what ``stream`` returned: a dict of (num_layers, N, H) arrays of the model's dtype."""
        if not isinstance(state, dict) or set(state) != set(self._state_keys()):
            got = type(state).__name__ if not isinstance(state, dict) else f"a dict with keys {sorted(state)}"
            raise TypeError(f"state must be the dict that model.stream() returned, with keys {self._state_keys()}; "
                            f"got {got}")
        for key in self._state_keys():
            a = state[key]
            if not isinstance(a, np.ndarray) or a.ndim != 3 or a.shape[0] != self.num_layers or \
                    a.shape[2] != self.hidden_size or a.dtype != self.dtype or a.shape[1] != state["h"].shape[1]:
                raise ValueError(f"state[{key!r}] must be a ({self.num_layers}, N, {self.hidden_size}) array of "
                                 f"{self.dtype} (model.stream()), got {getattr(a, 'shape', type(a).__name__)}")
            if not (a.flags.writeable and a.flags.c_contiguous):  # checked for every key before any is written
                what = "read-only" if not a.flags.writeable else f"not C-contiguous (strides {a.strides})"
                raise ValueError(f"state[{key!r}] is {what}, but the stream writes into it, in place: "
                                 f"model.stream(state=state) makes a writeable, contiguous copy")

    def _state_keys(self):
        return ("h",) if self.cell == "gru" else ("h", "c")

    def step(self, x, state):
        """x: (N, input_channels), the next step's inputs, or a chunk (N, T, input_channels) -> (y, state): what
        ``forward`` of the whole sequence so far gives at those steps, and the state, advanced in place."""
        self._check_state(state)
        x = validate.array("x", x)
        if x.ndim not in (2, 3):
            raise ValueError(f"x must be one step (N, {self.input_channels}) or a chunk (N, T, "
                             f"{self.input_channels}), got shape {x.shape}")
        chunk = x.ndim == 3
        N = state["h"].shape[1]
        x = validate.float_array("x", x if chunk else x[:, None] if x.ndim == 2 else x, 3, self.dtype,
                                 (N, None, self.input_channels))
        h = x
        for k, layer in enumerate(self.layers):
            c0 = state["c"][k] if "c" in state else None
            h, cache = layer.forward(h, h0=state["h"][k].copy(), c0=None if c0 is None else c0.copy())
            state["h"][k] = h[:, -1]
            if c0 is not None:
                state["c"][k] = layer.last_cell(cache)
        y, _ = self.linear.forward(h.reshape(-1, self.hidden_size))
        y = y.reshape(N, -1, self.outputs)
        return (y if chunk else y[:, 0]), state

    def reset_stream(self, state, samples=None):
        """Starts the sequences ``samples`` of ``state`` (all by default) afresh, in place."""
        self._check_state(state)
        index = slice(None) if samples is None else _sample_indices(samples, state["h"].shape[1])
        for key in self._state_keys():
            state[key][:, index] = 0
        return state

    # ---------------------------------------------------------------------------------------------------------
    # parameters, PyTorch-style

    def named_parameters(self):
        """(name, param, grad) for every trainable array, in state_dict order."""
        return [(name, p, self.grads[name]) for name, p in self.params.items()]

    def state_dict(self):
        """A NumPy copy of every parameter, named and shaped as PyTorch's (see the module's docstring)."""
        return {name: self.backend.to_host(p) for name, p in self.params.items()}

    def load_state_dict(self, state_dict):
        """Copies ``state_dict``'s arrays into the parameters, after checking every name, shape and dtype."""
        validate.matching_arrays("state_dict", state_dict, self.params)
        for name, p in self.params.items():
            self.backend.load(p, state_dict[name])

    def save(self, path):
        """Writes the architecture and the parameters to ``path`` (written atomically); ``pytcn.load_model(path)``
        rebuilds the model."""
        save_checkpoint(path, self.state_dict(), {"model": self.config})

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.config.items() if k != "architecture")
        return f"{type(self).__name__}({args}) # {self.count_params()} parameters"


def _channels_first(backend, h, dtype):
    """h (N, T, H) as (N, H, T), the layout the head's step-reading op takes."""
    N, T, H = h.shape
    out = empty(backend, (N, H, T), dtype)
    backend.transpose(out, h)
    return out


class GRU(_Recurrent):
    """A GRU network with a linear head (see the module's docstring): ``GRU(input_channels=1, outputs=10,
    hidden_size=150)``. Arguments: input_channels (C_in), outputs (the head's width), hidden_size (H), num_layers
    (stacked layers, each reading the one below's states), return_sequences, dtype, seed (the initial weights) and
    backend ('cpu' or 'numpy')."""

    cell = "gru"


class LSTM(_Recurrent):
    """An LSTM network with a linear head (see the module's docstring): the GRU's arguments, and ``forget_bias``:
    None keeps PyTorch's initial biases; a number sets the forget gate's bias to it (bias_ih's rows H..2H; bias_hh's
    to zero), the "initial forget-gate bias" the TCN paper tuned for its LSTMs (Bai et al. 2018, section 5)."""

    cell = "lstm"

    def __init__(self, *, forget_bias=None, **kwargs):
        self.forget_bias = None if forget_bias is None else validate.real("forget_bias", forget_bias)
        super().__init__(**kwargs)

    def _initialise(self):
        if self.forget_bias is None:
            return
        H = self.hidden_size
        for layer in self.layers:
            layer.params["bias_ih"][H:2 * H] = self.forget_bias
            layer.params["bias_hh"][H:2 * H] = 0

    @property
    def config(self):
        return super().config | dict(forget_bias=self.forget_bias)
