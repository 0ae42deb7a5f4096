"""Weights in and out of pytcn in locuslab/TCN's, pytorch-tcn's and keras-tcn's layouts (pytcn.interop).

Without PyTorch, h5py or Keras: small models saved by each project's own code (tests/fixtures/interop/make.py, run
once), with an input and the output that project's model computed from it, load into pytcn and give that output.
What pytcn exports reads back as it was. With h5py: the real Keras files are read, and a file pytcn writes has the
layout of the file Keras wrote. With PyTorch: what pytcn exports loads with ``strict=True`` into a locuslab-layout
module (and into pytorch-tcn's TCN where that package is installed) and computes what pytcn computes.
"""
import importlib.util
import re
import reprlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pytcn
from pytcn import interop
from tests.helpers import assert_close, one_numba_thread, randomize  # noqa: F401 (one_numba_thread: autouse fixture)

FIXTURES = Path(__file__).parent / "fixtures" / "interop"
HAS_H5PY = importlib.util.find_spec("h5py") is not None
HAS_TORCH = importlib.util.find_spec("torch") is not None
needs_h5py = pytest.mark.skipif(not HAS_H5PY, reason="h5py is not installed (pip install 'pytcn[interop]'); the "
                                                     "mapping itself is tested from the .npz fixtures")
needs_torch = pytest.mark.skipif(not HAS_TORCH, reason="PyTorch is not installed (optional: exports are also checked "
                                                       "by reading them back, and imports from the .npz fixtures)")


def fixture(name):
    """(x, y, weights) of a fixture: the input, the foreign model's output, its weights under its own names."""
    with np.load(FIXTURES / f"{name}.npz", allow_pickle=False) as f:
        arrays = dict(f)
    return arrays.pop("__x__"), arrays.pop("__y__"), arrays


# what each fixture's model is, in pytcn's arguments (make.py builds them)
IMPORTS = {
    "locuslab": (interop.from_locuslab, dict()),  # blocks 3, 3, 4 wide, dilations 1, 2, 4; head on the last step
    "locuslab_parametrizations": (interop.from_locuslab, dict()),
    "pytorch_tcn": (interop.from_pytorch_tcn, dict(dilations=[1, 3], return_sequences=True)),
    "keras_tcn": (interop.from_keras_tcn, dict(dilations=[1, 2], nb_stacks=2, use_skip_connections=True,
                                               return_sequences=True)),
    "keras2_tcn_weight_norm": (interop.from_keras_tcn, dict(dilations=[1, 2, 4])),
    "pytorch_tcn_batch_norm": (interop.from_pytorch_tcn, dict(return_sequences=True)),  # running statistics in use
}


@pytest.mark.parametrize("name", sorted(IMPORTS))
def test_a_model_saved_by_another_project_computes_its_output_in_pytcn(name):
    x, y, weights = fixture(name)
    from_foreign, arguments = IMPORTS[name]
    model = pytcn.interop.model_from(from_foreign(weights), **arguments)
    assert_close(model.forward(x), y, what=f"pytcn's output against {name}'s own")


def test_the_architecture_is_read_from_the_weights():
    _, _, weights = fixture("locuslab")
    arch = interop.architecture(interop.from_locuslab(weights))
    assert arch == dict(input_channels=2, outputs=1, nb_filters=[3, 3, 4], kernel_size=3, use_weight_norm=True,
                        use_layer_norm=False, use_batch_norm=False, blocks=3)


def test_locuslab_aliases_must_equal_their_convolution():
    _, _, weights = fixture("locuslab")
    weights["tcn.network.1.net.4.bias"] = weights["tcn.network.1.net.4.bias"] + 1
    with pytest.raises(ValueError, match="tcn.network.1.conv2.bias and its alias in net.* differ"):
        interop.from_locuslab(weights)


def test_a_bare_temporal_conv_net_and_a_state_dict_with_only_the_aliases_load():
    _, _, weights = fixture("locuslab")
    bare = {k[len("tcn."):]: v for k, v in weights.items() if k.startswith("tcn.") and ".conv" not in k}
    bare |= {"linear.weight": weights["linear.weight"], "linear.bias": weights["linear.bias"]}
    assert interop.from_locuslab(bare).keys() == interop.from_locuslab(weights).keys()


def random_model(**overrides):
    config = dict(input_channels=2, outputs=3, nb_filters=[3, 4, 4], kernel_size=3, dilations=[1, 2, 4],
                  use_skip_connections=False, dtype=np.float64, seed=0) | overrides
    model = pytcn.TCN(**config)
    randomize(model.params, np.random.default_rng(7))  # the parameters; batch norm's buffers stay valid statistics
    return model


EXPORTS = {
    "locuslab": (lambda m: interop.to_locuslab(m), interop.from_locuslab, [None, "weight"]),
    "locuslab-parametrizations": (lambda m: interop.to_locuslab(m, weight_norm="parametrizations"),
                                  interop.from_locuslab, [None, "weight"]),
    "pytorch_tcn": (interop.to_pytorch_tcn, interop.from_pytorch_tcn, [None, "weight", "layer", "batch"]),
    "keras_tcn": (interop.to_keras_tcn, interop.from_keras_tcn, [None, "weight"]),
}
# every normalisation each format has (the others are refused: test_what_cannot_be_represented_is_refused_by_name)
EXPORT_CASES = [(name, norm) for name, (_, _, norms) in EXPORTS.items() for norm in norms]


