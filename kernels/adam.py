"""One Adam step on one parameter array, in place, with the arithmetic of torch.optim.Adam (weight_decay as L2).

    g  = grad_scale * grad + weight_decay * param
    m  = beta1 * m + (1 - beta1) * g
    v  = beta2 * v + (1 - beta2) * g^2
    param -= (lr / (1 - beta1^step)) * m / (sqrt(v) / sqrt(1 - beta2^step) + eps)

``step`` counts from 1 (the first update is step 1). param, grad, m and v share one shape and dtype; grad_scale is
a scalar of that dtype: the factor of gradient clipping (1 without), applied here rather than in a pass of its own
over a copy of the gradients. Its product with grad is rounded to the dtype, as torch.nn.utils.clip_grad_norm_'s
in-place scaling rounds it, so clipping here or before gives the same bits. Called once over all of a model's
parameters at once when they share one flat buffer (pytcn.nn.model), so one pass updates everything.
"""
import numpy as np
from numba import njit, prange

from ._config import PARALLEL


def adam_update_numpy(param, m, v, grad, grad_scale, lr, beta1, beta2, eps, weight_decay, step):
    """Updates param, m and v in place."""
    g = grad * grad_scale + weight_decay * param
    m *= beta1
    m += (1 - beta1) * g
    v *= beta2
    v += (1 - beta2) * g * g
    step_size = lr / (1 - beta1 ** step)
    denom = np.sqrt(v) / np.sqrt(1 - beta2 ** step) + eps
    param -= step_size * m / denom


def _adam_update(param, m, v, grad, grad_scale, lr, beta1, beta2, eps, weight_decay, step):
    pf = param.reshape(-1)
    mf = m.reshape(-1)
    vf = v.reshape(-1)
    gf = grad.reshape(-1)
    step_size = lr / (1 - beta1 ** step)
    bias_correction2_sqrt = np.sqrt(1 - beta2 ** step)
    for k in prange(pf.size):
        g = gf[k] * grad_scale + weight_decay * pf[k]
        mf[k] = beta1 * mf[k] + (1 - beta1) * g
        vf[k] = beta2 * vf[k] + (1 - beta2) * g * g
        pf[k] -= step_size * mf[k] / (np.sqrt(vf[k]) / bias_correction2_sqrt + eps)


adam_update_numba = njit(**PARALLEL)(_adam_update)
