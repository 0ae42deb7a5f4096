# %% [markdown]
# # Your own data
#
# The other tutorials train on tasks pytcn generates. This one starts from files, as your data will: a collection
# of labelled series to classify and a single series to forecast. It uses pytcn's scikit-learn estimators, whose
# defaults were chosen to work without tuning (`docs/design/estimators.md` says how), and says what each default
# does and why. The data are two classics, in the folder `tutorials/data/`: GunPoint, from the UCR time series
# archive (is the actor drawing a gun or pointing a finger? 150 steps of the hand's horizontal position), and the
# monthly airline passengers of Box and Jenkins (1949 to 1960). `tutorials/data/README.md` says where they come
# from.
#
# Needs scikit-learn (`pip install 'pytcn[sklearn]'`). Set `PYTCN_QUICK=1` to run it in a few seconds (a few
# epochs; the test suite does). The full run takes about half a minute on 2 idle cores (28 s on a
# 2-vCPU AMD EPYC VM).

# %%
import os
import tempfile

import matplotlib.pyplot as plt
import numpy as np

import pytcn
from pytcn.course import QUICK, figure_path, repository_path
from pytcn.estimators import TCNClassifier, TCNForecaster
from pytcn.estimators.datafiles import read_cases, read_column

DATA = repository_path("tutorials", "data")

# %% [markdown]
# ## 1. Reading the files
#
# The UCR archive's layout is one series per row, its label first, then its values, separated by tabs or commas.
# `pytcn fit` reads it, and so does `read_cases` below, the function behind it. It gives the series in aeon's
# layout, (n_cases, n_timepoints) for one channel as here and (n_cases, n_channels, n_timepoints) for several,
# and the labels as the text the file holds. Your own data in a NumPy file
# works the same way (`np.savez(path, X=..., y=...)`). Series of different lengths, padded with NaN in the UCR
# archive's way, come back as a list of arrays.

# %%
X_train, y_train = read_cases(os.path.join(DATA, "GunPoint_TRAIN.tsv"))
X_test, y_test = read_cases(os.path.join(DATA, "GunPoint_TEST.tsv"))
classes = sorted(set(y_train))
print(f"train: X {np.shape(X_train)}, {', '.join(f'{(y_train == c).sum()} of class {c!s}' for c in classes)}")
print(f"test:  X {np.shape(X_test)}")
assert np.shape(X_train) == (50, 150) and np.shape(X_test) == (150, 150) and classes == ["1", "2"]

# what the paragraph says of NaN-padded series and of NumPy files, on two small files of our own
with tempfile.TemporaryDirectory() as folder:
    with open(os.path.join(folder, "ragged.tsv"), "w") as f:
        f.write("a\t1\t2\t3\nb\t4\t5\tNaN\n")  # the second series is one step shorter
    X_ragged, y_ragged = read_cases(os.path.join(folder, "ragged.tsv"))
    assert isinstance(X_ragged, list) and [np.shape(s) for s in X_ragged] == [(1, 3), (1, 2)]
    np.savez(os.path.join(folder, "mine.npz"), X=X_train[:3], y=y_train[:3])
    X_mine, y_mine = read_cases(os.path.join(folder, "mine.npz"))
    assert np.array_equal(X_mine, X_train[:3]) and list(y_mine) == list(y_train[:3])

# %% [markdown]
# ## 2. A classifier with its defaults
#
# `TCNClassifier()` is a scikit-learn estimator: `fit(X, y)`, `predict(X)`, `score(X, y)`, and it works in
# `Pipeline`, `GridSearchCV` and `cross_val_score`. What its defaults do:
#
# - `normalize="channel"`: each channel standardised with a mean and scale fitted on the training data (and
#   kept for prediction), so the series' units do not matter.
# - `dilations=None`: the dilations are sized from the longest training series, doubling until the receptive
#   field covers it (`dilations_` after `fit`), so the last block sees the whole series.
# - A head over the mean of the last block's features over the steps (`pooling="mean"`): a class is a property
#   of the whole series, not of its last step.
# - Training: Adam at 1e-3 with the gradient clipped at norm 1 (tutorial 15), batches of a tenth of the cases (at
#   most 16, FCN's rule), the learning rate halved after 10 epochs without a better monitored loss, and a stop
#   after 30 epochs without one, keeping the best epoch's weights, the rate never below 1e-4; at most 200 epochs.
# - What is monitored: from 1,000 training cases on, the loss on 10% of them held out (stratified by class); below,
#   the training loss itself, as the published FCN and ResNet do, because a tenth of a small set is too few cases
#   to choose an epoch by. GunPoint has 50.
#
# `random_state` makes a fit repeatable bit for bit.

