"""Weights in and out of pytcn in locuslab/TCN's, pytorch-tcn's and keras-tcn's layouts (pytcn.interop).

Without PyTorch, h5py or Keras: small models saved by each project's own code (tests/fixtures/interop/make.py, run
once), with an input and the output that project's model computed from it, load into pytcn and give that output.
What pytcn exports reads back as it was. With h5py: the real Keras files are read, and a file pytcn writes has the
layout of the file Keras wrote. With PyTorch: what pytcn exports loads with ``strict=True`` into a locuslab-layout
module (and into pytorch-tcn's TCN where that package is installed) and computes what pytcn computes.
"""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

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
