"""Optimizers over a model's parameters: Adam (with torch.optim.Adam's arithmetic) and plain SGD.

Both take the live parameter arrays (``model.params``, a dict name -> array) and update them in place from a dict of
gradients with the same names (``model.grads``). Optionally the gradients are first scaled so that their global
norm is at most ``max_grad_norm``, as torch.nn.utils.clip_grad_norm_ does.
"""
import numpy as np

from . import _validate
from .backends import get_backend


def global_grad_norm(grads):
    """sqrt(sum of every squared gradient entry), accumulated in float64."""
    return float(np.sqrt(sum(float(np.dot(g.ravel().astype(np.float64), g.ravel())) for g in grads.values())))


def clip_factor(grads, max_grad_norm):
    """The scale torch.nn.utils.clip_grad_norm_ applies: min(1, max_grad_norm / (norm + 1e-6))."""
    if max_grad_norm is None:
        return 1.0
    return min(1.0, max_grad_norm / (global_grad_norm(grads) + 1e-6))


class _Optimizer:
    def __init__(self, params, lr, max_grad_norm):
        if not hasattr(params, "items"):
            raise TypeError(f"params must be a dict of name -> array (model.params), got {type(params).__name__}")
        self.params = dict(params)
        for name, p in self.params.items():
            # updated in place by the kernels, so a parameter cannot be converted: it is refused instead
            if not isinstance(p, np.ndarray):
                raise TypeError(f"params[{name!r}] must be a NumPy array, got {type(p).__name__}")
            if p.dtype not in _validate.FLOAT_DTYPES:
                raise TypeError(f"params[{name!r}] must be float32 or float64, got {p.dtype}")
            if not (p.flags.c_contiguous and p.flags.writeable):
                raise ValueError(f"params[{name!r}] must be a writeable C-contiguous array (it is updated in "
                                 f"place), got strides {p.strides} for shape {p.shape}")
        self.lr = _validate.real("lr", lr, 0.0, low_open=True)
        self.max_grad_norm = None if max_grad_norm is None else _validate.real(
            "max_grad_norm", max_grad_norm, 0.0, low_open=True)

    def _checked(self, grads):
        if not hasattr(grads, "get"):
            raise TypeError(f"grads must be a dict of name -> array (model.grads), got {type(grads).__name__}")
        for name, p in self.params.items():
            g = grads.get(name)
            if g is None:
                raise ValueError(f"grads has no gradient for parameter {name!r}")
            if not isinstance(g, np.ndarray):
                raise TypeError(f"grads[{name!r}] must be a NumPy array, got {type(g).__name__}")
            if g.shape != p.shape or g.dtype != p.dtype:
                raise ValueError(f"grads[{name!r}] is {g.dtype}{g.shape}, the parameter is {p.dtype}{p.shape}")
        scale = clip_factor({n: grads[n] for n in self.params}, self.max_grad_norm)
        return {n: np.ascontiguousarray(grads[n] if scale == 1.0 else grads[n] * p.dtype.type(scale))
                for n, p in self.params.items()}


class SGD(_Optimizer):
    """param -= lr * grad."""

    def __init__(self, params, lr=1e-2, max_grad_norm=None):
        super().__init__(params, lr, max_grad_norm)

    def step(self, grads):
        for name, g in self._checked(grads).items():
            self.params[name] -= self.params[name].dtype.type(self.lr) * g


class Adam(_Optimizer):
    """Adam (Kingma & Ba), with bias correction and epsilon placed exactly as in torch.optim.Adam:

        m = beta1 m + (1 - beta1) g;   v = beta2 v + (1 - beta2) g^2
        param -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + epsilon)

    ``weight_decay`` adds weight_decay * param to the gradient first (L2, as torch.optim.Adam, not AdamW).
    """

    def __init__(self, params, lr=1e-3, beta1=0.9, beta2=0.999, epsilon=1e-8, weight_decay=0.0, max_grad_norm=None,
                 backend="cpu"):
        super().__init__(params, lr, max_grad_norm)
        self.beta1 = _validate.real("beta1", beta1, 0.0, 1.0, high_open=True)
        self.beta2 = _validate.real("beta2", beta2, 0.0, 1.0, high_open=True)
        self.epsilon = _validate.real("epsilon", epsilon, 0.0)
        self.weight_decay = _validate.real("weight_decay", weight_decay, 0.0)
        self.backend = get_backend(backend)
        self.t = 0
        self.m = {name: np.zeros_like(p) for name, p in self.params.items()}
        self.v = {name: np.zeros_like(p) for name, p in self.params.items()}

    def step(self, grads):
        grads = self._checked(grads)
        self.t += 1
        for name, p in self.params.items():
            self.backend.adam_update(p, self.m[name], self.v[name], grads[name], self.lr, self.beta1, self.beta2,
                                     self.epsilon, self.weight_decay, self.t)
