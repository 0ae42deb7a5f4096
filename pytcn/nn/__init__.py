"""The network and its maths: layers as forward/backward pairs, the residual block, the TCN, its losses, optimizers,
initializers, the gradient check, streaming inference, and a model saved and loaded. Built on the kernels and the
runtime; knows nothing of training runs, sweeps or the command line."""
