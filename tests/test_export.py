"""ONNX export (pytcn/export/): every graph passes onnx.checker, and run in onnxruntime it gives what pytcn gives.

- The whole-sequence graph equals ``model.forward`` within 1e-5 (relative to the outputs' largest magnitude, at
  least 1) on every architecture option and several T; the streaming graph, run one step at a time and in chunks,
  equals ``model.step`` and the full forward at every step, from zeros and from a pytcn stream state taken midway.
- The estimators' graphs equal predict and predict_proba.
- Without onnxruntime (these tests skip, saying so), the graph's structure is checked with onnx alone, and its
  numbers with onnx's own reference evaluator (NumPy; float64 too, which onnxruntime's Conv does not take).
- Bad input: what cannot be exported is refused by name.
"""
import importlib.util
import os

import numpy as np
import pytest

import pytcn
import pytcn.export as export
from tests.helpers import one_numba_thread, randomize, readme_block, run_cli  # noqa: F401 (one_numba_thread: autouse)

onnx = pytest.importorskip("onnx", reason="the onnx package is not installed (pip install 'pytcn[onnx]')")
HAS_ORT = importlib.util.find_spec("onnxruntime") is not None
needs_ort = pytest.mark.skipif(not HAS_ORT, reason="onnxruntime is not installed (pip install 'pytcn[onnx]'); the "
                               "graphs' numbers are still checked with onnx.reference, and their structure")

TOL = 1e-5  # float32: max |onnx - pytcn| <= TOL * max(1, max |pytcn|)

#: the architecture options a graph must express, each on its own (and several together at the end)
OPTIONS = {
    "plain": {},
    "no_skip": dict(use_skip_connections=False),
    "weight_norm": dict(use_weight_norm=True),
    "layer_norm": dict(use_layer_norm=True),
    "batch_norm": dict(use_batch_norm=True),
    "padding_same": dict(padding="same"),
    "padding_same_odd_spans": dict(padding="same", kernel_size=4, dilations=[1, 3]),
    "padding_same_mean": dict(padding="same", pooling="mean"),
    "dropout_elementwise": dict(dropout_rate=0.3, dropout_type="elementwise"),
    "dropout_spatial": dict(dropout_rate=0.3),
    "sequence_head": dict(return_sequences=True),
    "mean_pooling": dict(pooling="mean"),
    "two_stacks": dict(nb_stacks=2),
    "unequal_widths": dict(nb_filters=[4, 6, 3], use_skip_connections=False),
    "kernel_size_1": dict(kernel_size=1),
    "together": dict(nb_stacks=2, use_weight_norm=True, return_sequences=True, use_skip_connections=False,
                     nb_filters=[3, 5, 4]),
}


#: TCN's arguments that change no graph (the seed, the initial weights, the backend) or that a grid entry above sets
NOT_IN_GRID = {"input_channels", "outputs", "seed", "kernel_initializer", "backend", "dtype", "activation"}


def test_every_architecture_argument_is_in_the_grid():
    """A new argument of TCN must get a row in OPTIONS (or a reason in NOT_IN_GRID)."""
    import inspect

    arguments = set(inspect.signature(pytcn.TCN).parameters)
    covered = {key for options in OPTIONS.values() for key in options} | NOT_IN_GRID
    assert arguments - covered == set(), f"TCN arguments no export test varies: {sorted(arguments - covered)}"


def make_model(dtype=np.float32, seed=1, **options):
    """A small TCN with every parameter random (biases too) and batch norm's running statistics away from 0 and 1."""
    config = dict(input_channels=3, outputs=2, nb_filters=5, kernel_size=3, dilations=[1, 2, 4], seed=seed,
                  dtype=dtype) | options
    model = pytcn.TCN(**config)
    rng = np.random.default_rng(seed + 100)
    randomize(model.params, rng)
    for name, buffer in model.buffers.items():
        if name.endswith("running_mean"):
            buffer[...] = rng.standard_normal(buffer.shape)
        elif name.endswith("running_var"):
            buffer[...] = rng.uniform(0.5, 2.0, buffer.shape)
    return model


