"""Optimizers over a model's parameters: Adam and RMSprop (with torch.optim.Adam's and torch.optim.RMSprop's
arithmetic) and plain SGD.

Both take the live parameter arrays (``model.params``, a dict name -> array) and update them in place from a dict of
gradients with the same names (``model.grads``). Optionally the gradients are first scaled so that their global
norm is at most ``max_grad_norm``, as torch.nn.utils.clip_grad_norm_ does.
"""
import numpy as np

from ..runtime import validate
from ..runtime.backends import Packed, backend_for, packed_zeros


def global_grad_norm(grads, backend=None):
    """sqrt(sum of every squared gradient entry), accumulated in float64: by default on the backend of a model's
    ``grads``, or for another dict on 'cuda' for device arrays and 'numpy' for NumPy ones (``backend_for``)."""
    be = backend_for(grads, backend)
    return float(np.sqrt(be.sum_squares(list(grads.values()))))


def clip_factor(grads, max_grad_norm, backend=None):
    """The scale torch.nn.utils.clip_grad_norm_ applies: min(1, max_grad_norm / (norm + 1e-6))."""
    if max_grad_norm is None:
        return 1.0
    return min(1.0, max_grad_norm / (global_grad_norm(grads, backend) + 1e-6))


class _Optimizer:
    def __init__(self, params, lr, max_grad_norm, backend):
        if not hasattr(params, "items"):
            raise TypeError(f"params must be a dict of name -> array (model.params), got {type(params).__name__}")
        self.params = dict(params)
        # a model's params are views of one flat buffer (pytcn.runtime.backends.pack): then one pass updates them all
        self._packed = params if isinstance(params, Packed) else None
        self.backend = backend_for(params, backend)  # unless named: the model's, or the arrays' (backend_for)
        kind = "device array" if self.backend.on_device else "NumPy array"
        for name, p in self.params.items():
            # updated in place by the kernels, so a parameter cannot be converted: it is refused instead
            if not self.backend.is_array(p):
                raise TypeError(f"params[{name!r}] must be a {kind} (backend {self.backend.name!r}), got "
                                f"{type(p).__name__}")
            if p.dtype not in validate.FLOAT_DTYPES:
                raise TypeError(f"params[{name!r}] must be float32 or float64, got {p.dtype}")
            contiguous = p.is_c_contiguous() if self.backend.on_device else p.flags.c_contiguous and p.flags.writeable
            if not contiguous:
                raise ValueError(f"params[{name!r}] must be a writeable C-contiguous array (it is updated in "
                                 f"place), got strides {p.strides} for shape {p.shape}")
        self.lr = validate.real("lr", lr, 0.0)  # 0 is allowed, as torch allows it (nothing moves)
        self.max_grad_norm = None if max_grad_norm is None else validate.real(
            "max_grad_norm", max_grad_norm, 0.0, low_open=True)

    def _checked(self, grads):
        """(the gradients checked against the parameters, the clip factor: 1.0 without clipping), and the flat
        buffers (params, grads) when both are packed alike, so that one pass can update every parameter."""
        if not hasattr(grads, "get"):
            raise TypeError(f"grads must be a dict of name -> array (model.grads), got {type(grads).__name__}")
        be = self.backend
        checked = {}
        for name, p in self.params.items():
            g = grads.get(name)
            if g is None:
                raise ValueError(f"grads has no gradient for parameter {name!r}")
            if not be.is_array(g):
                raise TypeError(f"grads[{name!r}] must be an array of backend {be.name!r} like its parameter, got "
                                f"{type(g).__name__}")
            if tuple(g.shape) != tuple(p.shape) or g.dtype != p.dtype:
                raise ValueError(f"grads[{name!r}] is {g.dtype}{tuple(g.shape)}, the parameter is "
                                 f"{p.dtype}{tuple(p.shape)}")
            checked[name] = g if be.on_device else np.ascontiguousarray(g)
        # the same names in the same order with the same shapes (checked above): the same slices of the two buffers
        packed = self._packed is not None and isinstance(grads, Packed) and list(grads) == list(self.params)
        flats = (self._packed.flat, grads.flat) if packed else None
        # on 'cuda' the norm is the one number sent back
        scale = clip_factor({"flat": flats[1]} if packed else checked, self.max_grad_norm, be)
        return checked, scale, flats


class SGD(_Optimizer):
    """param -= lr * grad."""

    def __init__(self, params, lr=1e-2, max_grad_norm=None, backend=None):
        super().__init__(params, lr, max_grad_norm, backend)

    def step(self, grads):
        grads, scale, _ = self._checked(grads)
        for name, g in grads.items():
            if scale != 1.0:
                scaled = self.backend.empty(g.shape, g.dtype)
                self.backend.scale(scaled, g, scale)
                g = scaled
            self.backend.sgd_update(self.params[name], g, self.lr)


