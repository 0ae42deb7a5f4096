"""A TCN as ONNX operators: the whole sequence (``forward``) and the streaming step (``step``).

The graph is the one a user would write by hand from the model's definition (pytcn/nn/block.py):

    x (N, T, C_in) ─ Transpose ─► (N, C_in, T)
    per block:   Conv(K, d, pads (K-1)*d on the left) ─ [norm] ─ Relu ─ Conv ─ [norm] ─ Relu ─► branch
                 Add(branch, x or Conv 1x1 of x) ─ Relu ─► the block's output
    features:    the last block's output, or the sum (Add) of every branch (skip connections)
    head:        Gather of the last step (padding='same': step T // 2) or ReduceMean over the steps (pooling='mean'),
                 then Gemm; or, with return_sequences, Transpose, MatMul and Add at every step

Weight normalisation is folded into plain weights (W = g v / ||v||, computed by the model's own kernel, so that the
graph holds the very weights pytcn's forward uses); dropout, off at inference, has no node; layer normalisation is
LayerNormalization over the channels of each step (between two Transposes, since it normalises the last axes) and
batch normalisation is BatchNormalization with the running statistics. Batch and time are dynamic axes.

The streaming graph runs a chunk of steps (one or more) from the convolutions' histories: each convolution's input
is its history, the last (K-1)*d inputs it saw, oldest first, followed by the chunk; it runs without padding and
its history goes out updated, the last (K-1)*d columns of that concatenation. So a step's arithmetic is
O(layers * C^2 * K) whatever the receptive field, as model.step's; but a graph cannot update its inputs in place, so
each step also copies every history, N * C * (K-1) * d numbers per convolution, where model.step writes one row of a
ring buffer (benchmarks/streaming_results.md measures what that costs at batch 64). The outputs are what model.step
gives.

    inputs:   x (N, T_chunk, C_in); "tcn.network.{b}.conv1" (N, C_in, L), "tcn.network.{b}.conv2" (N, C_out, L)
    outputs:  y (N, T_chunk, outputs); "tcn.network.{b}.conv1.next", ...: the histories after the chunk

(L = (K-1)*d: none for K = 1.) pytcn's own stream keeps its histories as ring buffers (N, L, C) indexed by the step
(kernels/stream.py); ``stream_inputs`` turns such a state into the graph's histories, or makes zeros.
"""
import numpy as np

from ..runtime.backends import to_numpy


def check_exportable(model, streaming):
    """A TCN, and for ``streaming`` one that can stream (model.stream's own check says why not)."""
    from ..nn.model import TCN

    if not isinstance(model, TCN):
        raise TypeError(f"model must be a pytcn.TCN (or a fitted TCNClassifier, TCNRegressor or TCNForecaster), "
                        f"got {type(model).__name__}" + (": the recurrent baselines are not exported to ONNX"
                                                          if type(model).__name__ in ("GRU", "LSTM") else ""))
    if streaming:
        from ..nn.streaming import _check_streamable

        _check_streamable(model)


def weights(model):
    """{name: NumPy array}: each convolution's effective weight W and bias, the norms' parameters and running
    statistics, the head's W and b, in the model's dtype, under the model's state_dict names."""
    arrays = {}
    for b, block in enumerate(model.blocks):
        for name, conv in (("conv1", block.conv1), ("conv2", block.conv2), ("downsample", block.downsample)):
            if conv is not None:
                arrays[f"tcn.network.{b}.{name}.weight"] = to_numpy(conv.weight())  # g v / ||v|| when normalised
                arrays[f"tcn.network.{b}.{name}.bias"] = to_numpy(conv.params["bias"])
        for name, norm in (("norm1", block.norm1), ("norm2", block.norm2)):
            if norm is not None:
                for key, a in list(norm.params.items()) + list(norm.buffers.items()):
                    if key != "num_batches_tracked":
                        arrays[f"tcn.network.{b}.{name}.{key}"] = to_numpy(a)
    arrays["linear.weight"] = to_numpy(model.linear.params["weight"])
    arrays["linear.bias"] = to_numpy(model.linear.params["bias"])
    return arrays


def features(g, model, h, arrays, histories=None):
    """The blocks on h (N, C_in, T) -> the features the head reads, (N, F, T). ``histories``: None for the whole
    sequence; for the streaming graph, {state name: graph input}, filled with {state name + '.next': output}."""
    summed = None
    for b, block in enumerate(model.blocks):
        prefix = f"tcn.network.{b}."
        h1 = _conv_norm_relu(g, block.conv1, block.norm1, h, arrays, prefix, "conv1", histories)
        branch = _conv_norm_relu(g, block.conv2, block.norm2, h1, arrays, prefix, "conv2", histories)
        residual = h if block.downsample is None else _conv(g, block.downsample, h, arrays, prefix + "downsample",
                                                             pads=[0, 0])
        h = g.node("Relu", [g.node("Add", [branch, residual], name=prefix + "add")], name=prefix + "relu_out")
        if model.use_skip_connections:
            summed = branch if summed is None else g.node("Add", [summed, branch], name=prefix + "skip_sum")
    return summed if model.use_skip_connections else h


def _conv(g, conv, h, arrays, name, pads):
    W = g.constant(f"{name}.weight", arrays[f"{name}.weight"])
    bias = g.constant(f"{name}.bias", arrays[f"{name}.bias"])
    return g.node("Conv", [h, W, bias], name=name, dilations=[conv.dilation], pads=pads,
                  kernel_shape=[conv.kernel_size], strides=[1], group=1)