def streamable(options):
    return options.get("padding", "causal") == "causal" and options.get("pooling", "last") == "last"


def session(proto):
    import onnxruntime

    return onnxruntime.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])


def assert_equal_within(actual, expected, what, tol=TOL):
    """max |actual - expected| <= tol * max(1, max |expected|): the issue's 1e-5 for float32, relative to the outputs'
    scale (tests/helpers.assert_close's float32 tolerance, 2e-4, is looser than the export is asked to be)."""
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    scale = max(1.0, float(np.abs(expected).max()))
    error = np.abs(actual.astype(np.float64) - expected)
    worst = np.unravel_index(int(np.argmax(error)), error.shape)
    assert error[worst] <= tol * scale, (f"{what}: differs by {error[worst]:.3g} at {tuple(map(int, worst))} "
                                         f"({actual[worst]!r} != {expected[worst]!r}; allowed {tol} x {scale:.3g})")


def run_stream(run, model, x, chunk, histories):
    """x (N, T, C) through a streaming graph ``run(inputs) -> {name: array}``, ``chunk`` steps per call: the
    outputs (N, T, outputs) and the histories at the end."""
    ys = []
    for t in range(0, x.shape[1], chunk):
        out = run({"x": x[:, t:t + chunk], **histories})
        ys.append(out["y"])
        histories = {name: out[f"{name}.next"] for name in histories}
    return np.concatenate(ys, axis=1), histories


def ort_runner(proto):
    s = session(proto)
    names = [o.name for o in s.get_outputs()]
    return lambda feeds: dict(zip(names, s.run(None, feeds)))


# ----------------------------------------------------------------------------------------------------------------
# The TCN, in onnxruntime


@needs_ort
@pytest.mark.parametrize("name", list(OPTIONS))
def test_graph_equals_forward_on_every_option(name):
    model = make_model(**OPTIONS[name])
    s = session(export.to_onnx(model))
    rng = np.random.default_rng(3)
    for N, T in ((1, 1), (4, 7), (3, 40)):
        x = rng.standard_normal((N, T, 3)).astype(np.float32)
        (y,) = s.run(None, {"x": x})
        assert_equal_within(y, model.forward(x), f"{name}, N={N} T={T}")


@needs_ort
@pytest.mark.parametrize("chunk", [1, 3])
@pytest.mark.parametrize("name", [name for name, options in OPTIONS.items() if streamable(options)])
def test_streaming_graph_equals_step_and_forward_at_every_step(name, chunk):
    model = make_model(**OPTIONS[name])
    run = ort_runner(export.to_onnx(model, streaming=True))
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 11, 3)).astype(np.float32)
    y, _ = run_stream(run, model, x, chunk, export.stream_inputs(model, 3))
    stepped, _ = model.step(x, model.stream(3))
    assert_equal_within(y, stepped, f"{name}: streamed in chunks of {chunk} vs model.step")
    for t in range(x.shape[1]):  # step t: what forward gives for the sequence cut after t
        full = model.forward(x[:, :t + 1])
        assert_equal_within(y[:, t], full[:, t] if model.return_sequences else full, f"{name}: step {t}")


@needs_ort
def test_a_stream_begun_in_pytcn_goes_on_in_onnxruntime():
    """stream_inputs turns model.stream's ring buffers, at any step, into the graph's histories (oldest first)."""
    model = make_model(dilations=[1, 2, 4], kernel_size=3)
    run = ort_runner(export.to_onnx(model, streaming=True))
    x = np.random.default_rng(5).standard_normal((2, 13, 3)).astype(np.float32)
    for split in (1, 5, 9):  # past, at and before the longest history's length (8): every order of the ring
        state = model.stream(2)
        model.step(x[:, :split], state)
        y, _ = run_stream(run, model, x[:, split:], 1, export.stream_inputs(model, state=state))
        assert_equal_within(y, model.step(x, model.stream(2))[0][:, split:], f"going on after step {split}")


