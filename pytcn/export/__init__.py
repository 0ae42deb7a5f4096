"""Export to ONNX, the format that onnxruntime, TensorRT, OpenVINO and browsers (onnxruntime-web) read.

    import pytcn.export
    pytcn.export.to_onnx(model, "model.onnx")                       # x (N, T, C_in) -> y, as model.forward
    pytcn.export.to_onnx(model, "step.onnx", streaming=True)        # a chunk of steps and the histories, as model.step
    pytcn.export.to_onnx(classifier, "classifier.onnx")             # a fitted estimator: X (N, C, T) -> label, ...

    import onnxruntime
    session = onnxruntime.InferenceSession("model.onnx")
    y = session.run(None, {"x": x.astype(np.float32)})[0]

What each graph holds and why: pytcn/export/tcn.py (the TCN, whole and streaming) and pytcn/export/estimators.py (the
estimators' normalisation and heads). Needs the onnx package (pip install 'pytcn[onnx]', which brings onnxruntime
too); importing this module does not.

    graph.py        the builder over onnx.helper; OPSET, the opset every graph is made for (17)
    tcn.py          the TCN's operators; stream_inputs, the histories a streaming graph starts from
    estimators.py   TCNClassifier, TCNRegressor and TCNForecaster around them
"""
import json
import warnings

import numpy as np

from ..runtime import validate
from ..runtime.files import write_atomic
from . import estimators as _estimators
from . import tcn as _tcn
from .graph import OPSET, Graph, onnx_modules

__all__ = ["to_onnx", "stream_inputs", "OPSET"]


def to_onnx(model, path=None, *, streaming=False):
    """The ONNX graph of ``model`` (a pytcn.TCN, or a fitted TCNClassifier, TCNRegressor or TCNForecaster), checked
    by onnx.checker; written to ``path`` (atomically) when given. Returns the onnx.ModelProto.

    A TCN's graph: input ``x`` (N, T, input_channels), output ``y``, (N, outputs) or with return_sequences
    (N, T, outputs), what ``model.forward(x)`` returns (N and T dynamic). ``streaming=True`` (a TCN only): the
    graph of ``model.step``, inputs ``x`` (N, T_chunk, input_channels) and each convolution's history (see
    ``stream_inputs``), outputs ``y`` (N, T_chunk, outputs) and the histories after the chunk, named as the inputs
    with ``.next`` added. An estimator's graph: see pytcn/export/estimators.py.

    The graph has the model's dtype. A float64 one passes onnx.checker and runs in onnx.reference, but onnxruntime's
    CPU provider has no float64 Conv: a warning says so (nothing is cast behind the user's back)."""
    from ..nn.model import TCN

    streaming = validate.boolean("streaming", streaming)
    if path is not None:
        path = validate.file_path("path", path)
    onnx, _, _, _ = onnx_modules()
    kind = type(model).__name__
    if isinstance(model, TCN):
        _tcn.check_exportable(model, streaming)
        proto = _tcn_graph(model, streaming, {"pytcn.model": json.dumps(model.config)})
    elif kind in ("TCNClassifier", "TCNRegressor", "TCNForecaster") and _is_estimator(model):
        if streaming:
            raise ValueError(f"streaming=True exports a TCN's step; a {kind}'s TCN averages its features over every "
                             f"step (pooling='mean'), which cannot stream: export it without streaming")
        metadata = {"pytcn.estimator": kind}
        if kind == "TCNClassifier":
            metadata["pytcn.classes"] = json.dumps([c.item() if hasattr(c, "item") else c for c in model.classes_])
        proto = _estimator_graph(model, kind, metadata)
    else:
        _tcn.check_exportable(model, streaming)  # the TypeError that names what was given
    onnx.checker.check_model(proto, full_check=True)
    tcn = model if isinstance(model, TCN) else model.regressor_.model_ if kind == "TCNForecaster" else model.model_
    if tcn.dtype == np.float64:
        warnings.warn("the graph is float64, as the model is: onnx.checker and onnx.reference take it, but "
                      "onnxruntime's CPU provider has no float64 Conv (a model built with dtype='float32' runs there)",
                      stacklevel=2)
    if path is not None:
        try:  # protobuf's encoding, as onnx.save_model writes it
            write_atomic(path, lambda f: f.write(proto.SerializeToString()))
        except OSError as e:  # named by the path asked for, not by the temporary file beside it
            raise type(e)(e.errno, f"{path}: cannot be written ({e.strerror or e})") from None
    return proto


def stream_inputs(model, batch_size=None, state=None):
    """The histories a streaming graph of ``model`` starts from, {input name: (N, C, L) array}: zeros for
    ``batch_size`` sequences at their start, or those of ``state`` (a state of ``model.stream``, at any step), so
    that a stream begun in pytcn goes on in onnxruntime."""
    return _tcn.stream_inputs(model, batch_size, state)


def _is_estimator(est):
    """Whether ``est`` is one of pytcn.estimators' classes (scikit-learn is imported only when its class name is
    one of theirs); one that is not fitted raises scikit-learn's NotFittedError."""
    from sklearn.utils.validation import check_is_fitted

    from ..estimators import ESTIMATORS

    if type(est) is not ESTIMATORS[type(est).__name__]:
        return False
    check_is_fitted(est, "regressor_" if type(est).__name__ == "TCNForecaster" else "model_")
    return True


def _tcn_graph(model, streaming, metadata):
    g = Graph("pytcn_tcn_step" if streaming else "pytcn_tcn")
    arrays = _tcn.weights(model)
    x = g.input("x", model.dtype, ["N", "T_chunk" if streaming else "T", model.input_channels])
    h = g.node("Transpose", [x], name="to_channels", perm=[0, 2, 1])  # N, C_in, T: Conv's layout
    if streaming:
        from ..nn.streaming import history_shapes

        shapes = history_shapes(model, 1)
        histories = {name: g.input(name, model.dtype, ["N", C, L]) for name, (_, L, C) in shapes.items()}
        feats = _tcn.features(g, model, h, arrays, histories)
        g.output(_tcn.head(g, model, feats, arrays, every_step=True), "y", model.dtype,
                 ["N", "T_chunk", model.outputs])
        for name, (_, L, C) in shapes.items():
            g.output(histories[f"{name}.next"], f"{name}.next", model.dtype, ["N", C, L])
        doc = ("pytcn TCN, streaming step: x (N, T_chunk, input_channels) and each convolution's history (N, C, "
               "(K-1)*d), oldest step first -> y (N, T_chunk, outputs) and the histories after the chunk")
    else:
        feats = _tcn.features(g, model, h, arrays)
        y = _tcn.head(g, model, feats, arrays, every_step=model.return_sequences)
        g.output(y, "y", model.dtype, ["N", "T", model.outputs] if model.return_sequences else ["N", model.outputs])
        doc = "pytcn TCN: x (N, T, input_channels) -> y, as TCN.forward"
    return g.model(doc, metadata)


def _estimator_graph(est, kind, metadata):
    g = Graph(f"pytcn_{kind}")
    {"TCNClassifier": _estimators.classifier, "TCNRegressor": _estimators.regressor,
     "TCNForecaster": _estimators.forecaster}[kind](g, est)
    return g.model(f"pytcn {kind}: what predict returns (pytcn/export/estimators.py)", metadata)
