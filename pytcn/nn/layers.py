"""Layers with hand-written forward and backward passes, as pairs of functions in the manner of CS231n.

Every layer works in the kernels' layout, channels before time:

    x: (N, C_in, T)    y: (N, C_out, T)

(the model transposes its (N, T, C) input once, at its boundary). A layer follows one protocol, which
``pytcn.gradcheck`` and the model rely on:

- ``params``: dict name -> array, the trainable arrays (updated in place by an optimizer, never replaced);
- ``forward(x, ...) -> (y, cache)``: the output, and what the backward pass will need, explicitly;
- ``backward(dy, cache) -> (dx, grads)``: the input gradient, and dict name -> gradient of every parameter.

A layer keeps no state between the two calls: what the backward needs is in the cache it is given. Arrays come from
``pytcn.runtime.memory.empty``: a new array for a layer on its own (as ``np.empty``), the model's reused buffers
during one of the model's passes; which, and for how long, is decided by the model alone (pytcn/runtime/memory.py).

On a device backend (``backend="cuda"``) params, inputs, outputs, caches and gradients are device arrays: a layer
does its array arithmetic with the backend's kernels and plumbing ops (``kernels/arrays.py``), never with NumPy. A
NumPy input is validated and copied to the device.
"""
import numpy as np

from ..runtime import validate
from ..runtime.backends import get_backend
from ..runtime.memory import empty
from .initializers import initialize


def _under(arrays, prefix):
    """The arrays of ``arrays`` (name -> array) whose names start with ``prefix``, under the rest of their names: the
    gradients a model hands one of its layers to write into (``out=`` of the backward passes)."""
    return {name[len(prefix):]: a for name, a in arrays.items() if name.startswith(prefix)}


def _gradient_array(backend, out, name, shape, dtype):
    """out[name], where a caller gave arrays to write the gradients into; else a new array."""
    return out[name] if out is not None and name in out else empty(backend, shape, dtype)


class Layer:
    """Base of all layers: the parameters, by name, and the buffers (arrays a layer keeps and updates itself, such as
    batch norm's running statistics: in the state_dict, but never touched by an optimizer)."""

    def __init__(self):
        self.params = {}
        self.buffers = {}

    def named_parameters(self, prefix=""):
        """(prefixed name, param) for every trainable array of this layer."""
        return [(prefix + name, self.params[name]) for name in self.params]

    def named_buffers(self, prefix=""):
        """(prefixed name, buffer) for every buffer of this layer."""
        return [(prefix + name, self.buffers[name]) for name in self.buffers]

    def rebind(self, params, prefix=""):
        """Takes ``params[prefix + name]`` as this layer's arrays (the model's views of its flat buffer: same shapes,
        values already copied)."""
        for name in self.params:
            self.params[name] = params[prefix + name]


def _to_backend(layer):
    """Moves a layer's freshly initialised (NumPy) params to its backend. Weights are always drawn on the host, so
    one seed gives the same initial model on every backend."""
    be = layer.backend
    layer.params = {name: be.array(name, p, p.ndim, p.dtype) for name, p in layer.params.items()}