@pytest.mark.parametrize("name, norm", EXPORT_CASES, ids=[f"{name}-{norm}" for name, norm in EXPORT_CASES])
def test_what_pytcn_exports_reads_back_as_the_same_model(name, norm):
    export, back, _ = EXPORTS[name]
    model = random_model(**({f"use_{norm}_norm": True} if norm else {}))
    if norm == "batch":
        model.forward(np.random.default_rng(3).standard_normal((3, 9, 2)), training=True)  # running statistics move
    again = interop.model_from(back(export(model)), dilations=[1, 2, 4])
    x = np.random.default_rng(1).standard_normal((2, 9, 2))
    assert_close(again.forward(x), model.forward(x))


def test_a_non_causal_model_exports_to_pytorch_tcn_when_causal_false_is_said():
    model = random_model(padding="same")
    again = interop.model_from(interop.from_pytorch_tcn(interop.to_pytorch_tcn(model, causal=False)),
                               dilations=[1, 2, 4], padding="same")
    x = np.random.default_rng(1).standard_normal((2, 9, 2))
    assert_close(again.forward(x), model.forward(x))


def test_keras_export_of_a_weight_normalised_model_writes_its_effective_kernels():
    model = random_model(use_weight_norm=True)
    kernel = interop.to_keras_tcn(model)["residual_block_1/conv1D_0/kernel"]
    assert_close(kernel.transpose(2, 1, 0), pytcn.to_numpy(model.blocks[1].conv1.weight()))


@pytest.mark.parametrize("call, message", [
    (lambda: interop.to_locuslab(random_model(use_skip_connections=True, nb_filters=3)),
     "use_skip_connections=True has no counterpart in locuslab/TCN"),
    (lambda: interop.to_locuslab(random_model(dilations=[1, 2, 3])), "dilates block i by 2**i"),
    (lambda: interop.to_locuslab(random_model(), weight_norm="new"), "weight_norm must be one of"),
    (lambda: interop.to_pytorch_tcn(random_model(use_skip_connections=True, nb_filters=3)),
     "pytorch-tcn's skip connections add"),
    (lambda: interop.from_locuslab({"tcn.network.0.norm1.weight": np.ones(3)}), "which locuslab/TCN does not have"),
    (lambda: interop.from_pytorch_tcn({"network.0.embedding_projection_1.weight": np.ones(3)}),
     "belongs to a layer pytcn does not have"),
    (lambda: interop.to_keras_tcn(random_model(use_batch_norm=True)), "Keras's epsilon (1e-3)"),
    (lambda: interop.to_locuslab(random_model(use_layer_norm=True)), "locuslab/TCN has no layer or batch"),
    (lambda: interop.to_locuslab(random_model(padding="same")), "padding='same': locuslab/TCN's convolutions are"),
    (lambda: interop.to_pytorch_tcn(random_model(padding="same")), "causal=True, but the model's padding is 'same'"),
    (lambda: interop.to_pytorch_tcn(random_model(), causal=False), "causal=False, but the model's padding is"),
    # the three projects' heads read the last step: a model averaging over the steps is none of theirs
    (lambda: interop.to_locuslab(random_model(pooling="mean")), "pooling='mean': locuslab/TCN's head reads the last"),
    (lambda: interop.to_pytorch_tcn(random_model(pooling="mean")), "pooling='mean': pytorch-tcn's head reads the"),
    (lambda: interop.to_keras_tcn(random_model(pooling="mean")), "pooling='mean': keras-tcn's head reads the last"),
    (lambda: interop.to_pytorch_tcn(random_model(), causal="no"), "causal must be True or False"),
    (lambda: interop.from_pytorch_tcn({"network.0.conv1.weight": np.ones((6, 2, 3)),
                                       "network.0.conv2.weight": np.ones((3, 3, 3))}), "a gated block"),
    (lambda: interop.from_locuslab({"tcn.network.0.conv1.parametrizations.weight.original0": np.ones(()),
                                    }), "not the whole tensor"),
    (lambda: interop.from_locuslab({"encoder.weight": np.ones(3)}), "unexpected key 'encoder.weight'"),
    (lambda: interop.from_keras_tcn({"residual_block_0/conv1D_7/kernel": np.ones((2, 2, 2))}), "unexpected name"),
    (lambda: interop.from_locuslab([1, 2]), "state_dict must be a mapping"),
    (lambda: interop.model_from(interop.from_locuslab(fixture("locuslab")[2]), dilations=[1, 2]),
     "params hold 3 blocks, but dilations=[1, 2] with nb_stacks=1 make 2"),
])
def test_what_cannot_be_represented_is_refused_by_name(call, message):
    with pytest.raises((ValueError, TypeError)) as info:
        call()
    assert message in str(info.value)


# ----------------------------------------------------------------------------------------------------------------
# a bad argument is refused where it arises, naming the argument or the key (issue #25)


