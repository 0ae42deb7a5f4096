"""The TCN: a stack of residual blocks with keras-tcn's arguments, and a linear head.

    x: (N, T, C_in)  ->  blocks  ->  features (N, nb_filters, T)  ->  head  ->  y: (N, outputs)      return_sequences=False
                                                                             y: (N, T, outputs)   return_sequences=True

Inputs and outputs are (batch, time, channels), as in keras-tcn; inside, the model works channels-first, the layout
of the kernels, and transposes once on the way in and once on the way out.
"""
import numbers
from collections.abc import Sequence
from contextlib import contextmanager

import numpy as np

from . import _validate
from .backends import get_backend, pack
from .block import ResidualBlock
from .layers import Linear
from .pool import BufferPool


def receptive_field(kernel_size, dilations, nb_stacks=1):
    """The exact number of input steps that can reach one output step: 1 + 2 (K-1) * nb_stacks * sum(dilations).

    Each residual block holds two convolutions of kernel size K and dilation d; each looks (K-1)*d steps further
    back, and the residual and skip paths add no reach of their own. Worked example, K = 6, dilations 1..32
    (sum 63), one stack: R = 1 + 2 * 5 * 63 = 631 steps. The often-quoted approximation 2^(D-1) * K * s
    (D levels of dilation, s stacks) gives 2^5 * 6 * 1 = 192 for the same network: it counts one convolution per
    block and ignores that a kernel of size K spans only K-1 gaps.
    """
    K = _validate.integer("kernel_size", kernel_size, 1)
    stacks = _validate.integer("nb_stacks", nb_stacks, 1)
    return 1 + 2 * (K - 1) * stacks * sum(_check_dilations(dilations))


def _check_dilations(dilations):
    # an ordered sequence only: a set or a dict has a length too, but no order the blocks could follow
    ordered = isinstance(dilations, Sequence) or (isinstance(dilations, np.ndarray) and dilations.ndim == 1)
    if isinstance(dilations, (str, bytes)) or not ordered:
        raise TypeError(f"dilations must be a list of positive integers, got {dilations!r}")
    if len(dilations) == 0:
        raise ValueError(f"dilations must not be empty, got {dilations!r}")
    for d in dilations:
        if isinstance(d, bool) or not isinstance(d, numbers.Integral):
            raise TypeError(f"dilations must be a list of positive integers, got {dilations!r} (with {d!r})")
        if d < 1:
            raise ValueError(f"dilations must all be >= 1, got {dilations!r} (with {d!r})")
    return [int(d) for d in dilations]