class Conv1D(Layer):
    """Dilated 1-D convolution, causal by default, optionally weight-normalised, optionally followed by a ReLU.

        y[n, o, t] = b[o] + sum_{i, j} W[o, i, j] * x[n, i, t - (K-1-j)*d]      (x = 0 before t = 0)
        y = max(y, 0)                                                           (activation="relu")

    W: (C_out, C_in, K), the layout and tap order of torch.nn.Conv1d (see kernels/conv.py for why).

    With ``use_weight_norm`` the weight is not a parameter itself but is made, as torch.nn.utils.weight_norm makes
    it, from a direction v and a length g per output channel:

        W[o] = g[o] * v[o] / ||v[o]||,   ||v[o]|| = sqrt(sum_{i, j} v[o, i, j]^2)
        params: weight_g (C_out, 1, 1), weight_v (C_out, C_in, K), bias (C_out,); g starts at ||v|| so W = v.

    ``padding="same"`` (keras's, for a non-causal TCN; then the layer is not causal, and ``CausalConv1D`` refuses it)
    centres the taps instead: of the (K-1)*d steps of padding,
    P_left = (K-1)*d // 2 go before the sequence and P_right = (K-1)*d - P_left after it, so

        y[n, o, t] = b[o] + sum_{i, j} W[o, i, j] * x[n, i, t - P_left + j*d]      (x = 0 outside [0, T))

    which is the causal convolution of x padded with P_right zeros on the right, read P_right steps later: the layer
    runs the causal kernels on that padded input and crops (``window``), and its backward runs them on the gradient
    padded and cropped the other way, the window's adjoint.
    """

    def __init__(self, in_channels, out_channels, kernel_size, dilation=1, *, activation=None, use_weight_norm=False,
                 kernel_initializer="he_normal", rng=None, dtype=np.float32, backend="cpu", padding="causal"):
        super().__init__()
        self.activation = validate.one_of("activation", activation, (None, "relu"))
        self.padding = validate.one_of("padding", padding, ("causal", "same"))
        self.in_channels = validate.integer("in_channels", in_channels, 1)
        self.out_channels = validate.integer("out_channels", out_channels, 1)
        self.kernel_size = validate.integer("kernel_size", kernel_size, 1)
        self.dilation = validate.integer("dilation", dilation, 1)
        self.use_weight_norm = bool(use_weight_norm)
        self.dtype = validate.as_dtype("dtype", dtype)
        self.backend = get_backend(backend)
        rng = np.random.default_rng() if rng is None else rng
        shape = (self.out_channels, self.in_channels, self.kernel_size)
        W = initialize(kernel_initializer, shape, rng, self.dtype)
        if self.use_weight_norm:
            norm = np.sqrt((W.astype(np.float64) ** 2).sum(axis=(1, 2), keepdims=True))  # C_out, 1, 1
            self.params["weight_g"] = norm.astype(self.dtype)
            self.params["weight_v"] = W
        else:
            self.params["weight"] = W
        self.params["bias"] = np.zeros(self.out_channels, self.dtype)
        _to_backend(self)

    def weight(self):
        """The effective weight W: (C_out, C_in, K), made from g and v when weight normalisation is on."""
        if not self.use_weight_norm:
            return self.params["weight"]
        W = empty(self.backend, self.params["weight_v"].shape, self.dtype)
        self.backend.weight_norm(W, self.params["weight_g"], self.params["weight_v"])  # W = g * v / ||v||
        return W

    @property
    def right_padding(self):
        """P_right: the zeros after the sequence (0 when causal)."""
        span = (self.kernel_size - 1) * self.dilation
        return span - span // 2 if self.padding == "same" else 0

    def forward(self, x):
        """x: (N, C_in, T) -> y: (N, C_out, T), cache."""
        x = self.backend.input("x", x, 3, self.dtype, shape=(None, self.in_channels, None))
        W = self.weight()
        N, _, T = x.shape
        P = self.right_padding
        if P:  # padding="same": the causal convolution of x padded with P zeros on the right ...
            x_padded = empty(self.backend, (N, self.in_channels, T + P), self.dtype)
            self.backend.window(x_padded, x, 0)
            x = x_padded
        y = empty(self.backend, (N, self.out_channels, T + P), self.dtype)
        if self.activation == "relu":
            self.backend.conv_relu_forward(y, x, W, self.params["bias"], self.dilation)  # one fused kernel
        else:
            self.backend.conv_forward(y, x, W, self.params["bias"], self.dilation)
        if P:  # ... read P steps later
            y_same = empty(self.backend, (N, self.out_channels, T), self.dtype)
            self.backend.window(y_same, y, P)
            y = y_same
        # for the backward pass: the input (padded, for dW), the weight actually used (for dx), the output (the ReLU)
        return y, (x, W, y)

    @property
    def history_length(self):
        """L = (K-1)*d: how many past input steps one output step reads besides the current one."""
        return (self.kernel_size - 1) * self.dilation

    def step(self, x, history, t):
        """One step of the forward pass, for streaming: x: (N, C_in), the input at step t -> y: (N, C_out), what
        ``forward`` gives at step t. ``history`` (N, L, C_in) holds the L = (K-1)*d inputs before it (zeros before the
        start) and takes x, in place (kernels/stream.py). With K = 1 there is no history: pass None."""
        if self.padding == "same":
            raise ValueError("padding='same' cannot stream: its output at step t reads inputs after t, which a "
                             "stream has not seen yet")
        W = self.weight()
        y = empty(self.backend, (x.shape[0], self.out_channels), self.dtype)
        if history is not None:
            self.backend.conv_step(y, history, x, W, self.params["bias"], self.dilation, t,
                                   self.activation == "relu")
            return y
        # K = 1: a pointwise product, y = x @ W[:, :, 0].T + b
        self.backend.linear_forward(y, x, W.reshape(self.out_channels, self.in_channels), self.params["bias"])
        if self.activation == "relu":
            self.backend.relu_forward(y, y)
        return y

    def backward(self, dy, cache, out=None, add=None):
        """dy: (N, C_out, T) -> dx: (N, C_in, T), {name: gradient}. ``out`` ({name: array}, optional): arrays to write
        the gradients of those names into, in place (a model passes its own, which saves a copy of each). ``add``
        (N, C_in, T), optional: a gradient that reaches x by another path (a residual block's skip), added into dx,
        so that dx comes back as the whole gradient of x."""
        x, W, y = cache
        be = self.backend
        dy = be.input("dy", dy, 3, self.dtype, shape=y.shape)
        db = _gradient_array(be, out, "bias", (self.out_channels,), self.dtype)
        if self.activation == "relu":  # forward: y = max(z, 0) of the convolution's z = ... + b
            dz = empty(be, y.shape, self.dtype)
            be.relu_bias_backward(dz, db, dy, y)  # dz, and db from it in the same pass
            dy = dz
        else:
            be.conv_backward_bias(db, dy)
        P = self.right_padding
        if P:  # forward: y = window(y_padded, P), so dy_padded = window(dy, -P): zeros, then dy
            N, _, T = dy.shape
            dy_padded = empty(be, (N, self.out_channels, T + P), self.dtype)
            be.window(dy_padded, dy, -P)
            dy = dy_padded
        dx = empty(be, x.shape, self.dtype)
        if add is not None and not P:
            add = be.input("add", add, 3, self.dtype, shape=x.shape)
            be.conv_backward_input_add(dx, dy, W, self.dilation, add)  # the sums start from add's rows
        else:
            be.conv_backward_input(dx, dy, W, self.dilation)
        if P:  # forward: x_padded = window(x, 0) of length T + P, so dx = its first T steps
            dx_same = empty(be, (x.shape[0], self.in_channels, x.shape[2] - P), self.dtype)
            be.window(dx_same, dx, 0)
            dx = dx_same
            if add is not None:
                add = be.input("add", add, 3, self.dtype, shape=dx.shape)
                be.add(dx, dx, add)
        dW = empty(be, W.shape, self.dtype) if self.use_weight_norm else _gradient_array(be, out, "weight", W.shape,
                                                                                          self.dtype)
        be.conv_backward_weight(dW, dy, x, self.dilation)
        if not self.use_weight_norm:
            return dx, {"weight": dW, "bias": db}
        # forward: W = g * v / ||v||; kernels/arrays.py derives dg and dv from dW
        dg = _gradient_array(be, out, "weight_g", self.params["weight_g"].shape, self.dtype)
        dv = _gradient_array(be, out, "weight_v", self.params["weight_v"].shape, self.dtype)
        be.weight_norm_backward(dg, dv, dW, self.params["weight_g"], self.params["weight_v"])
        return dx, {"weight_g": dg, "weight_v": dv, "bias": db}