# %%
classifier = TCNClassifier(random_state=0, max_epochs=3 if QUICK else 200)
classifier.fit(X_train, y_train)
accuracy = classifier.score(X_test, y_test)
print(f"dilations {classifier.dilations_}: receptive field {classifier.model_.receptive_field} steps for series of "
      f"150; {classifier.n_iter_} epochs monitoring {classifier.monitor_}, the best at {classifier.best_epoch_}; "
      f"test accuracy {accuracy:.3f}")
assert classifier.model_.receptive_field >= 150 > pytcn.receptive_field(3, classifier.dilations_[:-1])
assert classifier.monitor_ == "train_loss"  # 50 cases: fewer than 1,000
defaults = TCNClassifier().get_params()  # the list above
assert {k: defaults[k] for k in ("normalize", "dilations", "lr", "max_grad_norm", "batch_size", "lr_patience",
                                 "lr_factor", "n_iter_no_change", "max_epochs", "min_lr")} == dict(
    normalize="channel", dilations=None, lr=1e-3, max_grad_norm=1.0, batch_size="auto", lr_patience=10,
    lr_factor=0.5, n_iter_no_change=30, max_epochs=200, min_lr=1e-4)
again = TCNClassifier(random_state=0, max_epochs=2).fit(X_train[:20], y_train[:20])
assert np.array_equal(again.predict_proba(X_test[:5]),
                      TCNClassifier(random_state=0, max_epochs=2).fit(X_train[:20], y_train[:20]).predict_proba(
                          X_test[:5]))  # random_state: bit for bit
if not QUICK:  # what the full run shows
    assert accuracy > 0.95

# %% [markdown]
# The published results on the same split, from the review of Ismail Fawaz et al. (2019, Table 4, the mean of their
# runs): a ResNet reaches 99.1% on GunPoint and 1-nearest-neighbour with dynamic time warping 90.7%.
# `benchmarks/own_data.py` runs pytcn's defaults on eight UCR and UEA problems beside them:
# `benchmarks/own_data_results.md` has the table, with three seeds per dataset (one on the two longest) and the fit
# times.
#
# ## 3. A forecaster with its defaults
#
# One series, 144 months of airline passengers, with a trend and a yearly season that grows with it. The
# forecaster cuts it into training windows: every `window` consecutive months as the input, and the `horizon`
# months after them as the target. It trains a `TCNRegressor` on those windows, forecasting all 12 months at once
# rather than feeding its own predictions back in (tutorial 14). Its one default that matters most here is
# `normalize="last"`: each window is shifted by its own last value, and the forecast shifted back. The network
# then sees the shape of the last three years, never their level, which lets it forecast above every month it
# was trained on. Train on the first 132 months, forecast the last 12, and compare with the seasonal naive forecast
# (each month as the same month a year earlier).

# %%
passengers = read_column(os.path.join(DATA, "Airline.csv"), "Passengers")
train, test = passengers[:132], passengers[132:]
forecaster = TCNForecaster(window=36, horizon=12, random_state=0, max_epochs=3 if QUICK else 200)
forecast = forecaster.fit(train).predict()
naive = train[-12:]  # seasonal naive: last year's months again
mae, naive_mae = np.abs(forecast - test).mean(), np.abs(naive - test).mean()
print(f"1960: the forecaster's mean absolute error {mae:.1f} passengers (thousands), seasonal naive's {naive_mae:.1f}")
assert forecaster.n_windows_ == 132 - 36 - 12 + 1 == 85 and forecaster.normalize == "last"
if not QUICK:
    assert mae < naive_mae and forecast.max() > train.max()  # above every month it was trained on

fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.6), gridspec_kw={"width_ratios": [1, 1.4]})
for label, color in zip(classes, ("C0", "C1")):
    for series in X_train[y_train == label][:5]:
        left.plot(series, color=color, lw=0.8, alpha=0.7)
left.set_title("GunPoint: five training series of each class (blue, orange)")
left.set_xlabel("step")
months = np.arange(len(passengers))
right.plot(months, passengers, color="grey", lw=1, label="passengers (thousands a month)")
right.plot(months[132:], forecast, "o-", color="C1", ms=3, label=f"TCNForecaster, MAE {mae:.1f}")
right.plot(months[132:], naive, "s--", color="C2", ms=3, label=f"seasonal naive, MAE {naive_mae:.1f}")
right.axvline(131.5, color="C0", ls=":", lw=1)
right.set_xlabel("month since January 1949")
right.set_title("Airline: trained on 1949-1959, forecasting 1960")
right.legend(fontsize=8)
fig.tight_layout()
fig.savefig(figure_path("16_your_own_data.png"), dpi=100)
plt.show()