# ----------------------------------------------------------------------------------------------------------------
# Without onnxruntime: the graph's numbers through onnx.reference, and its structure


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("name", ["plain", "together", "layer_norm", "batch_norm", "padding_same", "mean_pooling"])
def test_graph_equals_forward_in_onnx_reference_evaluator(name, dtype):
    """onnx's own evaluator (NumPy): the same numbers as pytcn without onnxruntime, float64 included (1e-10)."""
    import warnings

    from onnx.reference import ReferenceEvaluator

    model = make_model(dtype=dtype, **OPTIONS[name])
    x = np.random.default_rng(6).standard_normal((2, 9, 3)).astype(dtype)
    with warnings.catch_warnings():  # float64: the warning that onnxruntime cannot run it (tested on its own)
        warnings.simplefilter("ignore" if dtype == np.float64 else "error")
        proto = export.to_onnx(model)
    (y,) = ReferenceEvaluator(proto).run(None, {"x": x})
    assert y.dtype == dtype
    assert_equal_within(y, model.forward(x), name, tol=TOL if dtype == np.float32 else 1e-10)


def test_streaming_graph_in_onnx_reference_evaluator():
    from onnx.reference import ReferenceEvaluator

    model = make_model(use_batch_norm=True, return_sequences=True)
    ev = ReferenceEvaluator(export.to_onnx(model, streaming=True))
    names = [o.name for o in ev.proto_.graph.output]
    x = np.random.default_rng(7).standard_normal((2, 10, 3)).astype(np.float32)
    y, _ = run_stream(lambda feeds: dict(zip(names, ev.run(None, feeds))), model, x, 2, export.stream_inputs(model, 2))
    assert_equal_within(y, model.forward(x), "streamed in chunks of 2 vs forward")


def ops(proto):
    return [node.op_type for node in proto.graph.node]


def attribute(node, name):
    return onnx.helper.get_attribute_value(next(a for a in node.attribute if a.name == name))