class CausalConv1D(Conv1D):
    """The TCN's convolution: Conv1D with padding="causal", so that an output never reads a later input. Every
    argument is Conv1D's; ``padding="same"`` is refused here (a convolution that reads the future is not causal):
    ask for ``Conv1D(..., padding="same")``."""

    def __init__(self, in_channels, out_channels, kernel_size, dilation=1, **options):
        if options.get("padding", "causal") != "causal":
            raise ValueError(f"padding must be 'causal' for a CausalConv1D, got {options['padding']!r} (for keras's "
                             f"non-causal padding='same', use pytcn.Conv1D)")
        super().__init__(in_channels, out_channels, kernel_size, dilation, **options)


class ReLU(Layer):
    """y = max(x, 0), elementwise; the derivative at 0 is taken as 0."""

    def __init__(self, backend="cpu"):
        super().__init__()
        self.backend = get_backend(backend)

    def forward(self, x, x2=None):
        """x: any shape -> y: the same shape, cache. With ``x2`` (x's shape and dtype), y = max(x + x2, 0) in one
        pass; the backward pass is the same, and the gradient of the sum is the gradient of each term."""
        x = self.backend.input("x", x, None, None)
        y = empty(self.backend, x.shape, x.dtype)
        if x2 is None:
            self.backend.relu_forward(y, x)
        else:
            x2 = self.backend.input("x2", x2, len(x.shape), x.dtype, shape=x.shape)
            self.backend.add_relu_forward(y, x, x2)
        return y, y  # for the backward pass: the unit was active where y > 0

    def backward(self, dy, cache):
        y = cache
        dy = self.backend.input("dy", dy, len(y.shape), y.dtype, shape=y.shape)
        dx = empty(self.backend, y.shape, y.dtype)
        self.backend.relu_backward(dx, dy, y)
        return dx, {}