def without(mapping, *keys):
    return {k: v for k, v in mapping.items() if k not in keys}


@pytest.mark.parametrize("use_weight_norm, missing", [
    (False, ["tcn.network.0.conv1.weight"]),
    (False, ["tcn.network.2.conv2.weight"]),
    (True, ["tcn.network.1.conv1.weight_v", "tcn.network.1.conv1.weight_g"]),
])
def test_a_convolution_without_its_weight_is_named_under_both_spellings(use_weight_norm, missing):
    params = without(random_model(use_weight_norm=use_weight_norm).state_dict(), *missing)
    layer = missing[0].rsplit(".", 1)[0]
    for call in (interop.architecture, interop.model_from):  # was: KeyError
        with pytest.raises(ValueError, match=rf"^params has no weight for {re.escape(layer)}: expected "
                                             rf"{re.escape(layer)}\.weight, or {re.escape(layer)}\.weight_v and"):
            call(params)


def test_blocks_normalised_differently_are_named():
    plain, normed = random_model().state_dict(), random_model(use_weight_norm=True).state_dict()
    params = without(normed, *[k for k in normed if k.startswith("tcn.network.1.")])
    params |= {k: v for k, v in plain.items() if k.startswith("tcn.network.1.")}
    with pytest.raises(ValueError) as info:  # was: KeyError 'tcn.network.1.conv1.weight_v'
        interop.model_from(params)
    assert str(info.value) == ("params['tcn.network.0.conv1.weight_v'] and params['tcn.network.1.conv1.weight']: one "
                               "convolution is weight-normalised, the other not; pytcn normalises every convolution "
                               "or none")


@pytest.mark.parametrize("missing", ["residual_block_1/conv1D_0/kernel", "residual_block_0/conv1D_1/bias",
                                     "dense/kernel"])
def test_a_keras_layer_without_its_kernel_or_bias_is_named_in_keras_names(missing):
    weights = without(interop.to_keras_tcn(random_model()), missing)
    with pytest.raises(ValueError) as info:  # was: from_keras_tcn returned them, and model_from raised a KeyError
        interop.model_from(interop.from_keras_tcn(weights))
    assert str(info.value).startswith("weights") and repr(missing) in str(info.value), str(info.value)


def test_a_convolution_weight_of_two_dimensions_is_named():
    params = random_model().state_dict()
    params["tcn.network.0.conv1.weight"] = params["tcn.network.0.conv1.weight"][:, :, 0]
    with pytest.raises(ValueError, match=re.escape("params['tcn.network.0.conv1.weight'] must have 3 dimensions, "
                                                   "got shape (3, 2)")):
        interop.model_from(params)  # was: IndexError, tuple index out of range
    weights = interop.to_keras_tcn(random_model())
    weights["residual_block_0/conv1D_0/kernel"] = weights["residual_block_0/conv1D_0/kernel"][0]
    with pytest.raises(ValueError, match=re.escape("weights['residual_block_0/conv1D_0/kernel'] must have 3 "
                                                   "dimensions, got shape (2, 3)")):
        interop.from_keras_tcn(weights)  # was: NumPy's "axes don't match array"


@pytest.mark.parametrize("call, error, message", [  # each was a message naming nothing, or none at all
    (lambda: interop.model_from(random_model().state_dict(), dilations=5), TypeError,
     "dilations must be a list of positive integers, got 5"),  # was: object of type 'int' has no len()
    (lambda: interop.model_from(None), TypeError,
     "params must be a mapping of names to arrays (a state_dict), got None (NoneType)"),  # was: not iterable
    (lambda: interop.model_from(random_model()), TypeError, "got TCN("),  # a model, not its state dict
    (lambda: interop.model_from(random_model().state_dict(), dtype=np.float32), TypeError,
     "dtype: read from params, not an argument of model_from"),  # was: got multiple values for keyword argument
    (lambda: interop.from_locuslab(interop.to_locuslab(random_model()), prefix=7), TypeError,
     "prefix: expected a str or None, got 7 (int)"),  # was: unsupported operand type(s) for +: 'int' and 'str'
    (lambda: interop.from_pytorch_tcn(interop.to_pytorch_tcn(random_model()), head=None), TypeError,
     "head: expected a str, got None (NoneType)"),
    (lambda: interop.to_locuslab(3), TypeError, "model: expected a pytcn.TCN, got 3 (int)"),  # was: AttributeError
    (lambda: interop.to_pytorch_tcn({}), TypeError, "model: expected a pytcn.TCN, got {} (dict)"),
    (lambda: interop.to_keras_tcn(None), TypeError, "model: expected a pytcn.TCN, got None (NoneType)"),
    (lambda: interop.to_locuslab(random_model(), prefix=3), TypeError,
     "prefix: expected a str, got 3 (int)"),  # was: accepted, writing keys 3network.0...
    (lambda: interop.to_locuslab(random_model(), prefix="tcn"), ValueError,
     "prefix: expected '' or a str ending in '.', got 'tcn'"),  # was: accepted, writing keys tcnnetwork.0...
    (lambda: interop.from_locuslab({}), ValueError, "state_dict is empty: nothing to convert (expected "
     "locuslab/TCN's names: tcn.network.{b}.conv1.weight_g"),  # was: {} returned
    (lambda: interop.from_pytorch_tcn({}), ValueError, "state_dict is empty: nothing to convert (expected "
     "pytorch-tcn's names: network.{b}.conv1.weight"),
    (lambda: interop.from_keras_tcn({}), ValueError, "weights is empty: nothing to convert (expected keras-tcn's "
     "names as read_keras_tcn gives them: residual_block_{b}/conv1D_0"),
    (lambda: interop.from_locuslab(interop.to_locuslab(random_model()) | {"linear.bias": None}), TypeError,
     "state_dict['linear.bias']: expected an array, got None"),  # was: accepted, as an object array
])
def test_a_bad_argument_is_named_with_the_value_given(call, error, message):
    with pytest.raises(error) as info:
        call()
    assert message in str(info.value)


