"""The residual block of keras-tcn and locuslab/TCN."""
import numpy as np

from ..runtime import validate
from ..runtime.backends import get_backend
from ..runtime.memory import empty
from .architecture import check_normalisation
from .layers import BatchNorm1d, Conv1D, Dropout, Layer, LayerNorm, ReLU, SpatialDropout1D, _under


class ResidualBlock(Layer):
    """Two causal dilated convolutions with ReLU and dropout, added to a residual path.

        x ─────────────────────────────────────────────────────┐
        │                                                      │ residual: x itself, or a 1x1 convolution
        ▼                                                      │ ("downsample") when C_in != C_out
        conv1 (K, d) ─ [norm1] ─ ReLU ─ dropout                │
        │                                                      │
        ▼                                                      ▼
        conv2 (K, d) ─ [norm2] ─ ReLU ─ dropout ─── branch ──► (+) ─ ReLU ─► out
                                                    │
                                                    └────────────────────────► skip (the branch, before the add)

    out = ReLU(branch(x) + residual(x)). ``forward`` returns both ``out`` (the input of the next block) and the
    branch output, which keras-tcn sums over all blocks when ``use_skip_connections`` is on:

        (out, branch), cache = block.forward(x, training, rng)
        dx, grads = block.backward(dout, cache, dbranch)      # dbranch: the gradient reaching the skip output

    The normalisation layers [norm1], [norm2] (layer or batch norm, ``use_layer_norm``/``use_batch_norm``) sit between
    each convolution and its ReLU, where keras-tcn and pytorch-tcn put them. Without them, each convolution carries
    its ReLU in its own kernel (conv_relu_forward): the same function as a separate ReLU layer, one pass fewer.

    Parameter names follow locuslab/TCN's TemporalBlock: conv1.*, conv2.*, downsample.*; the normalisations are
    norm1.*, norm2.*, as pytorch-tcn names them.
    """

    def __init__(self, in_channels, out_channels, kernel_size, dilation, *, dropout_rate=0.0, dropout_type="spatial",
                 use_weight_norm=False, kernel_initializer="he_normal", rng=None, dtype=np.float32, backend="cpu",
                 padding="causal", use_layer_norm=False, use_batch_norm=False):
        super().__init__()
        use_weight_norm, use_layer_norm, use_batch_norm = check_normalisation(use_weight_norm, use_layer_norm,
                                                                              use_batch_norm)
        norm = LayerNorm if use_layer_norm else BatchNorm1d if use_batch_norm else None
        conv = dict(kernel_size=kernel_size, dilation=dilation, activation=None if norm else "relu",
                    use_weight_norm=use_weight_norm, kernel_initializer=kernel_initializer, rng=rng, dtype=dtype,
                    backend=backend, padding=padding)
        dropout = {"spatial": SpatialDropout1D, "elementwise": Dropout}[
            validate.one_of("dropout_type", dropout_type, ("spatial", "elementwise"))]
        self.conv1 = Conv1D(in_channels, out_channels, **conv)
        self.norm1 = norm(out_channels, dtype=dtype, backend=backend) if norm else None
        self.dropout1 = dropout(dropout_rate, backend)
        self.conv2 = Conv1D(out_channels, out_channels, **conv)
        self.norm2 = norm(out_channels, dtype=dtype, backend=backend) if norm else None
        self.dropout2 = dropout(dropout_rate, backend)
        self.relu = ReLU(backend)  # after a normalisation (without one, each convolution has its ReLU)
        # a 1x1 convolution (no weight normalisation, as in locuslab/TCN) only where the channel count changes
        self.downsample = None
        if in_channels != out_channels:
            self.downsample = Conv1D(in_channels, out_channels, 1, 1, kernel_initializer=kernel_initializer,
                                           rng=rng, dtype=dtype, backend=backend)
        self.relu_out = ReLU(backend)
        self.backend = get_backend(backend)
        self._layers = {"conv1": self.conv1, "conv2": self.conv2}
        if norm:
            self._layers |= {"norm1": self.norm1, "norm2": self.norm2}
        if self.downsample is not None:
            self._layers["downsample"] = self.downsample
        self._collect()

    def _collect(self):
        # the block's own params: the layers' arrays (the same objects) under prefixed names
        self.params = dict(self.named_parameters())
        self.buffers = dict(self.named_buffers())

    def named_parameters(self, prefix=""):
        return [entry for name, layer in self._layers.items() for entry in layer.named_parameters(f"{prefix}{name}.")]

    def named_buffers(self, prefix=""):
        return [entry for name, layer in self._layers.items() for entry in layer.named_buffers(f"{prefix}{name}.")]

    def rebind(self, params, prefix=""):
        for name, layer in self._layers.items():
            layer.rebind(params, f"{prefix}{name}.")
        self._collect()

    def _conv_relu(self, conv, norm, x, training):
        """ReLU(norm(conv(x))), or the convolution with its own ReLU without a normalisation; (y, caches)."""
        h, c_conv = conv.forward(x)
        if norm is None:
            return h, (c_conv, None, None)
        h, c_norm = norm.forward(h, training)
        h, c_relu = self.relu.forward(h)
        return h, (c_conv, c_norm, c_relu)

    def _conv_relu_backward(self, conv, norm, dy, caches, out, add=None):
        c_conv, c_norm, c_relu = caches
        if norm is not None:
            dy, _ = self.relu.backward(dy, c_relu)  # forward: h = ReLU(norm(z))
            dy, grads_norm = norm.backward(dy, c_norm)
        dx, grads = conv.backward(dy, c_conv, out=out, add=add)
        return dx, grads, (grads_norm if norm is not None else {})

    def forward(self, x, training=False, rng=None):
        """x: (N, C_in, T) -> (out, branch), both (N, C_out, T); cache."""
        h1, c1 = self._conv_relu(self.conv1, self.norm1, x, training)
        h1, mask1 = self.dropout1.forward(h1, training, rng)
        h2, c2 = self._conv_relu(self.conv2, self.norm2, h1, training)
        branch, mask2 = self.dropout2.forward(h2, training, rng)
        residual, c_residual = (x, None) if self.downsample is None else self.downsample.forward(x)
        out, c_out = self.relu_out.forward(branch, residual)  # ReLU(branch + residual), in one pass
        return (out, branch), (c1, mask1, c2, mask2, c_residual, c_out)

    def step(self, x, histories, t):
        """One step of the forward pass at inference, for streaming: x: (N, C_in) at step t -> (out, branch), both
        (N, C_out), what ``forward`` gives at step t. ``histories``: {"conv1": (N, L, C_in), "conv2": (N, L, C_out)},
        the ring buffers of the two convolutions (see Conv1D.step), updated in place. Dropout is the identity;
        a normalisation is applied to the step as to a sequence of one step (batch norm with its running averages)."""
        h1 = self._step_norm_relu(self.norm1, self.conv1.step(x, histories.get("conv1"), t))
        branch = self._step_norm_relu(self.norm2, self.conv2.step(h1, histories.get("conv2"), t))
        residual = x if self.downsample is None else self.downsample.step(x, None, t)  # K = 1: no history
        out = empty(self.backend, branch.shape, branch.dtype)
        self.backend.add_relu_forward(out, branch, residual)
        return out, branch

    def _step_norm_relu(self, norm, h):
        if norm is None:
            return h  # the convolution's step applied its ReLU
        N, C = h.shape
        y, _ = norm.forward(h.reshape(N, C, 1), training=False)
        out = empty(self.backend, (N, C), h.dtype)
        self.backend.relu_forward(out, y.reshape(N, C))
        return out

    def backward(self, dout, cache, dbranch=None, out=None):
        """dout, dbranch (the gradient reaching the skip output, or None): (N, C_out, T) -> dx: (N, C_in, T), and
        {name: gradient} of every parameter. ``out`` ({name: array}, optional): arrays to write the gradients of the
        convolutions into, in place, under the names returned ("conv1.weight", ...)."""
        out = out or {}
        c1, mask1, c2, mask2, c_residual, c_out = cache
        # forward: out = ReLU(branch + residual)
        dsum, _ = self.relu_out.backward(dout, c_out)
        # ... and branch also went out as a skip connection, whose gradient adds here
        dbranch_total = dsum
        if dbranch is not None:
            dbranch = self.backend.input("dbranch", dbranch, 3, dsum.dtype, shape=dsum.shape)
            dbranch_total = empty(self.backend, dsum.shape, dsum.dtype)
            self.backend.add(dbranch_total, dsum, dbranch)
        # back through branch = dropout2(ReLU(norm2(conv2(h1)))) and h1 = dropout1(ReLU(norm1(conv1(x)))), one layer
        # at a time
        dh2, _ = self.dropout2.backward(dbranch_total, mask2)
        dh1, grads2, grads_norm2 = self._conv_relu_backward(self.conv2, self.norm2, dh2, c2, _under(out, "conv2."))
        dh1, _ = self.dropout1.backward(dh1, mask1)
        # forward: residual = x (or downsample(x)), so the residual path's gradient adds to the branch's in dx; conv1's
        # backward pass adds it (add=), which saves a pass over dx
        dresidual, grads_r = dsum, {}
        if self.downsample is not None:
            dresidual, grads_r = self.downsample.backward(dsum, c_residual, out=_under(out, "downsample."))
        dx, grads1, grads_norm1 = self._conv_relu_backward(self.conv1, self.norm1, dh1, c1, _under(out, "conv1."),
                                                           add=dresidual)
        grads = {f"conv1.{name}": g for name, g in grads1.items()} | {f"conv2.{name}": g for name, g in grads2.items()}
        grads |= {f"norm1.{name}": g for name, g in grads_norm1.items()}
        grads |= {f"norm2.{name}": g for name, g in grads_norm2.items()}
        grads |= {f"downsample.{name}": g for name, g in grads_r.items()}
        return dx, grads
