"""Layers with hand-written forward and backward passes.

Every layer works in the kernels' layout, channels before time:

    x: (N, C_in, T)    y: (N, C_out, T)

(the model transposes its (N, T, C) input once, at its boundary). A layer follows one protocol, which
``pytcn.gradcheck`` and the optimizers rely on:

- ``params``: dict name -> array, the trainable arrays (updated in place, never replaced);
- ``grads``: dict name -> array of the same shapes, written by ``backward``;
- ``forward(x, ...) -> y`` saves what the backward pass needs;
- ``backward(dy) -> dx`` reads what the last forward saved, fills ``grads`` and returns the input gradient.

A layer on its own allocates a new array for each output and temporary. A layer of a model takes them from the
model's buffer pool instead (``use_pool``; see pytcn/pool.py), and says which of its temporaries are dead
(``_release``); its outputs are then the model's to release.

On a device backend (``backend="cuda"``) params, grads, inputs, outputs and everything saved are device arrays: a
layer allocates through ``self.backend`` and does its array arithmetic with the backend's plumbing ops
(``kernels/arrays.py``), never with NumPy. A NumPy input is validated and copied to the device.
"""
import numpy as np

from . import _validate
from .backends import get_backend
from .initializers import initialize


class Layer:
    """Base of all layers: empty params and grads, and the check that backward follows a forward."""

    def __init__(self):
        self.params = {}
        self.grads = {}
        self._saved = None
        self.pool = None  # the model's BufferPool (pytcn.pool), when the layer belongs to a model

    def use_pool(self, pool):
        """Takes outputs and temporaries from ``pool`` (a BufferPool of the layer's backend) from now on."""
        self.pool = pool

    def _empty(self, shape, dtype):
        """A new array for this pass: a buffer of the pool, or a fresh array for a layer on its own."""
        return self.backend.empty(shape, dtype) if self.pool is None else self.pool.empty(shape, dtype)

    def _release(self, *arrays):
        """Says that these arrays (made by ``_empty``) will not be read again: the pool may hand them out anew."""
        if self.pool is not None:
            self.pool.release(*arrays)

    def _take_saved(self, what):
        if self._saved is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward: there is no {what} to use")
        return self._saved

    def named_parameters(self, prefix=""):
        """(prefixed name, param, grad) for every trainable array of this layer."""
        return [(prefix + name, self.params[name], self.grads[name]) for name in self.params]

    def rebind(self, params, grads, prefix=""):
        """Takes ``params[prefix + name]`` and ``grads[prefix + name]`` as this layer's arrays (the model's views of
        its flat buffers: same shapes, values already copied)."""
        for name in self.params:
            self.params[name] = params[prefix + name]
            self.grads[name] = grads[prefix + name]


def _to_backend(layer):
    """Moves a layer's freshly initialised (NumPy) params to its backend, and gives it zeroed grads there. Weights
    are always drawn on the host, so one seed gives the same initial model on every backend."""
    be = layer.backend
    layer.params = {name: be.array(name, p, p.ndim, p.dtype) for name, p in layer.params.items()}
    layer.grads = {name: be.zeros(p.shape, p.dtype) for name, p in layer.params.items()}


