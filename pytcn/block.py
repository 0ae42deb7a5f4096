"""The residual block of keras-tcn and locuslab/TCN."""
import numpy as np

from . import _validate
from .backends import get_backend
from .layers import CausalConv1D, Dropout, Layer, ReLU, SpatialDropout1D
from .memory import empty


class ResidualBlock(Layer):
    """Two causal dilated convolutions with ReLU and dropout, added to a residual path.

        x ─────────────────────────────────────────────┐
        │                                              │ residual: x itself, or a 1x1 convolution
        ▼                                              │ ("downsample") when C_in != C_out
        conv1 (K, d) ─ ReLU ─ dropout                  │
        │                                              │
        ▼                                              ▼
        conv2 (K, d) ─ ReLU ─ dropout ─── branch ───► (+) ─ ReLU ─► out
                                            │
                                            └──────────────────────► skip (the branch, before the residual add)

    out = ReLU(branch(x) + residual(x)). ``forward`` returns both ``out`` (the input of the next block) and the
    branch output, which keras-tcn sums over all blocks when ``use_skip_connections`` is on:

        (out, branch), cache = block.forward(x, training, rng)
        dx, grads = block.backward(dout, cache, dbranch)      # dbranch: the gradient reaching the skip output

    Parameter names follow locuslab/TCN's TemporalBlock: conv1.*, conv2.*, downsample.*.
    """

    def __init__(self, in_channels, out_channels, kernel_size, dilation, *, dropout_rate=0.0, dropout_type="spatial",
                 use_weight_norm=False, kernel_initializer="he_normal", rng=None, dtype=np.float32, backend="cpu",
                 padding="causal"):
        super().__init__()
        # each convolution carries its ReLU (activation="relu"): the same function as a separate ReLU layer,
        # computed by the convolution's own kernel (conv_relu_forward), which saves a pass and an array
        conv = dict(kernel_size=kernel_size, dilation=dilation, activation="relu", use_weight_norm=use_weight_norm,
                    kernel_initializer=kernel_initializer, rng=rng, dtype=dtype, backend=backend, padding=padding)
        dropout = {"spatial": SpatialDropout1D, "elementwise": Dropout}[
            _validate.one_of("dropout_type", dropout_type, ("spatial", "elementwise"))]
        self.conv1 = CausalConv1D(in_channels, out_channels, **conv)
        self.dropout1 = dropout(dropout_rate, backend)
        self.conv2 = CausalConv1D(out_channels, out_channels, **conv)
        self.dropout2 = dropout(dropout_rate, backend)
        # a 1x1 convolution (no weight normalisation, as in locuslab/TCN) only where the channel count changes
        self.downsample = None
        if in_channels != out_channels:
            self.downsample = CausalConv1D(in_channels, out_channels, 1, 1, kernel_initializer=kernel_initializer,
                                           rng=rng, dtype=dtype, backend=backend)
        self.relu_out = ReLU(backend)
        self.backend = get_backend(backend)
        self._layers = {"conv1": self.conv1, "conv2": self.conv2}
        if self.downsample is not None:
            self._layers["downsample"] = self.downsample
        self._collect()

    def _collect(self):
        # the block's own params: the convolutions' arrays (the same objects) under prefixed names
        self.params = dict(self.named_parameters())

    def named_parameters(self, prefix=""):
        return [entry for name, layer in self._layers.items() for entry in layer.named_parameters(f"{prefix}{name}.")]

    def rebind(self, params, prefix=""):
        for name, layer in self._layers.items():
            layer.rebind(params, f"{prefix}{name}.")
        self._collect()

    def forward(self, x, training=False, rng=None):
        """x: (N, C_in, T) -> (out, branch), both (N, C_out, T); cache."""
        h1, c1 = self.conv1.forward(x)  # conv1 includes its ReLU
        h1, d1 = self.dropout1.forward(h1, training, rng)
        h2, c2 = self.conv2.forward(h1)
        branch, d2 = self.dropout2.forward(h2, training, rng)
        residual, cr = (x, None) if self.downsample is None else self.downsample.forward(x)
        out, co = self.relu_out.forward(branch, residual)  # ReLU(branch + residual), in one pass
        return (out, branch), (c1, d1, c2, d2, cr, co)

    def step(self, x, histories, t):
        """One step of the forward pass at inference, for streaming: x: (N, C_in) at step t -> (out, branch), both
        (N, C_out), what ``forward`` gives at step t. ``histories``: {"conv1": (N, L, C_in), "conv2": (N, L, C_out)},
        the ring buffers of the two convolutions (see CausalConv1D.step), updated in place. Dropout is the identity."""
        h1 = self.conv1.step(x, histories.get("conv1"), t)
        branch = self.conv2.step(h1, histories.get("conv2"), t)
        residual = x if self.downsample is None else self.downsample.step(x, None, t)  # K = 1: no history
        out = empty(self.backend, branch.shape, branch.dtype)
        self.backend.add_relu_forward(out, branch, residual)
        return out, branch

    def backward(self, dout, cache, dbranch=None):
        """dout, dbranch (the gradient reaching the skip output, or None): (N, C_out, T) -> dx: (N, C_in, T), and
        {name: gradient} of every parameter."""
        c1, d1, c2, d2, cr, co = cache
        # forward: out = ReLU(branch + residual)
        dsum, _ = self.relu_out.backward(dout, co)
        # ... and branch also went out as a skip connection, whose gradient adds here
        dbranch_total = dsum
        if dbranch is not None:
            dbranch = self.backend.array("dbranch", dbranch, 3, dsum.dtype, shape=dsum.shape)
            dbranch_total = empty(self.backend, dsum.shape, dsum.dtype)
            self.backend.add(dbranch_total, dsum, dbranch)
        # back through branch = dropout2(ReLU(conv2(h1))) and h1 = dropout1(ReLU(conv1(x))), one layer at a time
        dh2, _ = self.dropout2.backward(dbranch_total, d2)
        dh1, grads2 = self.conv2.backward(dh2, c2)
        dh1, _ = self.dropout1.backward(dh1, d1)
        dx, grads1 = self.conv1.backward(dh1, c1)
        grads = {f"conv1.{name}": g for name, g in grads1.items()} | {f"conv2.{name}": g for name, g in grads2.items()}
        # forward: residual = x (or downsample(x)), so the residual path adds its gradient to dx
        if self.downsample is None:
            self.backend.add(dx, dx, dsum)  # dx +=
        else:
            dresidual, grads_r = self.downsample.backward(dsum, cr)
            self.backend.add(dx, dx, dresidual)
            grads |= {f"downsample.{name}": g for name, g in grads_r.items()}
        return dx, grads