class _InvertedDropout(Layer):
    """Inverted dropout: in training, each entry of a mask is 0 with probability ``rate``, else 1 / (1 - rate), and
    the input is multiplied by it, so that nothing changes at inference. The mask is drawn on the host from ``rng``:
    the same generator state, the same mask, on every backend (on 'cuda' it is then copied to the device).
    Subclasses say which entries share one mask value (``mask_shape``) and how it multiplies (``multiply``)."""

    def __init__(self, rate, backend="cpu"):
        super().__init__()
        self.rate = validate.real("rate", rate, 0.0, 1.0, high_open=True)
        self.backend = get_backend(backend)

    def forward(self, x, training=False, rng=None):
        """x: (N, C, T) -> y, cache (the mask, or None when nothing was dropped)."""
        x = self.backend.input("x", x, 3, None)
        if not training or self.rate == 0.0:
            return x, None  # the identity: backward passes dy through
        if rng is None:
            raise ValueError("rng must be a np.random.Generator when training with dropout, got None")
        keep = rng.random(self.mask_shape(x.shape)) >= self.rate
        mask = empty(self.backend, keep.shape, x.dtype)
        self.backend.load(mask, keep / (1.0 - self.rate))  # on 'cuda': to the GPU
        y = empty(self.backend, x.shape, x.dtype)
        self.multiply(y, x, mask)
        return y, mask

    def backward(self, dy, cache):
        mask = cache
        dy = self.backend.input("dy", dy, 3, None)
        if mask is None:
            return dy, {}
        if tuple(self.mask_shape(dy.shape)) != tuple(mask.shape):
            raise ValueError(f"dy must have the shape of the forward's input, with {self.mask_shape.__doc__} = "
                             f"{tuple(mask.shape)}, got {dy.shape}")
        dx = empty(self.backend, dy.shape, dy.dtype)
        self.multiply(dx, dy, mask)  # forward: y = x * mask, so dx = dy * mask
        return dx, {}


class SpatialDropout1D(_InvertedDropout):
    """Spatial dropout, as keras's SpatialDropout1D (which keras-tcn uses): each channel of each sequence is dropped
    whole.

        y[n, c, t] = x[n, c, t] * mask[n, c],   mask[n, c] = 0 with probability rate, else 1 / (1 - rate)

    N*C mask numbers per layer and step."""

    def mask_shape(self, shape):
        """(N, C)"""
        return tuple(shape[:2])

    def multiply(self, y, x, mask):
        self.backend.scale_channels(y, x, mask)