def test_from_pytorch_tcn_drops_only_pytorch_tcn_s_own_padding_buffers():
    model = random_model()
    exported = interop.to_pytorch_tcn(model)
    assert "network.0.conv1.padder.buffer" in exported  # 1.2.2 on: TemporalPad1d's buffer
    old = {k.replace(".padder.buffer", ".buffer"): v for k, v in exported.items()}  # before 1.2.2: the conv's own
    for state_dict in (exported, old):
        assert interop.from_pytorch_tcn(state_dict).keys() == model.state_dict().keys()
    for name in ("foo.buffer", "network.0.downsample.buffer", "network.1.buffer", "network.0.conv1.padder.buffer2"):
        with pytest.raises(ValueError, match=f"unexpected key {re.escape(repr(name))}"):  # was: dropped silently
            interop.from_pytorch_tcn(exported | {name: np.zeros((1, 2, 2))})


def test_weights_that_are_not_finite_or_not_real_numbers_are_refused_by_key():
    exported = interop.to_locuslab(random_model())
    key = "tcn.network.1.conv2.weight_v"
    for bad, value in ((np.nan, "nan"), (np.inf, "inf"), (-np.inf, "-inf")):
        a = exported[key].copy()
        a[1, 0, 2] = bad
        with pytest.raises(ValueError, match=re.escape(f"state_dict['{key}'] holds {value} at index (1, 0, 2): "
                                                       f"weights must be finite")):
            interop.from_locuslab(exported | {key: a})  # was: accepted
    for a, dtype in ((exported[key] > 0, "bool"), (exported[key].astype(complex), "complex128")):
        with pytest.raises(TypeError, match=re.escape(f"state_dict['{key}']: expected an array of real numbers, "
                                                      f"got dtype {dtype}")):
            interop.from_locuslab(exported | {key: a})
    model = random_model()
    model.params["tcn.network.0.conv2.bias"][1] = np.nan  # a model that diverged in training
    with pytest.raises(ValueError, match=re.escape("model: tcn.network.0.conv2.bias holds nan at index (1,)")):
        interop.to_keras_tcn(model)


def test_a_weight_of_the_wrong_size_is_named_as_it_was_given():
    weights = interop.to_keras_tcn(random_model())
    weights["residual_block_1/conv1D_1/bias"] = np.zeros(5)
    with pytest.raises(ValueError) as info:  # was: from_keras_tcn returned it, model_from named pytcn's key
        interop.from_keras_tcn(weights)
    assert str(info.value) == ("weights['residual_block_1/conv1D_1/bias'] has shape (5,); the pytcn model the other "
                               "weights describe needs (4,)")


def test_write_keras_tcn_into_a_missing_folder_names_the_path_before_any_work(tmp_path, monkeypatch):
    monkeypatch.setattr(interop, "to_keras_tcn", lambda model: pytest.fail("work began before the path was checked"))
    path = tmp_path / "missing" / "model.weights.h5"
    with pytest.raises(FileNotFoundError) as info:  # was: the hidden temporary file's name, after the work
        interop.write_keras_tcn(path, random_model())
    assert str(info.value) == f"path {str(path)!r}: its folder {tmp_path / 'missing'} does not exist"
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(IsADirectoryError, match="names a folder, not the file to write"):
        interop.write_keras_tcn(tmp_path, random_model())


# ----------------------------------------------------------------------------------------------------------------
# Keras files (h5py)


@needs_h5py
@pytest.mark.parametrize("file, name", [("keras_tcn.weights.h5", "keras_tcn"), ("keras_tcn.keras", "keras_tcn"),
                                        ("keras2_tcn_weight_norm.h5", "keras2_tcn_weight_norm")])
def test_keras_files_read_as_keras_wrote_them(file, name):
    _, _, expected = fixture(name)
    weights = interop.read_keras_tcn(FIXTURES / file)
    assert sorted(weights) == sorted(expected)
    for key, value in expected.items():
        np.testing.assert_array_equal(weights[key], value, err_msg=key)