def test_graph_is_the_one_a_user_would_write():
    model = make_model(nb_filters=[4, 6, 6], dilations=[1, 2, 4], kernel_size=3, use_weight_norm=True,
                       dropout_rate=0.2, use_skip_connections=False)
    proto = export.to_onnx(model)
    onnx.checker.check_model(proto, full_check=True)
    assert proto.opset_import[0].version == export.OPSET == 17
    convs = [n for n in proto.graph.node if n.op_type == "Conv"]
    # two per block, and a 1x1 downsample where the width changes (3 -> 4 and 4 -> 6)
    assert [n.name for n in convs] == ["tcn.network.0.conv1", "tcn.network.0.conv2", "tcn.network.0.downsample",
                                       "tcn.network.1.conv1", "tcn.network.1.conv2", "tcn.network.1.downsample",
                                       "tcn.network.2.conv1", "tcn.network.2.conv2"]
    for n in convs:
        block = model.blocks[int(n.name.split(".")[2])]
        conv = getattr(block, n.name.split(".")[3])
        d, K = conv.dilation, conv.kernel_size
        assert attribute(n, "dilations") == [d] and attribute(n, "kernel_shape") == [K]
        assert attribute(n, "pads") == [(K - 1) * d, 0], n.name  # causal: every zero on the left
    # weight normalisation folded into plain weights; dropout (inference) has no node
    names = {t.name for t in proto.graph.initializer}
    assert not any("weight_g" in name or "weight_v" in name for name in names)
    assert "Dropout" not in ops(proto)
    weight = onnx.numpy_helper.to_array(next(t for t in proto.graph.initializer
                                             if t.name == "tcn.network.1.conv2.weight"))
    assert np.array_equal(weight, pytcn.to_numpy(model.blocks[1].conv2.weight()))
    # no skip connections: the head reads the last block's output, on the last step (Gather of index -1 on the
    # time axis), then Gemm
    gather = next(n for n in proto.graph.node if n.name == "head.step")
    assert gather.op_type == "Gather" and attribute(gather, "axis") == 2
    index = next(t for t in proto.graph.initializer if t.name == gather.input[1])
    assert onnx.numpy_helper.to_array(index) == -1
    assert ops(proto)[-2:] == ["Gemm", "Identity"]
    # batch and time dynamic, channels fixed
    dims = [d.dim_param or d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["N", "T", 3]
    assert {p.key for p in proto.metadata_props} == {"pytcn.model"}


def test_padding_same_splits_the_zeros_and_norms_have_their_operators():
    proto = export.to_onnx(make_model(padding="same", kernel_size=4, dilations=[1, 3], use_layer_norm=True))
    pads = [attribute(n, "pads") for n in proto.graph.node if n.op_type == "Conv" and "downsample" not in n.name]
    assert pads == [[1, 2], [1, 2], [4, 5], [4, 5]]  # span (K-1)d = 3, 9: span // 2 left, the rest right
    assert ops(proto).count("LayerNormalization") == 4
    assert ops(export.to_onnx(make_model(use_batch_norm=True))).count("BatchNormalization") == 6


def test_streaming_graph_has_a_history_per_convolution():
    model = make_model(dilations=[1, 2], kernel_size=3)
    proto = export.to_onnx(model, streaming=True)
    inputs = {i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim] for i in proto.graph.input}
    assert inputs == {"x": ["N", "T_chunk", 3], "tcn.network.0.conv1": ["N", 3, 2], "tcn.network.0.conv2": ["N", 5, 2],
                      "tcn.network.1.conv1": ["N", 5, 4], "tcn.network.1.conv2": ["N", 5, 4]}
    assert [o.name for o in proto.graph.output] == ["y"] + [f"{name}.next" for name in list(inputs)[1:]]
    assert all(attribute(n, "pads") == [0, 0] for n in proto.graph.node if n.op_type == "Conv")
    convs = [n.name for n in proto.graph.node if n.op_type == "Conv" and not n.name.endswith("downsample")]
    assert convs == list(inputs)[1:]  # the state_dict's names
    assert export.to_onnx(make_model(kernel_size=1), streaming=True).graph.input[0].name == "x"
    assert len(export.to_onnx(make_model(kernel_size=1), streaming=True).graph.input) == 1  # K = 1: no history