def _conv_norm_relu(g, conv, norm, h, arrays, prefix, which, histories):
    name = prefix + which
    L = conv.history_length
    if histories is None:
        span = (conv.kernel_size - 1) * conv.dilation
        # causal: every zero on the left; same: the taps centred, span // 2 on the left and the rest on the right,
        # what Conv1D.forward's pad-right-and-crop computes (pytcn/nn/layers.py)
        pads = [span, 0] if conv.padding == "causal" else [span // 2, span - span // 2]
        y = _conv(g, conv, h, arrays, name, pads)
    else:
        if L > 0:  # the history, oldest first, then the chunk: every input the chunk's outputs read
            window = g.node("Concat", [histories[name], h], name=f"{name}.window", axis=2)
            starts, ends, axes = (g.constant(f"{name}.{k}", np.array([v], np.int64))
                                  for k, v in (("from", -L), ("to", np.iinfo(np.int64).max), ("axis", 2)))
            histories[f"{name}.next"] = g.node("Slice", [window, starts, ends, axes], name=f"{name}.history")
            h = window
        y = _conv(g, conv, h, arrays, name, [0, 0])
    if norm is not None:
        y = _norm(g, norm, y, arrays, prefix + ("norm1" if which == "conv1" else "norm2"))
    return g.node("Relu", [y], name=f"{name}.relu")


def _norm(g, norm, y, arrays, name):
    from ..nn.layers import LayerNorm

    weight = g.constant(f"{name}.weight", arrays[f"{name}.weight"])
    bias = g.constant(f"{name}.bias", arrays[f"{name}.bias"])
    if isinstance(norm, LayerNorm):  # over the channels of each step: the last axis once transposed
        rows = g.node("Transpose", [y], name=f"{name}.to_steps", perm=[0, 2, 1])
        rows = g.node("LayerNormalization", [rows, weight, bias], name=name, axis=-1, epsilon=float(norm.eps))
        return g.node("Transpose", [rows], name=f"{name}.to_channels", perm=[0, 2, 1])
    mean = g.constant(f"{name}.running_mean", arrays[f"{name}.running_mean"])
    var = g.constant(f"{name}.running_var", arrays[f"{name}.running_var"])
    return g.node("BatchNormalization", [y, weight, bias, mean, var], name=name, epsilon=float(norm.eps))


def head(g, model, feats, arrays, every_step):
    """The linear head on the features (N, F, T): (N, outputs) from the step or mean it reads, or (N, T, outputs)
    at every step (``every_step``: return_sequences, and the streaming graph's outputs)."""
    W, b = arrays["linear.weight"], arrays["linear.bias"]
    if every_step:
        rows = g.node("Transpose", [feats], name="head.to_steps", perm=[0, 2, 1])  # N, T, F
        y = g.node("MatMul", [rows, g.constant("linear.weight_t", np.ascontiguousarray(W.T))], name="linear.matmul")
        return g.node("Add", [y, g.constant("linear.bias", b)], name="linear")
    if model.pooling == "mean":
        row = g.node("ReduceMean", [feats], name="head.mean", axes=[2], keepdims=0)
    elif model.padding == "same":  # step T // 2, as keras-tcn's head reads a non-causal TCN
        T = g.node("Gather", [g.node("Shape", [feats], name="head.shape"),
                              g.constant("head.time_axis", np.array(2, np.int64))], name="head.T", axis=0)
        middle = g.node("Div", [T, g.constant("head.two", np.array(2, np.int64))], name="head.middle")
        row = g.node("Gather", [feats, middle], name="head.step", axis=2)
    else:
        row = g.node("Gather", [feats, g.constant("head.last", np.array(-1, np.int64))], name="head.step", axis=2)
    return g.node("Gemm", [row, g.constant("linear.weight", W), g.constant("linear.bias", b)], name="linear",
                  transB=1)


def stream_inputs(model, batch_size=None, state=None):
    """The streaming graph's history inputs, {name: (N, C, L) NumPy array, oldest step first}: zeros for
    ``batch_size`` sequences, or the histories of ``state``, a stream state of ``model.stream`` (pytcn's ring
    buffers: the input of step s in slot s % L; the steps before the first are zeros there as here)."""
    from ..nn.streaming import _checked_batch_size, check_state, history_shapes

    check_exportable(model, streaming=True)
    if batch_size is not None:
        batch_size = _checked_batch_size(model, batch_size)
    if state is None:
        if batch_size is None:
            raise TypeError("stream_inputs needs batch_size (the number of sequences) or a state of model.stream")
        return {name: np.zeros((N, C, L), model.dtype) for name, (N, L, C) in
                history_shapes(model, batch_size).items()}
    N = check_state(model, state)
    if batch_size is not None and batch_size != N:
        raise ValueError(f"batch_size is {batch_size}, but the state given holds {N} sequences")
    t = int(state["step"])
    out = {}
    for name, (_, L, _) in history_shapes(model, N).items():
        ring = to_numpy(state[name])  # N, L, C
        order = [(t - L + i) % L for i in range(L)]  # the slots of steps t - L, ..., t - 1
        out[name] = np.ascontiguousarray(ring[:, order, :].transpose(0, 2, 1))
    return out
