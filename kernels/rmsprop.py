"""One RMSprop step on one parameter array, in place, with the arithmetic of torch.optim.RMSprop (not centred).

    g   = grad_scale * grad + weight_decay * param
    v   = alpha * v + (1 - alpha) * g^2                 the running mean of the squared gradient ("square_avg")
    u   = g / (sqrt(v) + eps)
    m   = momentum * m + u,   param -= lr * m           with momentum > 0 ("momentum_buffer")
          param -= lr * u                               with momentum = 0 (m is left as it is)

param, grad, m and v share one shape and dtype; grad_scale is the factor of gradient clipping (1 without), a scalar of
that dtype, as for Adam (kernels/adam.py, which says why it is applied here). Called once over all of a model's
parameters at once when they share one flat buffer.
"""
import numpy as np
from numba import njit, prange

from ._config import PARALLEL


def rmsprop_update_numpy(param, m, v, grad, grad_scale, lr, alpha, eps, weight_decay, momentum):
    """Updates param, v and (with momentum) m in place."""
    g = grad * grad_scale + weight_decay * param
    v *= alpha
    v += (1 - alpha) * g * g
    u = g / (np.sqrt(v) + eps)
    if momentum > 0:
        m *= momentum
        m += u
        param -= lr * m
    else:
        param -= lr * u


def _rmsprop_update(param, m, v, grad, grad_scale, lr, alpha, eps, weight_decay, momentum):
    pf = param.reshape(-1)
    mf = m.reshape(-1)
    vf = v.reshape(-1)
    gf = grad.reshape(-1)
    for k in prange(pf.size):
        g = gf[k] * grad_scale + weight_decay * pf[k]
        vf[k] = alpha * vf[k] + (1 - alpha) * g * g
        u = g / (np.sqrt(vf[k]) + eps)
        if momentum > 0:
            mf[k] = momentum * mf[k] + u
            pf[k] -= lr * mf[k]
        else:
            pf[k] -= lr * u


rmsprop_update_numba = njit(**PARALLEL)(_rmsprop_update)