@needs_h5py
def test_a_keras_file_written_by_pytcn_has_the_layout_keras_wrote_and_reads_back(tmp_path):
    import h5py

    _, _, weights = fixture("keras_tcn")
    model = interop.model_from(interop.from_keras_tcn(weights), dilations=[1, 2], nb_stacks=2,
                               use_skip_connections=True, return_sequences=True)
    path = tmp_path / "model.weights.h5"
    interop.write_keras_tcn(path, model)

    def datasets(file):
        found = {}
        with h5py.File(file, "r") as f:
            f.visititems(lambda n, o: found.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset) else None)
        return found

    ours, keras = datasets(path), datasets(FIXTURES / "keras_tcn.weights.h5")
    assert sorted(ours) == sorted(keras), "the datasets of the file pytcn wrote are not those Keras wrote"
    for name in keras:
        np.testing.assert_array_equal(ours[name], keras[name], err_msg=name)


@needs_h5py
def test_a_file_that_is_no_keras_file_is_one_clear_error(tmp_path):
    bad = tmp_path / "x.h5"
    bad.write_bytes(b"not hdf5 at all")
    with pytest.raises(ValueError, match="not an HDF5 file"):
        interop.read_keras_tcn(bad)


# ----------------------------------------------------------------------------------------------------------------
# PyTorch


def locuslab_module(torch, widths, K, outputs, parametrizations):
    """A module with locuslab/TCN's layout (TemporalConvNet's blocks in ``tcn.network``, a ``linear`` head on the
    last step), written here from its description: each block registers its two convolutions twice, as conv1/conv2
    and inside the ``net`` Sequential (net.0, net.4)."""
    norm = torch.nn.utils.parametrizations.weight_norm if parametrizations else torch.nn.utils.weight_norm

    class Chomp(torch.nn.Module):  # drops the right padding: causal
        def __init__(self, n):
            super().__init__()
            self.n = n

        def forward(self, x):
            return x[:, :, :-self.n] if self.n else x

    class Block(torch.nn.Module):
        def __init__(self, c_in, c_out, d):
            super().__init__()
            pad = (K - 1) * d
            self.conv1 = norm(torch.nn.Conv1d(c_in, c_out, K, padding=pad, dilation=d))
            self.conv2 = norm(torch.nn.Conv1d(c_out, c_out, K, padding=pad, dilation=d))
            self.net = torch.nn.Sequential(self.conv1, Chomp(pad), torch.nn.ReLU(), torch.nn.Dropout(0.0),
                                           self.conv2, Chomp(pad), torch.nn.ReLU(), torch.nn.Dropout(0.0))
            self.downsample = torch.nn.Conv1d(c_in, c_out, 1) if c_in != c_out else None

        def forward(self, x):
            res = x if self.downsample is None else self.downsample(x)
            return torch.relu(self.net(x) + res)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.tcn = torch.nn.Module()
            self.tcn.network = torch.nn.Sequential(*[Block(c_in, c_out, 2 ** i) for i, (c_in, c_out)
                                                     in enumerate(zip([2, *widths[:-1]], widths))])
            self.linear = torch.nn.Linear(widths[-1], outputs)

        def forward(self, x):  # x: (N, T, C)
            return self.linear(self.tcn.network(x.transpose(1, 2))[:, :, -1])

    return Net().double()


@needs_torch
@pytest.mark.filterwarnings("ignore:.*torch.nn.utils.weight_norm.*:FutureWarning")  # locuslab's spelling, on purpose
@pytest.mark.parametrize("parametrizations", [False, True])
@pytest.mark.parametrize("use_weight_norm", [False, True])
def test_a_locuslab_export_loads_strictly_into_its_module_and_computes_the_same(parametrizations, use_weight_norm):
    import torch

    model = random_model(use_weight_norm=use_weight_norm)
    module = locuslab_module(torch, [3, 4, 4], 3, 3, parametrizations)
    exported = interop.to_locuslab(model, weight_norm="parametrizations" if parametrizations else "weight_norm")
    module.load_state_dict({k: torch.from_numpy(v) for k, v in exported.items()}, strict=True)
    x = np.random.default_rng(1).standard_normal((2, 12, 2))
    with torch.no_grad():
        y = module(torch.from_numpy(x)).numpy()
    assert_close(y, model.forward(x))
    back = interop.from_locuslab(module.state_dict())  # and its own state dict, tensors and all, comes back
    assert_close(interop.model_from(back).forward(x), y)