class LayerNorm(Layer):
    """Layer normalisation over the channels of each step, as torch.nn.LayerNorm(C) on (N, T, C) (keras-tcn's
    use_layer_norm, pytorch-tcn's use_norm="layer_norm"):

        y[n, c, t] = weight[c] * (x[n, c, t] - mean[n, t]) / sqrt(var[n, t] + eps) + bias[c]

    mean and var (biased) over c; params weight (C,) = 1 and bias (C,) = 0 at the start. kernels/norm.py has the
    kernels and their backward."""

    def __init__(self, channels, eps=1e-5, dtype=np.float32, backend="cpu"):
        super().__init__()
        self.channels = validate.integer("channels", channels, 1)
        self.eps = validate.real("eps", eps, 0.0, low_open=True)
        self.dtype = validate.as_dtype("dtype", dtype)
        self.backend = get_backend(backend)
        self.params["weight"] = np.ones(self.channels, self.dtype)
        self.params["bias"] = np.zeros(self.channels, self.dtype)
        _to_backend(self)

    def forward(self, x, training=False):
        """x: (N, C, T) -> y, cache. ``training`` changes nothing (accepted for the same call as BatchNorm1d)."""
        x = self.backend.input("x", x, 3, self.dtype, shape=(None, self.channels, None))
        N, _, T = x.shape
        y = empty(self.backend, x.shape, self.dtype)
        mean = empty(self.backend, (N, T), self.dtype)
        rstd = empty(self.backend, (N, T), self.dtype)
        self.backend.layer_norm_forward(y, mean, rstd, x, self.params["weight"], self.params["bias"], self.eps)
        return y, (x, mean, rstd)  # for the backward pass: the input and its statistics

    def backward(self, dy, cache):
        x, mean, rstd = cache
        dy = self.backend.input("dy", dy, 3, self.dtype, shape=x.shape)
        dx = empty(self.backend, x.shape, self.dtype)
        dweight = empty(self.backend, (self.channels,), self.dtype)
        dbias = empty(self.backend, (self.channels,), self.dtype)
        self.backend.layer_norm_backward(dx, dweight, dbias, dy, x, mean, rstd, self.params["weight"])
        return dx, {"weight": dweight, "bias": dbias}


class BatchNorm1d(Layer):
    """Batch normalisation of each channel over the batch and the steps, as torch.nn.BatchNorm1d(C) (keras-tcn's
    use_batch_norm, pytorch-tcn's use_norm="batch_norm"):

        y[n, c, t] = weight[c] * (x[n, c, t] - mean[c]) / sqrt(var[c] + eps) + bias[c]

    In training, mean and var (biased) are the batch's, and the running averages are updated as PyTorch updates
    them: running = (1 - momentum) * running + momentum * statistic, with the unbiased variance (times M / (M-1),
    M = N*T); num_batches_tracked counts the updates. At inference the running averages are used. They are buffers
    (in the state_dict under PyTorch's names, never updated by an optimizer): running_mean (C,) = 0, running_var
    (C,) = 1, num_batches_tracked () = 0 at the start, the last an int64 NumPy scalar array on every backend."""

    def __init__(self, channels, eps=1e-5, momentum=0.1, dtype=np.float32, backend="cpu"):
        super().__init__()
        self.channels = validate.integer("channels", channels, 1)
        self.eps = validate.real("eps", eps, 0.0, low_open=True)
        self.momentum = validate.real("momentum", momentum, 0.0, 1.0)
        self.dtype = validate.as_dtype("dtype", dtype)
        self.backend = get_backend(backend)
        self.params["weight"] = np.ones(self.channels, self.dtype)
        self.params["bias"] = np.zeros(self.channels, self.dtype)
        _to_backend(self)
        be = self.backend
        self.buffers["running_mean"] = be.to_device(np.zeros(self.channels, self.dtype))
        self.buffers["running_var"] = be.to_device(np.ones(self.channels, self.dtype))
        self.buffers["num_batches_tracked"] = np.zeros((), np.int64)

    def forward(self, x, training=False):
        """x: (N, C, T) -> y, cache. In training, from the batch's statistics (and the running ones updated)."""
        x = self.backend.input("x", x, 3, self.dtype, shape=(None, self.channels, None))
        be = self.backend
        N, _, T = x.shape
        y = empty(be, x.shape, self.dtype)
        if not training:
            mean, var = self.buffers["running_mean"], self.buffers["running_var"]
        else:
            if N * T < 2:
                raise ValueError(f"batch norm in training needs more than one value per channel (N * T >= 2), got x "
                                 f"of shape {tuple(x.shape)}")
            mean = empty(be, (self.channels,), self.dtype)
            var = empty(be, (self.channels,), self.dtype)
            be.batch_norm_statistics(mean, var, x)
            self._update_running(mean, var, N * T)
        be.batch_norm_forward(y, x, mean, var, self.params["weight"], self.params["bias"], self.eps)
        return y, (x, mean, var, training)  # for the backward pass: the input and the statistics used

    def _update_running(self, mean, var, M):
        be, m = self.backend, self.momentum
        term = empty(be, (self.channels,), self.dtype)
        for name, stat, factor in (("running_mean", mean, 1.0), ("running_var", var, M / (M - 1))):
            running = self.buffers[name]
            be.scale(term, stat, m * factor)  # momentum * statistic (the variance unbiased) ...
            be.scale(running, running, 1.0 - m)  # ... + (1 - momentum) * running
            be.add(running, running, term)
        self.buffers["num_batches_tracked"][...] += 1

    def backward(self, dy, cache):
        x, mean, var, batch_statistics = cache
        dy = self.backend.input("dy", dy, 3, self.dtype, shape=x.shape)
        dx = empty(self.backend, x.shape, self.dtype)
        dweight = empty(self.backend, (self.channels,), self.dtype)
        dbias = empty(self.backend, (self.channels,), self.dtype)
        self.backend.batch_norm_backward(dx, dweight, dbias, dy, x, mean, var, self.params["weight"], self.eps,
                                         batch_statistics)
        return dx, {"weight": dweight, "bias": dbias}