class TCN:
    """A temporal convolutional network with a linear head.

    Arguments with keras-tcn's names mean what they mean there:

    nb_filters            channels of every block (an int), or one per dilation level (a list)
    kernel_size           K, taps of every convolution
    nb_stacks             how many times the list of dilations is repeated
    dilations             the dilation of each block in a stack, e.g. (1, 2, 4, 8, 16, 32)
    use_skip_connections  if True, the features are the sum of every block's branch output (keras-tcn);
                          if False, the output of the last block (locuslab/TCN)
    dropout_rate          spatial dropout after each convolution's ReLU, in [0, 1), active with training=True
    return_sequences      False: the head reads the last time step; True: every time step
    activation            'relu' (the only one implemented)
    kernel_initializer    see pytcn.initializers; the head is always initialised glorot_uniform, as keras's Dense
    use_weight_norm       weight-normalise both convolutions of every block

    and besides: ``input_channels`` (C_in), ``outputs`` (the head's width: 1 for a regression, the number of classes
    for a classification), ``dtype`` (float32 or float64), ``seed`` (initial weights and dropout masks) and
    ``backend`` ('cpu' for the Numba kernels, 'numpy' for the reference ones, 'cuda' for the GPU kernels: see
    pytcn.backends; on 'cuda' the parameters live on the GPU, forward returns a device array, and
    ``pytcn.to_numpy`` or ``state_dict`` bring arrays back).

    Its activations and gradients come from a buffer pool (``model.pool``, see pytcn.pool): after the first step of
    a batch shape, a training step allocates only the two arrays it hands back, the prediction and the input
    gradient. Those are the caller's to keep; nothing else of a pass outlives the next forward.

    Parameters are named as PyTorch names those of locuslab/TCN's model (``state_dict``): block b = stack *
    len(dilations) + i is ``tcn.network.{b}``, the head is ``linear``.
    """

    def __init__(self, *, input_channels, outputs=1, nb_filters=64, kernel_size=3, nb_stacks=1,
                 dilations=(1, 2, 4, 8, 16, 32), use_skip_connections=True, dropout_rate=0.0, return_sequences=False,
                 activation="relu", kernel_initializer="he_normal", use_weight_norm=False, dtype=np.float32,
                 seed=None, backend="cpu"):
        self.input_channels = _validate.integer("input_channels", input_channels, 1)
        self.outputs = _validate.integer("outputs", outputs, 1)
        self.kernel_size = _validate.integer("kernel_size", kernel_size, 1)
        self.nb_stacks = _validate.integer("nb_stacks", nb_stacks, 1)
        self.dilations = _check_dilations(dilations)
        self.nb_filters = self._check_nb_filters(nb_filters)
        self.use_skip_connections = _validate.boolean("use_skip_connections", use_skip_connections)
        self.dropout_rate = _validate.real("dropout_rate", dropout_rate, 0.0, 1.0, high_open=True)
        self.return_sequences = _validate.boolean("return_sequences", return_sequences)
        self.activation = _validate.one_of("activation", activation, ("relu",))
        self.kernel_initializer = kernel_initializer
        self.use_weight_norm = _validate.boolean("use_weight_norm", use_weight_norm)
        self.dtype = _validate.as_dtype("dtype", dtype)
        self.backend = get_backend(backend)
        if seed is not None:
            _validate.integer("seed", seed, 0)
        self.seed = seed
        channels = self.nb_filters if isinstance(self.nb_filters, list) else [self.nb_filters] * len(self.dilations)
        if self.use_skip_connections and len(set(channels)) > 1:
            raise ValueError(f"nb_filters must be one width for all blocks when use_skip_connections is on (their "
                             f"outputs are summed), got {nb_filters!r}")

        self.rng = np.random.default_rng(seed)  # initial weights, then the dropout masks of training steps
        self.blocks = []
        c_in = self.input_channels
        for _stack in range(self.nb_stacks):
            for d, c_out in zip(self.dilations, channels):
                self.blocks.append(ResidualBlock(
                    c_in, c_out, self.kernel_size, d, dropout_rate=self.dropout_rate,
                    use_weight_norm=self.use_weight_norm, kernel_initializer=kernel_initializer, rng=self.rng,
                    dtype=self.dtype, backend=self.backend))
                c_in = c_out
        self.linear = Linear(c_in, self.outputs, rng=self.rng, dtype=self.dtype, backend=self.backend)

        named = self._layers_named_parameters()
        # every parameter, and every gradient, is a view of its slice of one flat buffer (pytcn.backends.pack), so
        # that an optimizer updates them all in one pass; the layers take the views as their arrays
        self.params = pack(self.backend, {name: p for name, p, _ in named})  # live: optimizers update them in place
        self.grads = pack(self.backend, {name: g for name, _, g in named})  # written by backward, not accumulated
        for b, block in enumerate(self.blocks):
            block.rebind(self.params, self.grads, f"tcn.network.{b}.")
        self.linear.rebind(self.params, self.grads, "linear.")
        self._named = self._layers_named_parameters()
        self.use_pool(BufferPool(self.backend))
        self._saved = None

    def use_pool(self, pool):
        """Takes every activation and gradient of the model's passes from ``pool`` (a pytcn.pool.BufferPool of the
        model's backend, used by no other model) from the next forward on. The tests give a model a pool that
        poisons what is released, and the benchmarks one that allocates afresh."""
        if not isinstance(pool, BufferPool):
            raise TypeError(f"pool must be a pytcn.pool.BufferPool, got {type(pool).__name__}")
        if pool.backend is not self.backend:
            raise ValueError(f"pool must be a pool of the model's backend {self.backend.name!r}, got one of "
                             f"{pool.backend.name!r}")
        if pool.owner is not None and pool.owner is not self:
            raise ValueError("pool is already the pool of another model: each model needs its own (a model's "
                             "forward gives back every buffer of its pool, the other model's included)")
        pool.owner = self
        self.pool = pool
        self._pool_shape = None  # (N, T) of the pass the pool's buffers were made for

    @contextmanager
    def _pool_lent(self):
        """The layers take their arrays from the model's pool during the model's own passes only. Called on its own
        (``model.blocks[0].forward(h)``, ``gradcheck(model.blocks[0], h)``), a layer allocates afresh, so nothing it
        returns is reused behind its caller's back."""
        layers = [*self.blocks, self.linear]
        for layer in layers:
            layer.use_pool(self.pool)
        try:
            yield self.pool
        finally:
            for layer in layers:
                layer.use_pool(None)

    def _layers_named_parameters(self):
        named = [entry for b, block in enumerate(self.blocks) for entry in block.named_parameters(f"tcn.network.{b}.")]
        return named + self.linear.named_parameters("linear.")

    def _check_nb_filters(self, nb_filters):
        if isinstance(nb_filters, (list, tuple)):
            if len(nb_filters) != len(self.dilations):
                raise ValueError(f"nb_filters must be an int or a list with one entry per dilation "
                                 f"({len(self.dilations)}), got {nb_filters!r}")
            return [_validate.integer("nb_filters", f, 1) for f in nb_filters]
        return _validate.integer("nb_filters", nb_filters, 1)

    # ---------------------------------------------------------------------------------------------------------
    # what the network is

    @property
    def receptive_field(self):
        """The exact receptive field in time steps; see ``pytcn.receptive_field``."""
        return receptive_field(self.kernel_size, self.dilations, self.nb_stacks)

    def count_params(self):
        return int(sum(p.size for p in self.params.values()))

    @property
    def config(self):
        """The constructor's arguments: ``TCN(**model.config)`` builds the same architecture."""
        return dict(input_channels=self.input_channels, outputs=self.outputs, nb_filters=self.nb_filters,
                    kernel_size=self.kernel_size, nb_stacks=self.nb_stacks, dilations=list(self.dilations),
                    use_skip_connections=self.use_skip_connections, dropout_rate=self.dropout_rate,
                    return_sequences=self.return_sequences, activation=self.activation,
                    kernel_initializer=self.kernel_initializer, use_weight_norm=self.use_weight_norm,
                    dtype=self.dtype.name, seed=self.seed, backend=self.backend.name)

    # ---------------------------------------------------------------------------------------------------------
    # passes

    def forward(self, x, training=False, rng=None):
        """x: (N, T, input_channels) -> y: (N, outputs), or (N, T, outputs) with return_sequences.

        Floating input is converted to the model's dtype. ``training=True`` turns dropout on; its masks are drawn
        from ``rng`` (a np.random.Generator), or from the model's own generator when rng is None.
        """
        pool = self.pool
        training = _validate.boolean("training", training)
        if rng is not None:
            _validate.generator("rng", rng)
        if training and rng is None:
            rng = self.rng
        x = pool.array("x", x, 3, self.dtype, shape=(None, None, self.input_channels))  # on 'cuda': to the GPU, once
        # a new pass: what the previous one saved for its backward is dead, and its buffers are free again
        self._saved = None
        pool.release_all(keep=x)  # (on 'cuda', x may be a buffer too: the one the input was just copied into)
        N, T, _ = x.shape
        if (N, T) != self._pool_shape:
            pool.clear()  # buffers made for another batch shape: drop them rather than keep both
            self._pool_shape = (N, T)
        with self._pool_lent():
            y, features_shape = self._forward(x, training, rng)
        pool.detach(y)  # the caller's to keep
        if self.return_sequences:
            y = y.reshape(N, T, self.outputs)
        self._saved = (tuple(x.shape), features_shape, tuple(y.shape))
        return y

    def _forward(self, x, training, rng):
        be, pool = self.backend, self.pool
        N, T, _ = x.shape
        h = pool.empty((N, self.input_channels, T), self.dtype)
        be.transpose(h, x)  # N, C_in, T: the kernels' layout
        features = None  # N, F, T: with skip connections, the sum of every block's branch output
        if self.use_skip_connections:
            features = pool.zeros((N, self.blocks[-1].conv2.out_channels, T), self.dtype)
        for block in self.blocks:
            h, branch = block.forward(h, training, rng)
            if self.use_skip_connections:
                be.add(features, features, branch)  # features += branch, in place
            block.release_branch(branch)  # read by now
        if not self.use_skip_connections:
            features = h
        F = features.shape[1]
        if self.return_sequences:
            rows = pool.empty((N, T, F), self.dtype)
            be.transpose(rows, features)
            y = self.linear.forward(rows.reshape(N * T, F))  # N*T, F -> N*T, outputs
        else:
            last = pool.empty((N, F), self.dtype)
            be.last_step(last, features)  # the head reads the last step only
            y = self.linear.forward(last)  # N, outputs
        if self.use_skip_connections:
            pool.release(features)  # the sum, read by the head alone (the backward pass needs only its shape)
        return y, tuple(features.shape)

    def backward(self, dy):
        """dy: the gradient of the loss with respect to forward's output (its shape) -> dx: (N, T, input_channels).

        Fills ``grads`` (overwriting what the previous backward wrote).
        """
        if self._saved is None:
            raise RuntimeError("TCN.backward called before forward")
        x_shape, features_shape, y_shape = self._saved
        pool = self.pool
        dy = pool.array("dy", dy, len(y_shape), self.dtype, shape=y_shape)
        with self._pool_lent():
            dx = self._backward(dy, x_shape, features_shape)
        pool.detach(dx)  # the caller's to keep
        return dx

    def _backward(self, dy, x_shape, features_shape):
        be, pool = self.backend, self.pool
        N, F, T = features_shape
        dfeatures = pool.empty(features_shape, self.dtype)
        if self.return_sequences:
            drows = self.linear.backward(dy.reshape(N * T, self.outputs))  # N*T, F
            be.transpose(dfeatures, drows.reshape(N, T, F))  # forward: rows = features transposed
        else:
            drows = self.linear.backward(dy)  # N, F
            be.scatter_last_step(dfeatures, drows)  # forward read only the last step
        pool.release(dy, drows)  # each gradient goes back to the pool once the layer below has read it
        if self.use_skip_connections:
            # forward: features = sum of every block's branch; the last block's out goes nowhere
            dh = pool.zeros(features_shape, self.dtype)
            for block in reversed(self.blocks):
                dh_below = block.backward(dh, dbranch=dfeatures)
                pool.release(dh)
                dh = dh_below
            pool.release(dfeatures)
        else:
            dh = dfeatures
            for block in reversed(self.blocks):
                dh_below = block.backward(dh)
                pool.release(dh)
                dh = dh_below
        dx = pool.empty(x_shape, self.dtype)
        be.transpose(dx, dh)  # back to (N, T, C_in)
        pool.release(dh)
        return dx

    __call__ = forward

    # ---------------------------------------------------------------------------------------------------------
    # parameters, PyTorch-style

    def named_parameters(self):
        """(name, param, grad) for every trainable array, in state_dict order."""
        return list(self._named)

    def state_dict(self):
        """A NumPy copy of every parameter, named and shaped as in PyTorch's locuslab/TCN model (on any backend)."""
        return {name: self.backend.to_host(p) for name, p in self.params.items()}

    def load_state_dict(self, state_dict):
        """Copies ``state_dict``'s arrays into the parameters, after checking every name, shape and dtype."""
        _validate.matching_arrays("state_dict", state_dict, self.params)
        for name, p in self.params.items():
            self.backend.load(p, state_dict[name])  # in place: an optimizer holding these arrays keeps working

    def __repr__(self):
        return (f"TCN({', '.join(f'{k}={v!r}' for k, v in self.config.items())}) "
                f"# {self.count_params()} parameters, receptive field {self.receptive_field}")