@needs_torch
@pytest.mark.parametrize("norm", [None, "weight_norm", "layer_norm", "batch_norm"])
def test_a_pytorch_tcn_export_loads_strictly_into_its_tcn_and_computes_the_same(norm):
    pytorch_tcn = pytest.importorskip("pytorch_tcn", reason="pytorch-tcn is not installed (optional); the fixture "
                                                            "test reads its layout without it")
    import torch

    model = random_model(use_weight_norm=norm == "weight_norm", use_layer_norm=norm == "layer_norm",
                         use_batch_norm=norm == "batch_norm", return_sequences=True)
    data = np.random.default_rng(2)
    for _ in range(2):  # batch norm: running statistics away from their start
        model.forward(1.0 + 2.0 * data.standard_normal((3, 12, 2)), training=True)
    module = pytorch_tcn.TCN(2, [3, 4, 4], kernel_size=3, dilations=[1, 2, 4], dropout=0.0, input_shape="NLC",
                             use_norm=norm, output_projection=3).double().eval()
    module.load_state_dict({k: torch.from_numpy(v) for k, v in interop.to_pytorch_tcn(model).items()}, strict=True)
    x = np.random.default_rng(1).standard_normal((2, 12, 2))
    with torch.no_grad():
        y = module(torch.from_numpy(x)).numpy()
    assert_close(y, model.forward(x))
    if norm == "batch_norm":  # and in training, from the batch's statistics
        module.train()
        y = module(torch.from_numpy(x)).detach().numpy()
        assert_close(y, model.forward(x, training=True))
    # the backward pass against PyTorch's autograd: the input gradient and every parameter's
    training = norm == "batch_norm"
    module.train(training)
    module.zero_grad()
    xt = torch.tensor(x, requires_grad=True)
    dy = np.random.default_rng(3).standard_normal(y.shape)
    module(xt).backward(torch.from_numpy(dy))
    model.forward(x, training=training)
    assert_close(model.backward(dy), xt.grad.numpy(), what="input gradient")
    for name, p in module.named_parameters():
        ours = ("linear." + name[len("projection_out."):] if name.startswith("projection_out.") else "tcn." + name)
        ours = ours.replace("parametrizations.weight.original0", "weight_g").replace(
            "parametrizations.weight.original1", "weight_v")
        grad = p.grad.numpy()[:, :, 0] if name == "projection_out.weight" else p.grad.numpy()
        assert_close(model.grads[ours], grad, what=f"gradient of {name}")


# ----------------------------------------------------------------------------------------------------------------
# every entry point, fed generated bad arguments: a ValueError or TypeError naming the argument or the key, never
# another exception, never a silent success; and arguments that are only unusual (read-only, non-contiguous arrays)
# give what the usual ones give

TINY = dict(input_channels=2, outputs=1, nb_filters=[2, 3], kernel_size=2, dilations=[1, 2],
            use_skip_connections=False, dtype=np.float64, seed=0)  # block 1 has a downsample: every kind of weight
NOT_MAPPINGS = [None, 3, 2.5, "linear.weight", b"linear.weight", [("linear.weight", np.ones((1, 3)))], np.ones(3),
                object(), {"linear.weight", "linear.bias"}, {}]
NOT_MODELS = [None, 3, "model", np.ones(3), object(), pytcn.TCN, {"linear.weight": np.ones((1, 3))}]
NOT_PATHS = [None, 3, 2.5, b"model.weights.h5", ["model.weights.h5"], object()]
BAD_KEYS = ["foo.buffer", "tcn.network.0.conv3.weight", "network.0.downsample.buffer", "linear.weight_g",
            "residual_block_0/conv1D_2/kernel", "dense_1/kernel", "", "tcn.network.99999999999999999999.conv1.weight",
            "residual_block_99999999999999999999/conv1D_0/kernel"]


class Case:
    """One generated call: ``call(tmp_path)``; ``names``: what its error must name, one of them at least (None: it
    must succeed and give what ``same_as(tmp_path)`` gives)."""

    def __init__(self, what, call, names=None, same_as=None):
        self.what, self.call, self.names, self.same_as = what, call, names, same_as

    def __repr__(self):
        return self.what


def _short(value):
    return "a TCN" if isinstance(value, pytcn.TCN) else reprlib.repr(value)


def tiny_model():
    model = pytcn.TCN(**TINY)
    randomize(model.params, np.random.default_rng(7))  # no bias left at zero, where float16 or int equal it
    return model


def bad_value(draw, a, weight=True):
    """(a value for the key whose valid array is ``a``, whether an error must name that key itself rather than only
    the argument: a bigger array can leave another key the one that no longer fits). Not a ``weight`` (pytorch-tcn's
    streaming buffers, skipped): only what is no such buffer at all."""
    kinds = ["None", "text", "object", "ragged", "bool", "complex", "object array", "strings", "not finite",
             "extra axis", "fewer axes"]
    kind = draw(st.sampled_from(kinds + (["empty", "float16", "int", "bigger"] if weight else [])))
    if kind == "not finite":
        b = a.astype(np.float64)
        b.flat[draw(st.integers(0, a.size - 1))] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
        return kind, b, True
    return kind, {"None": None, "text": "weights", "object": object(), "ragged": [[1.0], [1.0, 2.0]],
                  "bool": a > 0, "complex": a.astype(complex), "object array": a.astype(object),
                  "strings": a.astype(str), "extra axis": a[..., None],
                  "fewer axes": a.reshape(-1)[:1].reshape(()) if a.ndim == 1 else a.reshape(-1),
                  "empty": a[:0], "float16": a.astype(np.float16), "int": (10 * a).astype(np.int64),
                  "bigger": np.concatenate([a, a[:1]])}[kind], kind != "bigger"


def same(x, y):
    """Whether two results (a dict of arrays or of plain values, or a model) are the same."""
    if isinstance(x, pytcn.TCN):
        return x.config == y.config and same(x.state_dict(), y.state_dict())
    return x.keys() == y.keys() and all(np.array_equal(x[k], y[k]) and np.asarray(x[k]).dtype == np.asarray(y[k]).dtype
                                        for k in x)