class CausalConv1D(Layer):
    """Causal dilated 1-D convolution, optionally weight-normalised, optionally followed by a ReLU.

        y[n, o, t] = b[o] + sum_{i, j} W[o, i, j] * x[n, i, t - (K-1-j)*d]      (x = 0 before t = 0)
        y = max(y, 0)                                                           (activation="relu")

    W: (C_out, C_in, K), the layout and tap order of torch.nn.Conv1d (see kernels/conv.py for why).

    With ``use_weight_norm`` the weight is not a parameter itself but is made, as torch.nn.utils.weight_norm makes
    it, from a direction v and a length g per output channel:

        W[o] = g[o] * v[o] / ||v[o]||,   ||v[o]|| = sqrt(sum_{i, j} v[o, i, j]^2)
        params: weight_g (C_out, 1, 1), weight_v (C_out, C_in, K), bias (C_out,); g starts at ||v|| so W = v.
    """

    def __init__(self, in_channels, out_channels, kernel_size, dilation=1, *, activation=None, use_weight_norm=False,
                 kernel_initializer="he_normal", rng=None, dtype=np.float32, backend="cpu"):
        super().__init__()
        self.activation = _validate.one_of("activation", activation, (None, "relu"))
        self.in_channels = _validate.integer("in_channels", in_channels, 1)
        self.out_channels = _validate.integer("out_channels", out_channels, 1)
        self.kernel_size = _validate.integer("kernel_size", kernel_size, 1)
        self.dilation = _validate.integer("dilation", dilation, 1)
        self.use_weight_norm = bool(use_weight_norm)
        self.dtype = _validate.as_dtype("dtype", dtype)
        self.backend = get_backend(backend)
        rng = np.random.default_rng() if rng is None else rng
        shape = (self.out_channels, self.in_channels, self.kernel_size)
        W = initialize(kernel_initializer, shape, rng, self.dtype)
        if self.use_weight_norm:
            self.params["weight_g"] = np.sqrt((W.astype(np.float64) ** 2).sum(axis=(1, 2), keepdims=True)).astype(self.dtype)
            self.params["weight_v"] = W
        else:
            self.params["weight"] = W
        self.params["bias"] = np.zeros(self.out_channels, self.dtype)
        _to_backend(self)

    def weight(self):
        """The effective weight W: (C_out, C_in, K), made from g and v when weight normalisation is on."""
        if not self.use_weight_norm:
            return self.params["weight"]
        W = self._empty(self.params["weight_v"].shape, self.dtype)
        self.backend.weight_norm(W, self.params["weight_g"], self.params["weight_v"])  # W = g * v / ||v||
        return W

    def forward(self, x):
        """x: (N, C_in, T) -> y: (N, C_out, T)."""
        x = self.backend.array("x", x, 3, self.dtype, shape=(None, self.in_channels, None))
        W = self.weight()
        y = self._empty((x.shape[0], self.out_channels, x.shape[2]), self.dtype)
        if self.activation == "relu":
            self.backend.conv_relu_forward(y, x, W, self.params["bias"], self.dilation)  # one fused kernel
        else:
            self.backend.conv_forward(y, x, W, self.params["bias"], self.dilation)
        # for the backward pass: the input (for dW), the weight actually used (for dx), the output (for the ReLU)
        self._saved = (x, W, y)
        return y

    def backward(self, dy):
        """dy: (N, C_out, T) -> dx: (N, C_in, T); fills grads."""
        x, W, y = self._take_saved("input")
        be = self.backend
        dy = be.array("dy", dy, 3, self.dtype, shape=y.shape)
        dz = None
        if self.activation == "relu":
            dz = self._empty(y.shape, self.dtype)
            be.relu_backward(dz, dy, y)  # forward: y = max(z, 0) of the convolution's z
            dy = dz
        dx = self._empty(x.shape, self.dtype)
        be.conv_backward_input(dx, dy, W, self.dilation)
        be.conv_backward_bias(self.grads["bias"], dy)
        if not self.use_weight_norm:
            be.conv_backward_weight(self.grads["weight"], dy, x, self.dilation)
            self._release(dz)
            return dx
        dW = self._empty(W.shape, self.dtype)
        be.conv_backward_weight(dW, dy, x, self.dilation)
        # forward: W = g * v / ||v||; kernels/arrays.py derives dg and dv from dW
        be.weight_norm_backward(self.grads["weight_g"], self.grads["weight_v"], dW, self.params["weight_g"],
                                self.params["weight_v"])
        self._release(dz, dW)
        return dx


class ReLU(Layer):
    """y = max(x, 0), elementwise; the derivative at 0 is taken as 0."""

    def __init__(self, backend="cpu"):
        super().__init__()
        self.backend = get_backend(backend)

    def forward(self, x, x2=None):
        """x: any shape -> y: the same shape. With ``x2`` (x's shape and dtype), y = max(x + x2, 0) in one pass;
        the backward pass is the same, and the gradient of the sum is the gradient of each term."""
        x = self.backend.array("x", x, len(getattr(x, "shape", ())), _validate.kernel_dtype(x))
        y = self._empty(x.shape, x.dtype)
        if x2 is None:
            self.backend.relu_forward(y, x)
        else:
            x2 = self.backend.array("x2", x2, len(x.shape), x.dtype, shape=x.shape)
            self.backend.add_relu_forward(y, x, x2)
        self._saved = y  # for the backward pass: the unit was active where y > 0
        return y

    def backward(self, dy):
        y = self._take_saved("output")
        dy = self.backend.array("dy", dy, len(y.shape), y.dtype, shape=y.shape)
        dx = self._empty(y.shape, y.dtype)
        self.backend.relu_backward(dx, dy, y)
        return dx