# %% [markdown]
# The forecaster beats seasonal naive, but it is not the best tool for this series. A classical Holt-Winters
# model, built around a trend and a season, halves the forecaster's error (`benchmarks/own_data_results.md`): a TCN
# trained on 85 windows of a single short series has little to learn from. It earns its keep with many series, or
# long ones, and with covariates (`exog`).
#
# ## 4. Keeping and deploying what you trained
#
# A fitted estimator saves to one file without pickle, and loads back whole (`pytcn.load_estimator`). The command
# line does the same from files: `pytcn fit` trains and writes a run folder, `pytcn predict` and `pytcn forecast`
# use it. `pytcn.export` writes an ONNX graph for onnxruntime.

# %%
import subprocess  # noqa: E402 (used here only)
import sys  # noqa: E402

with tempfile.TemporaryDirectory() as folder:
    path = os.path.join(folder, "gunpoint.npz")
    classifier.save(path)
    loaded = pytcn.load_estimator(path)
    assert np.array_equal(loaded.predict(X_test), classifier.predict(X_test))
    print(f"saved and loaded: {os.path.getsize(path):,} bytes, the same predictions")

# the same from the shell, in a folder of its own (here for 2 epochs, to show the commands; drop --max-epochs for
# the defaults)
train_file, test_file = (os.path.join(DATA, f"GunPoint_{part}.tsv") for part in ("TRAIN", "TEST"))
with tempfile.TemporaryDirectory() as folder:
    for command in (["fit", train_file, "--out", "gunpoint", "--max-epochs", "2", "--no-progress"],
                    ["predict", "gunpoint", test_file, "--out", "predictions.csv"]):
        shown = [os.path.relpath(a, repository_path()) if os.path.isabs(a) else a for a in command]
        print("$ pytcn " + " ".join(shown))
        subprocess.run([sys.executable, "-m", "pytcn", *command], check=True, capture_output=True, cwd=folder)
    with open(os.path.join(folder, "predictions.csv")) as f:
        written = f.read().splitlines()
    print(f"predictions.csv: {len(written)} lines, the first {written[:2]}")

# %% [markdown]
# ## Summary
#
# - Files in the UCR layout (label, then values) or NumPy's `.npz` (`X`, `y`) load into aeon's layout,
#   (n_cases, n_channels, n_timepoints) or (n_cases, n_timepoints); `pytcn fit` reads the same files.
# - `TCNClassifier()` standardises each channel, sizes its dilations to the series, pools over the steps and stops
#   early. With no tuning it classifies GunPoint as well as the published ResNet.
# - `TCNForecaster(window, horizon)` trains on the windows of one series, shifting each by its last value, and
#   forecasts the whole horizon at once. On Airline it beats seasonal naive and loses to Holt-Winters.
#
# ## References
#
# - Dau, H. A. et al. (2019). *The UCR Time Series Archive*. IEEE/CAA Journal of Automatica Sinica 6(6): the archive
#   and its GunPoint data (recorded by Ratanamahatana and Keogh), and the file layout read here.
# - Box, G. E. P. and Jenkins, G. M. (1976). *Time Series Analysis: Forecasting and Control*. Holden-Day: the airline
#   passengers, their series G.
# - Ismail Fawaz, H. et al. (2019). *Deep Learning for Time Series Classification: a Review*. Data Mining and
#   Knowledge Discovery 33: the ResNet and 1-NN DTW accuracies quoted in section 2.
# - Middlehurst, M. et al. (2024). *aeon: a Python Toolkit for Learning from Time Series*. JMLR 25: the
#   (n_cases, n_channels, n_timepoints) layout, and the wheel the data files were taken from.
# - Buitinck, L. et al. (2013). *API Design for Machine Learning Software: Experiences from the scikit-learn
#   Project*. ECML PKDD workshop: the estimator interface (fit, predict, get_params) the estimators follow.
#
# ## Exercises
#
# 1. Estimate the classifier's accuracy by 5-fold cross-validation on the training set alone, with scikit-learn's
#    `cross_val_score`. Why is that the number to use when choosing settings, rather than the test accuracy?
# 2. Forecast 1960 with `window=24`. Is it better or worse than with 36 on this seed?
#
# Solutions below (folded in the rendered site).

# %% tags=["hide-cell"]
# Solution 1: the estimator is a scikit-learn estimator, so cross_val_score clones and fits it per fold. Choosing
# settings by the test accuracy would tune them to the test set, which then no longer measures new data
from sklearn.model_selection import cross_val_score  # noqa: E402 (the solution's own import)

scores = cross_val_score(TCNClassifier(random_state=0, max_epochs=2 if QUICK else 20), X_train, y_train, cv=5)
print(f"5-fold cross-validation on the 50 training series: {scores.mean():.3f} +- {scores.std():.3f}")
assert scores.shape == (5,)

# Solution 2: fit again with window=24 and compare the mean absolute errors
short = TCNForecaster(window=24, horizon=12, random_state=0, max_epochs=3 if QUICK else 200).fit(train).predict()
print(f"window 24: MAE {np.abs(short - test).mean():.1f}; window 36: {mae:.1f}")
assert short.shape == (12,)