class _TwoStates(_Optimizer):
    """An optimizer with two arrays per parameter, ``m`` and ``v`` (Adam's moments; RMSprop's momentum buffer and
    running mean of the squared gradient), and a step count ``t``; they live where the parameters do, in one flat
    buffer each for a model's parameters. The checkpoints of `pytcn train` keep them under these names."""

    def _make_states(self):
        self.t = 0
        if self._packed is not None:
            self.m, self.v = packed_zeros(self.backend, self._packed), packed_zeros(self.backend, self._packed)
        else:
            self.m = {name: self.backend.zeros(p.shape, p.dtype) for name, p in self.params.items()}
            self.v = {name: self.backend.zeros(p.shape, p.dtype) for name, p in self.params.items()}

    def _arrays(self, grads, flats):
        """(param, m, v, grad) to update: the flat buffers in one go, or array by array."""
        if flats is not None:
            param, grad = flats
            return [(param, self.m.flat, self.v.flat, grad)]  # every parameter in one pass
        return [(p, self.m[name], self.v[name], grads[name]) for name, p in self.params.items()]

    def state_dict(self):
        """NumPy copies of the two states and the step count: {"t": int, "m": {name: array}, "v": {name: array}}."""
        return {"t": self.t, "m": {n: self.backend.to_host(a) for n, a in self.m.items()},
                "v": {n: self.backend.to_host(a) for n, a in self.v.items()}}

    def load_state_dict(self, state):
        """Loads what ``state_dict`` returned (after checking every name, shape and dtype), in place."""
        kind = type(self).__name__
        if not hasattr(state, "keys"):
            raise TypeError(f"state must be a dict with 't', 'm' and 'v' ({kind}.state_dict()), got "
                            f"{type(state).__name__}")
        missing = [key for key in ("t", "m", "v") if key not in state]
        if missing:
            raise ValueError(f"state must have the keys 't', 'm' and 'v' of {kind}.state_dict(); missing "
                             f"{', '.join(map(repr, missing))}")
        for key in ("m", "v"):
            validate.matching_arrays(f"{kind}'s {key}", state[key], getattr(self, key))
        for key in ("m", "v"):
            for name, a in getattr(self, key).items():
                self.backend.load(a, state[key][name])
        self.t = validate.integer("t", state["t"], 0, 2 ** 63 - 1)  # the kernels take it as an int64


class Adam(_TwoStates):
    """Adam (Kingma & Ba), with bias correction and epsilon placed exactly as in torch.optim.Adam:

        m = beta1 m + (1 - beta1) g;   v = beta2 v + (1 - beta2) g^2
        param -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + epsilon)

    ``weight_decay`` adds weight_decay * param to the gradient first (L2, as torch.optim.Adam, not AdamW).
    ``m`` and ``v`` live where the parameters do; ``state_dict`` and ``load_state_dict`` move them as NumPy arrays.

    Given a model's ``params`` and ``grads`` (views of one flat buffer each), a step is one call of the Adam kernel
    over all of them, with the clip factor applied inside it; given other dicts, one call per array.
    """

    def __init__(self, params, lr=1e-3, beta1=0.9, beta2=0.999, epsilon=1e-8, weight_decay=0.0, max_grad_norm=None,
                 backend=None):
        super().__init__(params, lr, max_grad_norm, backend)
        self.beta1 = validate.real("beta1", beta1, 0.0, 1.0, high_open=True)
        self.beta2 = validate.real("beta2", beta2, 0.0, 1.0, high_open=True)
        self.epsilon = validate.real("epsilon", epsilon, 0.0)
        self.weight_decay = validate.real("weight_decay", weight_decay, 0.0)
        self._make_states()

    def step(self, grads):
        grads, scale, flats = self._checked(grads)
        self.t += 1
        for param, m, v, grad in self._arrays(grads, flats):
            self.backend.adam_update(param, m, v, grad, param.dtype.type(scale), self.lr, self.beta1, self.beta2,
                                     self.epsilon, self.weight_decay, self.t)


class RMSprop(_TwoStates):
    """RMSprop (Hinton's lecture 6e), placed exactly as torch.optim.RMSprop (centered=False) places it:

        v = alpha v + (1 - alpha) g^2;   u = g / (sqrt(v) + epsilon)
        param -= lr * u                                  (momentum = 0, the default)
        m = momentum m + u;   param -= lr * m            (momentum > 0)

    ``weight_decay`` adds weight_decay * param to the gradient first, as torch's does. The defaults are torch's
    (lr 0.01, alpha 0.99, epsilon 1e-8). ``v`` is torch's ``square_avg`` and ``m`` its ``momentum_buffer`` (zeros,
    untouched, without momentum); ``state_dict`` and ``load_state_dict`` move them as Adam's. The TCN paper trained its
    copy-memory TCN and some of its LSTMs with it (benchmarks/paper.py).
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, epsilon=1e-8, weight_decay=0.0, momentum=0.0, max_grad_norm=None,
                 backend=None):
        super().__init__(params, lr, max_grad_norm, backend)
        self.alpha = validate.real("alpha", alpha, 0.0, 1.0)
        self.epsilon = validate.real("epsilon", epsilon, 0.0)
        self.weight_decay = validate.real("weight_decay", weight_decay, 0.0)
        self.momentum = validate.real("momentum", momentum, 0.0, 1.0, high_open=True)
        self._make_states()

    def step(self, grads):
        grads, scale, flats = self._checked(grads)
        self.t += 1
        for param, m, v, grad in self._arrays(grads, flats):
            self.backend.rmsprop_update(param, m, v, grad, param.dtype.type(scale), self.lr, self.alpha, self.epsilon,
                                        self.weight_decay, self.momentum)