@st.composite
def mapping_cases(draw, entry):
    """A call of an entry point that takes a mapping of names to arrays, with one thing wrong."""
    convert, label, valid = {
        "architecture": (interop.architecture, "params", lambda: tiny_model().state_dict()),
        "model_from": (lambda p: interop.model_from(p, dilations=[1, 2]), "params", lambda: tiny_model().state_dict()),
        "from_locuslab": (interop.from_locuslab, "state_dict", lambda: interop.to_locuslab(tiny_model())),
        "from_pytorch_tcn": (interop.from_pytorch_tcn, "state_dict", lambda: interop.to_pytorch_tcn(tiny_model())),
        "from_keras_tcn": (interop.from_keras_tcn, "weights", lambda: interop.to_keras_tcn(tiny_model())),
    }[entry]
    mapping = valid()
    keys = sorted(mapping)
    wrong = draw(st.sampled_from(["whole", "value", "key", "name", "drop", "read-only", "non-contiguous"]))
    if wrong == "whole":
        value = draw(st.sampled_from(NOT_MAPPINGS + [tiny_model()]))
        return Case(f"{entry}({_short(value)})", lambda tmp: convert(value), [label])
    if wrong in ("read-only", "non-contiguous"):
        def unusual(a):
            if wrong == "read-only":
                a = a.copy()
                a.flags.writeable = False
                return a
            return np.asfortranarray(a) if a.ndim > 1 else np.repeat(a, 2)[::2]
        return Case(f"{entry} with {wrong} arrays", lambda tmp: convert({k: unusual(v) for k, v in mapping.items()}),
                    same_as=lambda tmp: convert(valid()))
    if wrong == "name":
        name = draw(st.sampled_from([3, None, ("linear.weight",), b"linear.weight"]))
        return Case(f"{entry} with the name {name!r}", lambda tmp: convert(mapping | {name: np.ones(3)}), [label])
    if wrong == "key":
        key = draw(st.sampled_from(BAD_KEYS))
        return Case(f"{entry} with the key {key!r}", lambda tmp: convert(mapping | {key: np.ones(3)}), [key])
    key = draw(st.sampled_from(keys))
    if wrong == "drop":
        if key.endswith(".buffer"):  # pytorch-tcn's streaming state: not needed
            return Case(f"{entry} without {key}", lambda tmp: convert(without(mapping, key)),
                        same_as=lambda tmp: convert(mapping))
        partner = key.replace(".conv1.", ".net.0.").replace(".conv2.", ".net.4.")  # locuslab's alias
        partner = partner if partner != key else key.replace(".net.0.", ".conv1.").replace(".net.4.", ".conv2.")
        shown = min(key, partner, key=lambda k: ".net." in k)  # errors name the convolution, not its alias
        # named as given, or (from_pytorch_tcn) in pytcn's spelling "tcn.network..." or, for the head, by its prefix
        return Case(f"{entry} without {key}", lambda tmp: convert(without(mapping, key, partner)),
                    [shown, shown.split("network.", 1)[-1]])
    kind, value, names_key = bad_value(draw, mapping[key], weight=not key.endswith(".buffer"))
    return Case(f"{entry} with {key} {kind}", lambda tmp: convert(mapping | {key: value}),
                [key] if names_key else [label])


def non_finite_model(draw):
    """A TCN one of whose parameters is NaN or infinite, as after a diverged training."""
    model = tiny_model()
    key = draw(st.sampled_from(sorted(model.params)))
    model.params[key].flat[0] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    return model


@st.composite
def export_cases(draw, entry):
    """A call of an entry point that takes a model, with one argument wrong."""
    export, arguments = {
        "to_locuslab": (interop.to_locuslab, dict(weight_norm=[None, 3, "weight", "parametrization", True],
                                                  prefix=[3, None, "tcn", b"tcn.", ["tcn."], 1.5],
                                                  head=[None, "", "linear", 3, b"linear."])),
        "to_pytorch_tcn": (interop.to_pytorch_tcn, dict(prefix=[3, None, "network", b""], head=[None, "", "proj", 3],
                                                        causal=[None, "yes", 1, 0, np.array(True), "True"])),
        "to_keras_tcn": (interop.to_keras_tcn, {}),
    }[entry]
    argument = draw(st.sampled_from(["model", "model", *arguments]))
    if argument == "model":
        model = non_finite_model(draw) if draw(st.booleans()) else draw(st.sampled_from(NOT_MODELS))
        return Case(f"{entry}({_short(model)})", lambda tmp: export(model), ["model"])
    value = draw(st.sampled_from(arguments[argument]))
    return Case(f"{entry}(model, {argument}={value!r})", lambda tmp: export(tiny_model(), **{argument: value}),
                [argument])