class SpatialDropout1D(Layer):
    """Inverted spatial dropout: in training, each channel of each sequence is dropped whole with probability
    ``rate`` (as keras's SpatialDropout1D, which keras-tcn uses) and the kept ones are scaled by 1 / (1 - rate), so
    that nothing changes at inference.

        y[n, c, t] = x[n, c, t] * mask[n, c],   mask[n, c] = 0 with probability rate, else 1 / (1 - rate)

    The mask is always drawn on the host, from ``rng``, so a model draws the same masks on every backend (on
    'cuda' it is then copied to the device: N*C numbers per layer and step).
    """

    def __init__(self, rate, backend="cpu"):
        super().__init__()
        self.rate = _validate.real("rate", rate, 0.0, 1.0, high_open=True)
        self.backend = get_backend(backend)

    def forward(self, x, training=False, rng=None):
        """In training, ``rng`` (a np.random.Generator) draws the mask: the same generator state, the same mask."""
        x = self.backend.array("x", x, 3, _validate.kernel_dtype(x))
        if not training or self.rate == 0.0:
            self._saved = None  # identity: backward passes dy through
            return x
        if rng is None:
            raise ValueError("rng must be a np.random.Generator when training with dropout, got None")
        keep = rng.random(x.shape[:2]) >= self.rate  # N, C
        mask = self._empty(keep.shape, x.dtype)  # N, C
        self.backend.load(mask, keep / (1.0 - self.rate))  # on 'cuda': to the GPU
        self._saved = mask
        y = self._empty(x.shape, x.dtype)
        self.backend.scale_channels(y, x, mask)
        return y

    @property
    def active(self):
        """Whether the last forward dropped channels (and so made a new array) rather than pass x through."""
        return self._saved is not None

    def backward(self, dy):
        dy = self.backend.array("dy", dy, 3, _validate.kernel_dtype(dy))
        if self._saved is None:
            return dy
        if tuple(dy.shape[:2]) != tuple(self._saved.shape):
            raise ValueError(f"dy must have the shape of the forward's input, (N, C, T) with (N, C) = "
                             f"{tuple(self._saved.shape)}, got {dy.shape}")
        dx = self._empty(dy.shape, dy.dtype)
        self.backend.scale_channels(dx, dy, self._saved)  # forward: y = x * mask
        return dx


class Linear(Layer):
    """y[m, o] = b[o] + sum_f W[o, f] x[m, f]; x: (M, F), W: (O, F) as torch.nn.Linear, y: (M, O)."""

    def __init__(self, in_features, out_features, *, kernel_initializer="glorot_uniform", rng=None,
                 dtype=np.float32, backend="cpu"):
        super().__init__()
        self.in_features = _validate.integer("in_features", in_features, 1)
        self.out_features = _validate.integer("out_features", out_features, 1)
        self.dtype = _validate.as_dtype("dtype", dtype)
        self.backend = get_backend(backend)
        rng = np.random.default_rng() if rng is None else rng
        self.params["weight"] = initialize(kernel_initializer, (self.out_features, self.in_features), rng, self.dtype)
        self.params["bias"] = np.zeros(self.out_features, self.dtype)
        _to_backend(self)

    def forward(self, x):
        x = self.backend.array("x", x, 2, self.dtype, shape=(None, self.in_features))
        y = self._empty((x.shape[0], self.out_features), self.dtype)
        self.backend.linear_forward(y, x, self.params["weight"], self.params["bias"])
        self._saved = x  # for the backward pass: dW = dy.T @ x
        return y

    def backward(self, dy):
        x = self._take_saved("input")
        dy = self.backend.array("dy", dy, 2, self.dtype, shape=(x.shape[0], self.out_features))
        dx = self._empty(x.shape, self.dtype)
        self.backend.linear_backward(dx, self.grads["weight"], self.grads["bias"], dy, x, self.params["weight"])
        return dx