def test_to_onnx_writes_the_file_atomically(tmp_path, monkeypatch):
    """A write that fails before its rename (a full disk, say) leaves the old file whole and no temporary file."""
    import pytcn.runtime.files as files

    path = tmp_path / "model.onnx"
    proto = export.to_onnx(make_model(), path)
    assert onnx.load(str(path)) == proto
    before = path.read_bytes()

    def no_rename(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "replace", no_rename)
    with pytest.raises(OSError, match=f"{path}: cannot be written"):
        export.to_onnx(make_model(use_batch_norm=True), path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["model.onnx"]


# ----------------------------------------------------------------------------------------------------------------
# Bad input


def test_what_cannot_be_exported_is_refused_by_name():
    with pytest.raises(TypeError, match="model must be a pytcn.TCN .* got GRU: the recurrent baselines"):
        export.to_onnx(pytcn.GRU(input_channels=2, outputs=1, hidden_size=3))
    with pytest.raises(TypeError, match="got dict"):
        export.to_onnx({"tcn.network.0.conv1.weight": np.zeros((1, 1, 1))})
    with pytest.raises(ValueError, match="padding='same' cannot stream"):
        export.to_onnx(make_model(padding="same"), streaming=True)
    with pytest.raises(ValueError, match="pooling='mean' cannot stream"):
        export.to_onnx(make_model(pooling="mean"), streaming=True)
    with pytest.raises(TypeError, match="streaming must be"):
        export.to_onnx(make_model(), streaming="yes")
    with pytest.raises(TypeError, match="batch_size"):
        export.stream_inputs(make_model())
    with pytest.raises(ValueError, match="batch_size is 3, but the state given holds 2"):
        model = make_model()
        export.stream_inputs(model, 3, state=model.stream(2))
    with pytest.raises(ValueError, match=r"^batch_size must be at most \d+ for this model"):
        export.stream_inputs(make_model(), 10 ** 18)


def test_an_unwritable_path_is_an_oserror_naming_it(tmp_path):
    folder = tmp_path / "folder"
    folder.mkdir()
    with pytest.raises(IsADirectoryError, match=f"{folder}"):
        export.to_onnx(make_model(), folder)
    missing = tmp_path / "no" / "model.onnx"
    with pytest.raises(FileNotFoundError, match=f"{tmp_path / 'no'}"):
        export.to_onnx(make_model(), missing)
    if os.geteuid() != 0:  # root writes anywhere
        folder.chmod(0o500)
        with pytest.raises(PermissionError, match=f"{folder / 'model.onnx'}: cannot be written"):
            export.to_onnx(make_model(), folder / "model.onnx")


def test_a_float64_model_exports_with_a_warning_that_onnxruntime_cannot_run_it():
    with pytest.warns(UserWarning, match="no float64 Conv"):
        proto = export.to_onnx(make_model(dtype=np.float64))
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE


@needs_ort
def test_readme_example_runs_and_gives_forward_and_step():
    import tempfile

    model = make_model(input_channels=2, outputs=1)
    namespace = {"np": np, "pytcn": pytcn, "model": model}
    with tempfile.TemporaryDirectory() as folder:
        cwd = os.getcwd()
        os.chdir(folder)
        try:
            exec(compile(readme_block("tests/test_export.py"), "README.md", "exec"), namespace)
        finally:
            os.chdir(cwd)
    x = namespace["x"]
    assert_equal_within(namespace["y"], model.forward(x), "the README's graph")
    assert_equal_within(namespace["y_t"][:, 0], model.forward(x), "the README's stream at its last step")


# ----------------------------------------------------------------------------------------------------------------
# The estimators


needs_sklearn = pytest.mark.skipif(importlib.util.find_spec("sklearn") is None,
                                   reason="scikit-learn is not installed (pip install 'pytcn[sklearn]')")


def cases(rng, n=24, C=2, T=12):
    return rng.standard_normal((n, C, T)) * 3 + 5  # an offset and a scale the normalisation removes


@needs_sklearn
@needs_ort
@pytest.mark.parametrize("normalize", ["channel", "series", None])
@pytest.mark.parametrize("labels", ["str", "int"])
def test_classifier_graph_equals_predict_and_predict_proba(labels, normalize):
    from pytcn.estimators import TCNClassifier

    rng = np.random.default_rng(8)
    X = cases(rng)
    y = rng.integers(0, 3, len(X))
    y = np.array(["cat", "dog", "eel"])[y] if labels == "str" else y * 10 - 5
    est = TCNClassifier(nb_filters=4, max_epochs=2, normalize=normalize, random_state=0).fit(X, y)
    X_new = cases(rng, n=9, T=15)
    label, proba = session(export.to_onnx(est)).run(["label", "probabilities"], {"X": X_new})
    assert np.array_equal(label, est.predict(X_new))
    assert_equal_within(proba, est.predict_proba(X_new), "probabilities")


@needs_sklearn
@needs_ort
@pytest.mark.parametrize("targets", [1, 2])
def test_regressor_graph_equals_predict(targets):
    from pytcn.estimators import TCNRegressor

    rng = np.random.default_rng(9)
    X = cases(rng)
    y = rng.standard_normal(len(X)) * 10 + 3 if targets == 1 else rng.standard_normal((len(X), 2))
    est = TCNRegressor(nb_filters=4, max_epochs=2, random_state=0).fit(X, y)
    (prediction,) = session(export.to_onnx(est)).run(None, {"X": X})
    assert_equal_within(prediction, est.predict(X), "prediction")


def forecaster_case(channels, normalize, horizon, seed=10):
    """A fitted TCNForecaster, its series y (200, channels) and exog (200, 1) or None."""
    from pytcn.estimators import TCNForecaster

    rng = np.random.default_rng(seed)
    t = np.arange(200)
    y = np.stack([np.sin(t / 7) * 4 + 10, np.cos(t / 5)], axis=1)[:, :channels] + rng.normal(0, 0.1, (200, channels))
    exog = rng.standard_normal((200, 1)) if channels == 2 else None
    est = TCNForecaster(window=20, horizon=horizon, normalize=normalize, nb_filters=4, max_epochs=2,
                        random_state=0).fit(y[:, 0] if channels == 1 else y, exog=exog)
    return est, y, exog


def forecaster_feeds(y, exog, ends):
    """The graph's inputs for the windows ending at each of ``ends`` (exclusive), stacked."""
    feeds = {"y": np.stack([y[end - 20:end] for end in ends])}
    if exog is not None:
        feeds["exog"] = np.stack([exog[end - 20:end] for end in ends])
    return feeds


@needs_sklearn
@needs_ort
@pytest.mark.parametrize("horizon", [1, 3])
@pytest.mark.parametrize("normalize", ["window", "last", "global"])
@pytest.mark.parametrize("channels", [1, 2])
def test_forecaster_graph_equals_predict_for_several_windows(channels, normalize, horizon):
    est, y, exog = forecaster_case(channels, normalize, horizon)
    ends = [200, 150, 73]  # the fitted series' end, and windows inside it
    (forecast,) = session(export.to_onnx(est)).run(None, forecaster_feeds(y, exog, ends))
    for k, end in enumerate(ends):
        past = y[:end, 0] if channels == 1 else y[:end]
        expected = est.predict(past, exog=None if exog is None else exog[:end])
        assert_equal_within(forecast[k], expected, f"forecast after step {end} ({normalize}, horizon {horizon})")


@needs_sklearn
def test_estimator_graphs_equal_predict_in_onnx_reference_evaluator():
    """Without onnxruntime: a classifier with bool labels, a regressor of y (n, 1) with normalize='series' on 2-D X,
    and a forecaster with exog, through onnx's own evaluator."""
    from onnx.reference import ReferenceEvaluator

    from pytcn.estimators import TCNClassifier, TCNRegressor

    rng = np.random.default_rng(14)
    X = cases(rng)
    est = TCNClassifier(nb_filters=4, max_epochs=2, random_state=0).fit(X, rng.integers(0, 2, len(X)) == 1)
    label, proba = ReferenceEvaluator(export.to_onnx(est)).run(["label", "probabilities"], {"X": X})
    assert label.dtype == bool and np.array_equal(label, est.predict(X))
    assert_equal_within(proba, est.predict_proba(X), "probabilities (onnx.reference)")
    X2 = X[:, 0, :]  # 2-D: (n_cases, n_timepoints), a univariate collection
    est = TCNRegressor(nb_filters=4, max_epochs=2, normalize="series", random_state=0).fit(X2, rng.standard_normal(
        (len(X2), 1)))
    (prediction,) = ReferenceEvaluator(export.to_onnx(est)).run(None, {"X": X2[:, None, :]})
    assert prediction.shape == (len(X2), 1)
    assert_equal_within(prediction, est.predict(X2), "prediction (onnx.reference)")
    est, y, exog = forecaster_case(2, "window", 2)
    (forecast,) = ReferenceEvaluator(export.to_onnx(est)).run(None, forecaster_feeds(y, exog, [200]))
    assert_equal_within(forecast[0], est.predict(), "forecast (onnx.reference)")


@needs_sklearn
def test_estimators_refuse_streaming_and_an_unfitted_one_is_not_exported():
    from sklearn.exceptions import NotFittedError

    from pytcn.estimators import TCNClassifier

    with pytest.raises(NotFittedError):
        export.to_onnx(TCNClassifier())
    rng = np.random.default_rng(11)
    est = TCNClassifier(nb_filters=4, max_epochs=1, random_state=0).fit(cases(rng), rng.integers(0, 2, 24))
    with pytest.raises(ValueError, match="streaming=True exports a TCN's step; a TCNClassifier"):
        export.to_onnx(est, streaming=True)


# ----------------------------------------------------------------------------------------------------------------
# pytcn export


@needs_ort
def test_cli_exports_a_training_run_and_its_streaming_step(tmp_path, capsys):
    run = tmp_path / "run"
    status, _, err = run_cli(["train", "copy-memory", "--length", "12", "--train-size", "32", "--val-size", "16",
                              "--test-size", "16", "--nb-filters", "3", "--kernel-size", "2", "--dilations", "1,2",
                              "--batch-size", "16", "--no-progress", "--epochs", "1", "--out", str(run)], capsys)
    assert status == 0, err
    model = pytcn.load_model(str(run))
    x = np.random.default_rng(12).standard_normal((2, 20, 1)).astype(np.float32)
    status, out, err = run_cli(["export", str(run), "--out", str(tmp_path / "model.onnx")], capsys)
    assert status == 0, err
    assert "TCN written to" in out and "opset 17" in out and "inputs x (N, T, 1)" in out
    (y,) = session(onnx.load(str(tmp_path / "model.onnx"))).run(None, {"x": x})
    assert_equal_within(y, model.forward(x), "pytcn export of a run")
    status, out, err = run_cli(["export", str(run / "checkpoint.npz"), "--streaming", "--out",
                                str(tmp_path / "step.onnx")], capsys)
    assert status == 0, err
    assert "(streaming step)" in out and "tcn.network.0.conv1.next" in out
    run_step = ort_runner(onnx.load(str(tmp_path / "step.onnx")))
    y, _ = run_stream(run_step, model, x, 1, export.stream_inputs(model, 2))
    assert_equal_within(y, model.step(x, model.stream(2))[0], "pytcn export --streaming")


@needs_sklearn
@needs_ort
def test_cli_exports_a_fitted_estimator(tmp_path, capsys):
    from pytcn.estimators import TCNRegressor

    rng = np.random.default_rng(13)
    X, y = cases(rng), rng.standard_normal(24)
    est = TCNRegressor(nb_filters=4, max_epochs=1, random_state=0).fit(X, y)
    est.save(str(tmp_path / "model.npz"))
    status, out, err = run_cli(["export", str(tmp_path), "--out", str(tmp_path / "est.onnx")], capsys)
    assert status == 0, err
    assert out.startswith("TCNRegressor written to")
    (prediction,) = session(onnx.load(str(tmp_path / "est.onnx"))).run(None, {"X": X})
    assert_equal_within(prediction, est.predict(X), "pytcn export of a fitted regressor")


def test_cli_says_in_one_line_what_it_cannot_export(tmp_path, capsys):
    pytcn.GRU(input_channels=2, outputs=1, hidden_size=3, seed=0).save(str(tmp_path / "gru.npz"))
    make_model(pooling="mean").save(str(tmp_path / "mean.npz"))
    (tmp_path / "empty").mkdir()
    (tmp_path / "taken").mkdir()
    cases_ = [
        (["gru.npz", "--out", "g.onnx"], "got GRU: the recurrent baselines are not exported"),
        (["mean.npz", "--streaming", "--out", "m.onnx"], "pooling='mean' cannot stream"),
        (["empty", "--out", "e.onnx"], "is a folder without a model"),
        (["missing.npz", "--out", "e.onnx"], "no such checkpoint file"),
        (["mean.npz", "--out", "m.txt"], "--out must end in .onnx"),
        (["mean.npz", "--out", "taken"], "must end in .onnx"),
        (["mean.npz", "--out", str(tmp_path / "gru.npz" / "x.onnx")], "--out"),
    ]
    for argv, message in cases_:
        argv = [str(tmp_path / argv[0])] + [a if a.startswith("--") or os.path.isabs(a) else str(tmp_path / a)
                                             for a in argv[1:]]
        status, out, err = run_cli(["export", *argv], capsys)
        assert status == 2 and out == "", (argv, status, out, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("pytcn: error: ") and message in lines[0], (argv, err)
    assert sorted(os.listdir(tmp_path)) == ["empty", "gru.npz", "mean.npz", "taken"]  # nothing half-written
