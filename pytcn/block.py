"""The residual block of keras-tcn and locuslab/TCN."""
import numpy as np

from .backends import get_backend
from .layers import CausalConv1D, Layer, ReLU, SpatialDropout1D


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
    branch output, which keras-tcn sums over all blocks when ``use_skip_connections`` is on.

    Parameter names follow locuslab/TCN's TemporalBlock: conv1.*, conv2.*, downsample.*.
    """

    def __init__(self, in_channels, out_channels, kernel_size, dilation, *, dropout_rate=0.0, use_weight_norm=False,
                 kernel_initializer="he_normal", rng=None, dtype=np.float32, backend="cpu"):
        super().__init__()
        # each convolution carries its ReLU (activation="relu"): the same function as a separate ReLU layer,
        # computed by the convolution's own kernel (conv_relu_forward), which saves a pass and an array
        conv = dict(kernel_size=kernel_size, dilation=dilation, activation="relu", use_weight_norm=use_weight_norm,
                    kernel_initializer=kernel_initializer, rng=rng, dtype=dtype, backend=backend)
        self.conv1 = CausalConv1D(in_channels, out_channels, **conv)
        self.dropout1 = SpatialDropout1D(dropout_rate, backend)
        self.conv2 = CausalConv1D(out_channels, out_channels, **conv)
        self.dropout2 = SpatialDropout1D(dropout_rate, backend)
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

    def use_pool(self, pool):
        super().use_pool(pool)
        for layer in (self.conv1, self.dropout1, self.conv2, self.dropout2, self.downsample, self.relu_out):
            if layer is not None:
                layer.use_pool(pool)

    def _collect(self):
        # the block's own params and grads: the convolutions' arrays (the same objects) under prefixed names
        named = self.named_parameters()
        self.params = {name: p for name, p, _ in named}
        self.grads = {name: g for name, _, g in named}

    def named_parameters(self, prefix=""):
        return [entry for name, layer in self._layers.items() for entry in layer.named_parameters(f"{prefix}{name}.")]

    def rebind(self, params, grads, prefix=""):
        for name, layer in self._layers.items():
            layer.rebind(params, grads, f"{prefix}{name}.")
        self._collect()

    def forward(self, x, training=False, rng=None):
        """x: (N, C_in, T) -> (out, branch), both (N, C_out, T)."""
        h = self.dropout1.forward(self.conv1.forward(x), training, rng)  # conv1 includes its ReLU
        branch = self.dropout2.forward(self.conv2.forward(h), training, rng)
        residual = x if self.downsample is None else self.downsample.forward(x)
        out = self.relu_out.forward(branch, residual)  # ReLU(branch + residual), in one pass
        self._saved = True
        return out, branch

    def release_branch(self, branch):
        """Says that the caller is done with ``branch``, the branch output of the last forward. With dropout on, it
        is dropout2's output, which nothing keeps for the backward pass: it goes back to the pool. Without, it is
        conv2's output, which conv2 keeps."""
        if self.dropout2.active:
            self._release(branch)

    def backward(self, dout, dbranch=None):
        """dout, dbranch (the gradient reaching the skip output, or None): (N, C_out, T) -> dx: (N, C_in, T)."""
        self._take_saved("forward pass")
        # forward: out = ReLU(branch + residual)
        dsum = self.relu_out.backward(dout)
        # ... and branch also went out as a skip connection, whose gradient adds here
        dbranch_total = dsum  # the gradient reaching branch: through the sum, plus the skip's when there is one
        if dbranch is not None:
            dbranch = self.backend.array("dbranch", dbranch, 3, dsum.dtype, shape=dsum.shape)
            dbranch_total = self._empty(dsum.shape, dsum.dtype)
            self.backend.add(dbranch_total, dsum, dbranch)
        # back through branch = dropout2(ReLU(conv2(h))) and h = dropout1(ReLU(conv1(x))), one layer at a time
        # (a dropout that was off passes its gradient through: then d2 is dbranch_total and d1 is dh)
        d2 = self.dropout2.backward(dbranch_total)
        dh = self.conv2.backward(d2)
        d1 = self.dropout1.backward(dh)
        dx = self.conv1.backward(d1)
        # forward: residual = x (or downsample(x)), so the residual path adds its gradient to dx
        dresidual = dsum if self.downsample is None else self.downsample.backward(dsum)
        self.backend.add(dx, dx, dresidual)  # dx +=
        # every gradient made here but dx is dead now (dout and dbranch are the caller's)
        self._release(dsum, dbranch_total, d2, dh, d1, dresidual)
        return dx
