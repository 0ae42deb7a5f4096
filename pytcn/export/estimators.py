"""The fitted estimators as ONNX graphs: what predict does, the input normalisation and the output head included.

    TCNClassifier   X (N, C, T) float64 -> label (N,), probabilities (N, n_classes) float64, columns as classes_
    TCNRegressor    X (N, C, T) float64 -> prediction (N,) or (N, n_targets) float64
    TCNForecaster   y (N, window, C) float64 [, exog (N, window, k)] -> forecast (N, horizon) or (N, horizon, C)

X is aeon's layout (n_cases, n_channels, n_timepoints) (an estimator fitted on 2-D X, (n_cases, n_timepoints),
takes X[:, None, :]), float64 as predict reads it: the normalisation is computed
in float64, as pytcn does, and only its result is cast to the model's dtype (a float32 input would lose the digits
that a channel's mean shifts away). The graph takes cases of one length (T is a dynamic axis); a collection of
unequal lengths needs pytcn, whose forward reads each case's own steps (``lengths``).

The forecaster's graph forecasts after each of N windows, the last ``window`` steps of N series (or N points of
one series, as backtest does): its normalisation of each window ('window', 'last' or 'global'), the regressor
inside, and the normalisation undone.
"""
import numpy as np

from . import tcn


def _model_outputs(g, model, x):
    """x: (N, C, T) in float64, normalised -> the model's outputs (N, outputs) in float64."""
    arrays = tcn.weights(model)
    h = g.node("Cast", [x], name="to_model_dtype", to=g.elem_type(model.dtype))
    y = tcn.head(g, model, tcn.features(g, model, h, arrays), arrays, every_step=False)
    return g.node("Cast", [y], name="to_float64", to=g.elem_type(np.float64))


def _normalised(g, est, X):
    """X (N, C, T) float64 as fit normalised it: 'channel' by the fitted mean_ and scale_, 'series' each case by
    its own mean and standard deviation over its steps (0 -> 1), None unchanged."""
    if est.normalize == "channel":
        mean = g.constant("normalize.mean", np.asarray(est.mean_, np.float64).reshape(1, -1, 1))
        scale = g.constant("normalize.scale", np.asarray(est.scale_, np.float64).reshape(1, -1, 1))
        return g.node("Div", [g.node("Sub", [X, mean], name="normalize.center"), scale], name="normalize")
    if est.normalize == "series":
        return _standardised(g, X, axis=2, name="normalize")[0]
    return X


def _standardised(g, v, axis, name):
    """((v - mean) / std, mean, std) over ``axis`` (kept), the std of 0 taken as 1, as NumPy's two-pass v.std()."""
    mean = g.node("ReduceMean", [v], name=f"{name}.mean", axes=[axis], keepdims=1)
    centred = g.node("Sub", [v, mean], name=f"{name}.center")
    var = g.node("ReduceMean", [g.node("Mul", [centred, centred], name=f"{name}.square")], name=f"{name}.var",
                 axes=[axis], keepdims=1)
    std = g.node("Sqrt", [var], name=f"{name}.std")
    zero, one = (g.constant(f"{name}.{k}", np.array(v, np.float64)) for k, v in (("zero", 0.0), ("one", 1.0)))
    std = g.node("Where", [g.node("Greater", [std, zero], name=f"{name}.nonzero"), std, one], name=f"{name}.scale")
    return g.node("Div", [centred, std], name=name), mean, std


def classifier(g, est):
    X = g.input("X", np.float64, ["n_cases", est.n_channels_, "n_timepoints"])
    logits = _model_outputs(g, est.model_, _normalised(g, est, X))
    # the label first, then the probabilities: the order of skl2onnx's classifiers, which users' code expects
    index = g.node("ArgMax", [logits], name="argmax", axis=1, keepdims=0)
    classes = np.asarray(est.classes_)
    label_dtype = np.dtype(object) if classes.dtype.kind in "OU" else classes.dtype
    g.output(g.node("Gather", [g.constant("classes", classes), index], name="label", axis=0), "label",
             label_dtype, ["n_cases"])
    g.output(g.node("Softmax", [logits], name="softmax", axis=1), "probabilities", np.float64,
             ["n_cases", len(est.classes_)])


def regressor(g, est):
    X = g.input("X", np.float64, ["n_cases", est.n_channels_, "n_timepoints"])
    g.output(_regression(g, est, _normalised(g, est, X)), "prediction", np.float64,
             ["n_cases"] if est.y_ndim_ == 1 else ["n_cases", len(est.y_mean_)])


def _regression(g, est, X):
    """What TCNRegressor.predict returns for the normalised X: the outputs, standardised in fit, scaled back."""
    y = _model_outputs(g, est.model_, X)
    y = g.node("Add", [g.node("Mul", [y, g.constant("target.scale", np.asarray(est.y_scale_, np.float64))],
                              name="target.scaled"),
                       g.constant("target.mean", np.asarray(est.y_mean_, np.float64))], name="target")
    if est.y_ndim_ == 1:
        y = g.node("Squeeze", [y, g.constant("target.axis", np.array([1], np.int64))], name="target.vector")
    return y


def forecaster(g, est):
    reg = est.regressor_
    window, C, k = est.y_tail_.shape[0], est.n_channels_, est.n_exog_
    horizon = est.horizon
    y = g.input("y", np.float64, ["n_windows", window, C])
    # the window's own normalisation (forecaster.normalize_windows), over its steps (axis 1 here)
    if est.normalize == "window":
        z, loc, scale = _standardised(g, y, axis=1, name="window")
    elif est.normalize == "last":
        loc = g.node("Gather", [y, g.constant("window.last", np.array([-1], np.int64))], name="window.loc", axis=1)
        z, scale = g.node("Sub", [y, loc], name="window"), None
    else:
        z, loc, scale = y, None, None
    if k:
        exog = g.input("exog", np.float64, ["n_windows", window, k])
        z = g.node("Concat", [z, exog], name="inputs", axis=2)  # the exogenous channels after y's, unnormalised
    X = g.node("Transpose", [z], name="to_cases", perm=[0, 2, 1])  # N, C + k, window: the regressor's X
    out = _regression(g, reg, _normalised(g, reg, X))  # N, horizon * C, row-major (horizon, C)
    shape = g.constant("forecast.shape", np.array([0, horizon, C], np.int64))
    out = g.node("Reshape", [out, shape], name="forecast.steps")
    if scale is not None:
        out = g.node("Mul", [out, scale], name="forecast.scaled")
    if loc is not None:
        out = g.node("Add", [out, loc], name="forecast.shifted")
    if est.y_ndim_ == 1:
        out = g.node("Squeeze", [out, g.constant("forecast.axis", np.array([2], np.int64))], name="forecast.vector")
    g.output(out, "forecast", np.float64, ["n_windows", horizon] + ([] if est.y_ndim_ == 1 else [C]))