@st.composite
def keras_file_cases(draw, entry):
    """A call of read_keras_tcn or write_keras_tcn with one argument wrong."""
    if entry == "write_keras_tcn":
        if draw(st.booleans()):
            path = draw(st.sampled_from(NOT_PATHS))
            return Case(f"write_keras_tcn({path!r}, model)", lambda tmp: interop.write_keras_tcn(path, tiny_model()),
                        ["path"])
        model = non_finite_model(draw) if draw(st.booleans()) else draw(st.sampled_from(NOT_MODELS))

        def write(tmp):
            try:
                return interop.write_keras_tcn(tmp / "model.weights.h5", model)
            finally:
                assert not list(tmp.iterdir()), "a file was written for a bad model"
        return Case(f"write_keras_tcn(path, {_short(model)})", write, ["model"])
    argument = draw(st.sampled_from(["path", "head"] + (["file", "head name"] if HAS_H5PY else [])))
    if argument == "path":
        path = draw(st.sampled_from(NOT_PATHS))
        return Case(f"read_keras_tcn({path!r})", lambda tmp: interop.read_keras_tcn(path), ["path"])
    if argument == "head":
        head = draw(st.sampled_from([3, ["dense"], b"dense", object()]))
        return Case(f"read_keras_tcn(file, head={head!r})",
                    lambda tmp: interop.read_keras_tcn(FIXTURES / "keras_tcn.weights.h5", head=head), ["head"])
    if argument == "head name":
        return Case("read_keras_tcn(file, head='nope')",
                    lambda tmp: interop.read_keras_tcn(FIXTURES / "keras_tcn.weights.h5", head="nope"), ["'nope'"])
    content = draw(st.sampled_from(["not hdf5", "empty zip", "hdf5 without a TCN"]))

    def read(tmp):
        path = tmp / f"{content.replace(' ', '_')}.keras"
        if content == "not hdf5":
            path.write_bytes(b"not hdf5 at all")
        elif content == "empty zip":
            import zipfile
            zipfile.ZipFile(path, "w").close()
        else:
            import h5py
            with h5py.File(path, "w") as f:
                f["layers/dense/vars/0"] = np.ones((2, 1))
        return interop.read_keras_tcn(path)
    return Case(f"read_keras_tcn(a file: {content})", read, [content.replace(" ", "_")])


ENTRY_POINTS = {"architecture": mapping_cases, "model_from": mapping_cases, "from_locuslab": mapping_cases,
                "from_pytorch_tcn": mapping_cases, "from_keras_tcn": mapping_cases, "to_locuslab": export_cases,
                "to_pytorch_tcn": export_cases, "to_keras_tcn": export_cases, "read_keras_tcn": keras_file_cases,
                "write_keras_tcn": keras_file_cases}


@st.composite
def model_from_argument_cases(draw):
    """model_from with a valid state dict and one of its other arguments wrong."""
    params = tiny_model().state_dict()
    argument = draw(st.sampled_from(["dilations", "nb_stacks", "kwargs"]))
    if argument == "kwargs":
        name, value = draw(st.sampled_from([("dtype", np.float32), ("input_channels", 2), ("nb_filters", 3),
                                            ("foo", 1), ("padding", "left"), ("return_sequences", "yes"),
                                            ("pooling", "max")]))
        return Case(f"model_from(params, {name}={value!r})", lambda tmp: interop.model_from(params, **{name: value}),
                    [name])
    value = draw(st.sampled_from({
        "dilations": [5, "1, 2", [1, 0], [1, -2], [1.0, 2.0], [True, 2], [], [1], [1, 2, 4], {1, 2}, [1] * 100_000,
                      np.array([1.0, 2.0]), [[1], [2]], (d for d in [1, 2])],
        "nb_stacks": [0, -1, 1.5, True, "2", None, 10 ** 12, 2],
    }[argument]))
    return Case(f"model_from(params, {argument}={reprlib.repr(value)})",
                lambda tmp: interop.model_from(params, **{argument: value}), [argument])


def test_every_entry_point_is_listed_in_the_property_test():
    public = {name for name in dir(interop) if not name.startswith("_") and callable(getattr(interop, name))
              and getattr(interop, name).__module__ == interop.__name__}
    assert public == set(ENTRY_POINTS)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
@pytest.mark.parametrize("entry", [*ENTRY_POINTS, "model_from's other arguments"])
def test_every_entry_point_given_a_bad_argument_raises_one_error_naming_it_never_another_or_a_silent_success(
        entry, data, tmp_path):
    case = data.draw(model_from_argument_cases() if entry == "model_from's other arguments"
                     else ENTRY_POINTS[entry](entry), label="case")
    folder = tmp_path / f"case{len(list(tmp_path.iterdir()))}"  # tmp_path lives across the examples
    folder.mkdir()
    if case.names is None:
        assert same(case.call(folder), case.same_as(folder)), f"{case}: not what the usual arrays give"
        return
    with pytest.raises(Exception) as info:
        case.call(folder)
        pytest.fail(f"{case}: accepted")
    error = info.value
    assert isinstance(error, (ValueError, TypeError)) and not isinstance(error, (KeyError, IndexError,
                                                                                  AttributeError)), (
        f"{case}: {type(error).__name__}: {error}")
    assert any(name in str(error) for name in case.names), f"{case}: the message names none of {case.names}: {error}"