class Dropout(_InvertedDropout):
    """Element-wise dropout, as torch.nn.Dropout (which locuslab/TCN uses): each element is dropped on its own.

        y[n, c, t] = x[n, c, t] * mask[n, c, t],   mask = 0 with probability rate, else 1 / (1 - rate)

    N*C*T mask numbers per layer and step."""

    def mask_shape(self, shape):
        """(N, C, T)"""
        return tuple(shape)

    def multiply(self, y, x, mask):
        self.backend.scale_elements(y, x, mask)


class Linear(Layer):
    """y[m, o] = b[o] + sum_f W[o, f] x[m, f]; x: (M, F), W: (O, F) as torch.nn.Linear, y: (M, O)."""

    def __init__(self, in_features, out_features, *, kernel_initializer="glorot_uniform", rng=None,
                 dtype=np.float32, backend="cpu"):
        super().__init__()
        self.in_features = validate.integer("in_features", in_features, 1)
        self.out_features = validate.integer("out_features", out_features, 1)
        self.dtype = validate.as_dtype("dtype", dtype)
        self.backend = get_backend(backend)
        rng = np.random.default_rng() if rng is None else rng
        self.params["weight"] = initialize(kernel_initializer, (self.out_features, self.in_features), rng, self.dtype)
        self.params["bias"] = np.zeros(self.out_features, self.dtype)
        _to_backend(self)

    def forward(self, x):
        """x: (M, F) -> y: (M, O), cache."""
        x = self.backend.input("x", x, 2, self.dtype, shape=(None, self.in_features))
        y = empty(self.backend, (x.shape[0], self.out_features), self.dtype)
        self.backend.linear_forward(y, x, self.params["weight"], self.params["bias"])
        return y, x  # for the backward pass: dW = dy.T @ x

    def backward(self, dy, cache, out=None):
        """dy: (M, O) -> dx: (M, F), {"weight": dW, "bias": db}. ``out``: as for Conv1D.backward."""
        x = cache
        dy = self.backend.input("dy", dy, 2, self.dtype, shape=(x.shape[0], self.out_features))
        dx = empty(self.backend, x.shape, self.dtype)
        dW = _gradient_array(self.backend, out, "weight", self.params["weight"].shape, self.dtype)
        db = _gradient_array(self.backend, out, "bias", (self.out_features,), self.dtype)
        self.backend.linear_backward(dx, dW, db, dy, x, self.params["weight"])
        return dx, {"weight": dW, "bias": db}
