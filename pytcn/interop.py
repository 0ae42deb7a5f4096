"""Weights in and out of pytcn in the layouts of the other TCN projects: locuslab/TCN, pytorch-tcn and keras-tcn.

Every function here works on mappings of names to arrays: a PyTorch ``state_dict()`` can be passed as it is (its
tensors are read with ``np.asarray``) and what comes back is NumPy arrays (``torch.from_numpy`` takes them), so
nothing here needs PyTorch. Keras files are read and written with h5py (``pip install 'pytcn[interop]'``). What is
given is checked where it is read: a wrong type, or a weight that is missing, unexpected, misshapen or not finite, is
a TypeError or ValueError naming the argument, or the key as it was given.

    params = interop.from_locuslab(torch_model.state_dict())      # -> pytcn names, for model.load_state_dict
    model = interop.model_from(params, dilations=[1, 2, 4, 8])     # or: a TCN built to fit them, loaded
    torch_model.load_state_dict({k: torch.from_numpy(v) for k, v in interop.to_locuslab(model).items()})

What maps onto what (pytcn's own names: README, "State dict names"):

- **locuslab/TCN** (``TemporalConvNet``, and the models of its adding, copy-memory and MNIST experiments, which hold
  it as ``tcn`` beside a ``linear`` head). Its blocks are pytcn's with use_skip_connections=False and weight
  normalisation; it registers each convolution twice (``conv1`` and ``net.0``, ``conv2`` and ``net.4``), so its
  state dict holds every weight under two names. Both spellings of weight normalisation are read:
  ``weight_g``/``weight_v`` (torch.nn.utils.weight_norm) and ``parametrizations.weight.original0/1``
  (torch.nn.utils.parametrizations.weight_norm). Dilations are not in a state dict: locuslab's are 1, 2, 4, ...
- **pytorch-tcn** (``pytorch_tcn.TCN``): the same blocks, named ``network.{b}`` without the ``tcn.`` prefix, with
  a zero padding buffer per convolution (``padder.buffer``: its streaming state, ignored on the way in, written as
  zeros on the way out) and an optional 1x1 output convolution ``projection_out`` as the head. Its skip
  connections add a different sum from keras-tcn's (which pytcn follows): export refuses a model with them.
- **keras-tcn** (``tcn.TCN`` followed by a ``Dense`` head): blocks ``residual_block_{b}`` with ``conv1D_0``,
  ``conv1D_1`` and ``matching_conv1D``; kernels (K, in, out), which are pytcn's (out, in, K) transposed, tap for
  tap (both frameworks' "convolutions" are cross-correlations); the Dense kernel is (in, out). Weight
  normalisation (keras-tcn up to 3.5.4, by tensorflow-addons) keeps ``g`` (out,) and the kernel as ``v``.
  ``read_keras_tcn`` reads a ``.keras`` file, a Keras 3 ``.weights.h5`` or a Keras 2 ``.h5`` into names of the form
  ``residual_block_0/conv1D_0/kernel`` and ``dense/kernel``, which ``from_keras_tcn`` maps.

Normalisation layers: pytorch-tcn's batch and layer norm (``norm1``/``norm2``) are pytcn's (use_batch_norm,
use_layer_norm: the same names, and PyTorch's eps and momentum). keras-tcn's are refused, naming them: Keras
normalises with epsilon 1e-3 and a momentum of 0.99 where pytcn follows PyTorch (1e-5, 0.1), so its weights would
not give the same model; locuslab/TCN has none.

Heads: all three projects' heads read the last step (or every step); a model with pooling='mean' is not exported.
"""
import io
import os
import re
import reprlib
import zipfile

import numpy as np

from .runtime import validate

# ---------------------------------------------------------------------------------------------------------------
# the arguments


def _show(value):
    """A value and its type for a message, short however large the value: ``7 (int)``."""
    return f"{reprlib.repr(value)} ({type(value).__name__})"


def _numpy(value, where):
    """A NumPy copy of an array-like (a NumPy array, a torch tensor, an h5py dataset, a number) in native byte order;
    ``where`` names it in the messages."""
    if value is None:
        raise TypeError(f"{where}: expected an array, got None")
    try:
        if hasattr(value, "detach"):  # a torch tensor, read without importing torch
            value = value.detach().cpu().numpy()  # bfloat16 has no NumPy dtype: refused here
        a = np.asarray(value).copy(order="C")  # (not ascontiguousarray, which makes a 0-d array 1-d)
    except (TypeError, ValueError, RuntimeError) as e:  # a ragged list, a tensor NumPy cannot hold
        raise TypeError(f"{where}: expected an array, got {_show(value)}, which NumPy cannot read ({e})") from None
    if a.dtype.kind not in "fiu":  # bool, complex, str, object: no weights
        raise TypeError(f"{where}: expected an array of real numbers, got dtype {a.dtype} ({_show(value)})")
    if not a.dtype.isnative:  # a big-endian file's: the same numbers, in the order the model's arrays have
        a = a.astype(a.dtype.newbyteorder("="))
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        index = tuple(int(i) for i in np.argwhere(~np.isfinite(a))[0])
        raise ValueError(f"{where} holds {a[index]} at index {index}: weights must be finite")
    return a


def _items(state_dict, label):
    """The (name, NumPy array) pairs of a mapping of names to arrays, each name a str and each array one of real,
    finite numbers; ``label`` names the mapping in the messages."""
    if not hasattr(state_dict, "items"):
        hint = " (its .state_dict()?)" if hasattr(state_dict, "state_dict") else ""
        raise TypeError(f"{label} must be a mapping of names to arrays (a state_dict), got {_show(state_dict)}{hint}")
    items = []
    for name, value in state_dict.items():
        if not isinstance(name, str):
            raise TypeError(f"{label}: expected names that are str, got the name {_show(name)}")
        items.append((name, _numpy(value, f"{label}[{name!r}]")))
    return items


def _prefix(name, value, empty=False, none=False):
    """A prefix of names: a str ending in "." ("" too where ``empty``; None too where ``none``: found by the caller),
    so that "tcn" cannot make "tcnnetwork.0...", nor 3 "3network.0..."."""
    if none and value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{name}: expected a str{' or None' if none else ''}, got {_show(value)}")
    if not (value.endswith(".") or empty and value == ""):
        allowed = "'' or a str ending in '.'" if empty else "a str ending in '.'"
        raise ValueError(f"{name}: expected {allowed}, got {value!r}")
    return value


def _tcn(model):
    """``model`` if it is a pytcn.TCN."""
    from .nn.model import TCN

    if not isinstance(model, TCN):
        raise TypeError(f"model: expected a pytcn.TCN, got {_show(model)}")
    return model


def _path(path):
    """``path`` if it is a str or an os.PathLike (an int would open a file descriptor)."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path: expected a str or an os.PathLike, got {_show(path)}")
    return path


# ---------------------------------------------------------------------------------------------------------------
# the pytcn side


def _architecture(params, label, names=None):
    """The TCN arguments ``params`` (pytcn's names -> NumPy arrays, as ``_items`` checked them) determine, after
    checking that they are every weight of that TCN, each of the shape and dtype it needs. ``label`` names the
    mapping in the messages; ``names`` maps pytcn's names to the caller's (a from_* function's keys), so that a
    message names the key that was given."""
    names = names or {}

    def show(key):
        return f"{label}[{names.get(key, key)!r}]"

    pytcn_name = " (pytcn's name)" if names else ""
    block_of = {name: int(m.group(1)) for name in params if (m := re.match(r"tcn\.network\.([0-9]+)\.", name))}
    blocks = sorted(set(block_of.values()))
    if not blocks or blocks != list(range(len(blocks))):
        stray = next((f" ({show(name)} follows no block {b - 1})" for name, b in block_of.items()
                      if b > 0 and b - 1 not in blocks), "")
        raise ValueError(f"{label} must hold the blocks tcn.network.0, 1, ...{pytcn_name} of a pytcn model, got "
                         f"blocks {reprlib.repr(blocks)}{stray}")
    if "linear.weight" not in params:
        raise ValueError(f"{label} has no head (linear.weight{pytcn_name}): a pytcn model always has one")
    head = params["linear.weight"]
    validate.shape_of(show("linear.weight"), head, 2)
    if head.dtype not in validate.FLOAT_DTYPES:
        raise TypeError(f"{show('linear.weight')} has dtype {head.dtype}: pytcn's models are float32 or float64 "
                        f"(convert with .astype)")

    def weight(b, conv):  # the key of a convolution's weight: weight, or weight_v with weight normalisation
        key = f"tcn.network.{b}.{conv}."
        found = [key + w for w in ("weight", "weight_v") if key + w in params]
        if not found:
            raise ValueError(f"{label} has no weight for {key[:-1]}{pytcn_name}: expected {key}weight, or {key}"
                             f"weight_v and {key}weight_g with weight normalisation")
        if len(found) == 2:
            raise ValueError(f"{show(found[0])} and {show(found[1])}: a convolution is weight-normalised or not, "
                             f"not both")
        validate.shape_of(show(found[0]), params[found[0]], 3)
        return found[0]

    first = weight(0, "conv1")
    wn = first.endswith("_v")
    for b in blocks:
        for conv in ("conv1", "conv2"):
            key = weight(b, conv)
            if key.endswith("_v") != wn:
                raise ValueError(f"{show(first)} and {show(key)}: one convolution is weight-normalised, the other "
                                 f"not; pytcn normalises every convolution or none")
    norm = [key for key in params if key.startswith("tcn.network.0.norm1.")]
    if wn and norm:
        raise ValueError(f"{show(first)} is weight-normalised and {show(norm[0])} is a norm layer's: "
                         f"pytcn has one normalisation at a time")
    batch_norm = "tcn.network.0.norm1.running_mean" in params
    widths = [params[weight(b, "conv1")].shape[0] for b in blocks]
    arch = dict(input_channels=int(params[first].shape[1]), outputs=int(head.shape[0]),
                nb_filters=widths[0] if len(set(widths)) == 1 else widths, kernel_size=int(params[first].shape[2]),
                use_weight_norm=wn, use_layer_norm=bool(norm) and not batch_norm, use_batch_norm=batch_norm)

    # every other name, shape and dtype: those of a TCN of these arguments (the dilations change no shape), so that
    # a missing bias or a block of the wrong width is said here, by its key, and not by a loader further on
    from .nn.model import TCN

    expected = TCN(**arch, dilations=[1] * len(blocks), use_skip_connections=False, dtype=head.dtype,
                   seed=0).state_dict()
    for key in params:
        if key not in expected:
            raise ValueError(f"{label}: unexpected key {names.get(key, key)!r}: the pytcn model the other weights "
                             f"describe has no {key}")
    for key, target in expected.items():
        if key not in params:
            raise ValueError(f"{label} has no {key}{pytcn_name}, which the pytcn model the other weights describe "
                             f"needs")
        if params[key].shape != target.shape:
            raise ValueError(f"{show(key)} has shape {params[key].shape}; the pytcn model the other weights "
                             f"describe needs {target.shape}")
        if params[key].dtype != target.dtype:
            source = f"that of {show('linear.weight')}" if target.dtype.kind == "f" else "a counter's"
            raise TypeError(f"{show(key)} has dtype {params[key].dtype}; the pytcn model the other weights "
                            f"describe needs {target.dtype} ({source}; convert with .astype)")
    return dict(arch, blocks=len(blocks))


def architecture(params):
    """The TCN arguments a pytcn state dict determines: input_channels, outputs, nb_filters (an int, or one per
    block), kernel_size, the normalisation (use_weight_norm, use_layer_norm, use_batch_norm), and the number of
    blocks (``blocks``). Every array is checked against them: a missing, unexpected or misshapen weight is named."""
    return _architecture(dict(_items(params, "params")), "params")


def model_from(params, *, dilations=None, nb_stacks=1, **kwargs):
    """A pytcn.TCN built to fit ``params`` (pytcn names, as the ``from_*`` functions return them) and loaded with them.

    What a state dict cannot say is asked for: ``dilations`` (of one stack; by default 1, 2, 4, ... as locuslab/TCN
    and pytorch-tcn choose them), ``nb_stacks``, and in ``kwargs`` use_skip_connections, return_sequences and the
    other TCN arguments (the dtype is that of the arrays)."""
    from .nn.architecture import check_dilations
    from .nn.model import TCN

    params = dict(_items(params, "params"))
    arch = _architecture(params, "params")
    blocks = arch.pop("blocks")
    for name in (*arch, "dtype"):
        if name in kwargs:
            raise TypeError(f"{name}: read from params, not an argument of model_from; got {name}="
                            f"{_show(kwargs[name])}")
    nb_stacks = validate.integer("nb_stacks", nb_stacks, 1)
    if blocks % nb_stacks:
        raise ValueError(f"params hold {blocks} blocks, which nb_stacks={nb_stacks} stacks cannot share equally")
    if dilations is None:
        dilations = [2 ** i for i in range(blocks // nb_stacks)]
    dilations = check_dilations("dilations", dilations)
    if len(dilations) * nb_stacks != blocks:
        raise ValueError(f"params hold {blocks} blocks, but dilations={reprlib.repr(dilations)} with "
                         f"nb_stacks={nb_stacks} make {len(dilations) * nb_stacks}")
    widths = arch["nb_filters"]
    if isinstance(widths, list):
        if nb_stacks > 1 and widths != widths[:len(dilations)] * nb_stacks:
            raise ValueError(f"the blocks' widths {widths} do not repeat with each of the nb_stacks={nb_stacks} "
                             f"stacks")
        arch["nb_filters"] = widths[:len(dilations)]
    dtype = params["linear.weight"].dtype
    kwargs.setdefault("use_skip_connections", False)
    model = TCN(**arch, dilations=dilations, nb_stacks=nb_stacks, dtype=dtype, **kwargs)
    model.load_state_dict(params)
    return model


# ---------------------------------------------------------------------------------------------------------------
# locuslab/TCN

_ALIASES = {"0": "conv1", "4": "conv2"}  # locuslab's TemporalBlock.net: conv1, chomp1, relu1, dropout1, conv2, ...
_PARAMETRIZED = {"parametrizations.weight.original0": "weight_g", "parametrizations.weight.original1": "weight_v"}
_UNSUPPORTED = re.compile(r"(^|\.)(bn\d?|batch_norm|layer_norm|embedding_projection\w*|"
                          r"downsample_skip_connection)(\.|$)")
_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")


def _block_key(name, rest, where):
    """pytcn's name for ``rest`` = "{b}.{layer}.{param}" of a block, in locuslab's or pytorch-tcn's spelling."""
    parts = rest.split(".", 2)
    if len(parts) != 3 or not re.fullmatch("[0-9]+", parts[0]):
        raise ValueError(f"{where}: unexpected key {name!r}")
    b, layer, param = parts
    alias = layer == "net"
    if alias:
        index, _, param = param.partition(".")
        if index not in _ALIASES:
            raise ValueError(f"{where}: unexpected key {name!r} (net.{index} is no convolution of a block)")
        layer = _ALIASES[index]
    if layer not in ("conv1", "conv2", "downsample", "norm1", "norm2"):
        raise ValueError(f"{where}: unexpected key {name!r}")
    param = _PARAMETRIZED.get(param, param)
    if param not in ("weight", "bias", "weight_g", "weight_v", *_BUFFERS):
        raise ValueError(f"{where}: unexpected key {name!r}")
    return f"tcn.network.{b}.{layer}.{param}", alias


def _check_weight_g(key, name, a, where):
    if key.endswith("weight_g") and (a.ndim != 3 or a.shape[1:] != (1, 1)):
        raise ValueError(f"{where}[{name!r}] has shape {a.shape}; pytcn normalises each output channel's weights "
                         f"(weight_norm with dim=0, shape (C_out, 1, 1)), not the whole tensor")


def _nothing_to_convert(items, expected):
    """Refuses an empty state dict, which would convert to an empty one, saying what was expected."""
    if not items:
        raise ValueError(f"state_dict is empty: nothing to convert (expected {expected})")


def _check_head(params, head):
    """Refuses a state dict without the head's weight or bias, naming it as the caller spells it."""
    for part in ("weight", "bias"):
        if "linear." + part not in params:
            raise ValueError(f"state_dict has no {head}{part}: the head's {part} (head={head!r}); a pytcn model "
                             f"always has a head")


def _prefix_of(names, given, marker="network."):
    if given is not None:
        return given
    for name in names:
        if marker in name:
            return name[:name.index(marker)]
    return ""


def from_locuslab(state_dict, prefix=None, head="linear."):
    """A locuslab/TCN state dict -> pytcn's names, for ``model.load_state_dict`` (or ``model_from``).

    ``prefix``: what stands before ``network.`` (found by default: ``tcn.`` in locuslab's models, nothing for a bare
    TemporalConvNet); ``head``: the prefix of the nn.Linear head (weight (outputs, C), bias). The ``net.0``/``net.4``
    aliases are checked to equal ``conv1``/``conv2`` and dropped."""
    items = _items(state_dict, "state_dict")
    prefix = _prefix("prefix", prefix, empty=True, none=True)
    head = _prefix("head", head)
    _nothing_to_convert(items, f"locuslab/TCN's names: {'tcn.' if prefix is None else prefix}network.{{b}}.conv1."
                               f"weight_g, ...weight_v, ...bias, the same for conv2 (and net.0, net.4), and "
                               f"{head}weight, {head}bias")
    prefix = _prefix_of([n for n, _ in items], prefix)
    params, aliases, names = {}, {}, {}  # names: pytcn's name -> the key given, for the messages
    for name, a in items:
        if re.search(r"\.norm\d\.", name):
            raise ValueError(f"state_dict: {name!r} is a normalisation layer's, which locuslab/TCN does not have: "
                             f"a pytorch-tcn state dict? (interop.from_pytorch_tcn)")
        if _UNSUPPORTED.search(name):
            raise ValueError(f"state_dict: {name!r} belongs to a layer pytcn does not have (embeddings or skip "
                             f"projections); its model cannot be represented")
        if name.startswith(head):
            params["linear." + name[len(head):]] = a
            names["linear." + name[len(head):]] = name
        elif name.startswith(prefix + "network."):
            key, alias = _block_key(name, name[len(prefix + "network."):], "state_dict")
            _check_weight_g(key, name, a, "state_dict")
            if alias:
                aliases[key] = name, a
            else:
                params[key], names[key] = a, name
        else:
            raise ValueError(f"state_dict: unexpected key {name!r} (neither {prefix}network.* nor the head {head}*)")
    for key, (name, a) in aliases.items():
        if key not in params:
            params[key], names[key] = a, name
        elif params[key].dtype != a.dtype or not np.array_equal(params[key], a):
            raise ValueError(f"state_dict: {key} and its alias in net.* differ ({names[key]!r} and {name!r}); in "
                             f"locuslab/TCN they are one tensor")
    _check_head(params, head)
    _architecture(params, "state_dict", names)
    return params


def _weights(model):
    """The parameters of ``model`` (a pytcn.TCN) as NumPy arrays, in state_dict order; a model whose weights are
    not finite (diverged in training) is not exported."""
    return {name: _numpy(a, f"model: {name}") for name, a in _tcn(model).state_dict().items()}


def _as_weight_norm(params, key_prefix):
    """(g, v) of a convolution: its own with weight normalisation, else g = ||W|| per channel and v = W (W = g v/||v||
    is then W itself)."""
    if key_prefix + "weight_g" in params:
        return params[key_prefix + "weight_g"], params[key_prefix + "weight_v"]
    W = params[key_prefix + "weight"]
    g = np.sqrt(np.square(W, dtype=np.float64).sum(axis=(1, 2), keepdims=True)).astype(W.dtype)
    return g, W


def _head_reads_one_step(model, project):
    """Every other project's head reads the last step (or every step): a model averaging over the steps is not
    theirs."""
    if model.pooling != "last":
        raise ValueError(f"pooling={model.pooling!r}: {project}'s head reads the last step, not the mean over the "
                         f"steps; its model would load these weights and compute something else")


def _locuslab_shaped(model):
    _head_reads_one_step(model, "locuslab/TCN")
    if model.padding != "causal":
        raise ValueError(f"padding={model.padding!r}: locuslab/TCN's convolutions are causal only (left padding, "
                         f"then Chomp1d); its model would load these weights and compute something else")
    if model.use_layer_norm or model.use_batch_norm:
        raise ValueError("locuslab/TCN has no layer or batch normalisation: this model cannot be written as one")
    if model.use_skip_connections:
        raise ValueError("use_skip_connections=True has no counterpart in locuslab/TCN (its blocks feed the head "
                         "from the last block only); pytorch-tcn's skip sum differs too")
    expected = [2 ** i for i in range(len(model.blocks))]
    if [block.conv1.dilation for block in model.blocks] != expected:
        raise ValueError(f"locuslab/TCN's TemporalConvNet dilates block i by 2**i ({expected}); this model's "
                         f"dilations are {[block.conv1.dilation for block in model.blocks]}")


def to_locuslab(model, weight_norm="weight_norm", prefix="tcn.", head="linear."):
    """The model's weights under locuslab/TCN's names: they load with ``strict=True`` into locuslab's model of the
    same widths, kernel size and head (``TCN(input_size, output_size, num_channels, kernel_size, dropout)``).

    locuslab's convolutions are always weight-normalised: a model without weight normalisation is written as
    g = ||W|| and v = W, the same weights. ``weight_norm``: "weight_norm" writes ``weight_g``/``weight_v``
    (torch.nn.utils.weight_norm, as locuslab's code does), "parametrizations" writes
    ``parametrizations.weight.original0/1`` (torch.nn.utils.parametrizations.weight_norm). Both spellings are written
    for ``net.0`` and ``net.4`` too, as PyTorch saves them."""
    _tcn(model)
    validate.one_of("weight_norm", weight_norm, ("weight_norm", "parametrizations"))
    prefix = _prefix("prefix", prefix, empty=True)
    head = _prefix("head", head)
    _locuslab_shaped(model)
    params = _weights(model)
    names = ("weight_g", "weight_v") if weight_norm == "weight_norm" else tuple(_PARAMETRIZED)
    out = {}
    for b, block in enumerate(model.blocks):
        for conv, alias in (("conv1", "net.0"), ("conv2", "net.4")):
            g, v = _as_weight_norm(params, f"tcn.network.{b}.{conv}.")
            bias = params[f"tcn.network.{b}.{conv}.bias"]
            for layer in (conv, alias):
                out[f"{prefix}network.{b}.{layer}.bias"] = bias
                out[f"{prefix}network.{b}.{layer}.{names[0]}"] = g
                out[f"{prefix}network.{b}.{layer}.{names[1]}"] = v
        if block.downsample is not None:
            for p in ("weight", "bias"):
                out[f"{prefix}network.{b}.downsample.{p}"] = params[f"tcn.network.{b}.downsample.{p}"]
    out[f"{head}weight"] = params["linear.weight"]
    out[f"{head}bias"] = params["linear.bias"]
    return out


# ---------------------------------------------------------------------------------------------------------------
# pytorch-tcn


def from_pytorch_tcn(state_dict, prefix=None, head="projection_out."):
    """A pytorch-tcn ``TCN`` state dict -> pytcn's names.

    ``head``: the prefix of the head's weights, by default pytorch-tcn's own ``output_projection`` (a 1x1
    convolution, weight (outputs, C, 1)); an nn.Linear of the caller's (weight (outputs, C)) works too, e.g.
    ``head="linear."``. Its padding buffers (``network.{b}.conv1.padder.buffer``, ``conv1.buffer`` before 1.2.2, and
    conv2's) are a streaming state, not weights, and are skipped; any other key is refused. Build the pytcn model with
    use_skip_connections=False: pytorch-tcn's skip connections add a different sum (see the module's docstring). A
    state dict shows them only where a block's width differs from the last one's (``downsample_skip_connection``,
    refused); with every width equal they hold no weights, and a model built with use_skip_connections=True loads
    here without a word, to give other outputs than it gave there. Load only models built without them."""
    items = _items(state_dict, "state_dict")
    prefix = _prefix("prefix", prefix, empty=True, none=True)
    head = _prefix("head", head)
    _nothing_to_convert(items, f"pytorch-tcn's names: {prefix or ''}network.{{b}}.conv1.weight (or "
                               f"...parametrizations.weight.original0/1), ...bias, the same for conv2, and "
                               f"{head}weight, {head}bias")
    prefix = _prefix_of([n for n, _ in items], prefix)
    # pytorch-tcn's TemporalConv1d registers its streaming state as padder.buffer (1.2.2 on: TemporalPad1d's), before
    # as buffer; the downsample and head convolutions are plain nn.Conv1d, with none
    buffer = re.compile(re.escape(prefix) + r"(network\.[0-9]+\.conv[12])\.(padder\.)?buffer")
    params, names, buffers = {}, {}, {}
    for name, a in items:
        if _UNSUPPORTED.search(name):
            raise ValueError(f"state_dict: {name!r} belongs to a layer pytcn does not have (embeddings or skip "
                             f"projections); its model cannot be represented")
        if m := buffer.fullmatch(name):
            buffers[name] = m.group(1), a  # the streaming state of a convolution: zeros in a trained model
            continue
        if name.startswith(head):
            if a.ndim == 3:  # a 1x1 convolution as the head: (outputs, C, 1)
                if a.shape[2] != 1:
                    raise ValueError(f"state_dict: the head {name!r} has shape {a.shape}; only a 1x1 convolution "
                                     f"(kernel size 1) is a per-step linear head")
                a = np.ascontiguousarray(a[:, :, 0])
            params["linear." + name[len(head):]] = a
            names["linear." + name[len(head):]] = name
        elif name.startswith(prefix + "network."):
            key, _ = _block_key(name, name[len(prefix + "network."):], "state_dict")
            _check_weight_g(key, name, a, "state_dict")
            params[key], names[key] = a, name
        else:
            raise ValueError(f"state_dict: unexpected key {name!r} (neither {prefix}network.* nor the head {head}*)")
    for b in sorted({int(k.split(".")[2]) for k in params if k.startswith("tcn.network.")}):
        w1 = params.get(f"tcn.network.{b}.conv1.weight_v", params.get(f"tcn.network.{b}.conv1.weight"))
        w2 = params.get(f"tcn.network.{b}.conv2.weight_v", params.get(f"tcn.network.{b}.conv2.weight"))
        # use_gate=True doubles the first convolution's outputs; any other mismatch is named by _architecture
        if w1 is not None and w2 is not None and w1.ndim == w2.ndim == 3 and w1.shape[0] == 2 * w2.shape[1]:
            raise ValueError(f"state_dict: block {b}'s first convolution has {w1.shape[0]} outputs and its second "
                             f"{w2.shape[1]} inputs: a gated block (use_gate=True), which pytcn does not have")
    for name, (conv, a) in buffers.items():  # skipped, but only if they are what pytorch-tcn writes there
        w = params.get(f"tcn.{conv}.weight", params.get(f"tcn.{conv}.weight_v"))
        if a.ndim != 3 or w is not None and w.ndim == 3 and a.shape[1] != w.shape[1]:
            raise ValueError(f"state_dict[{name!r}] has shape {a.shape}; pytorch-tcn's padding buffer of {conv} is "
                             f"(N, C_in, padding), C_in = {w.shape[1] if w is not None and w.ndim == 3 else '?'}")
    _check_head(params, head)
    _architecture(params, "state_dict", names)
    return params


def to_pytorch_tcn(model, prefix="", head="projection_out.", causal=True):
    """The model's weights under pytorch-tcn's names (1.2.3): they load with ``strict=True`` into
    ``pytorch_tcn.TCN(input_channels, [widths...], kernel_size, dilations, use_norm=..., output_projection=outputs,
    use_skip_connections=False)`` with use_norm "weight_norm", "layer_norm" or "batch_norm" as the model's
    normalisation, None without one.
    Its output is (N, outputs, T): the head at every step; a model without return_sequences reads the last.
    The padding buffers are written as zeros (the state of a stream at its start).

    ``causal``: pytorch-tcn's argument of the same name, which a state dict cannot carry. A model with
    padding="same" is exported only with ``causal=False``, saying that pytorch-tcn's TCN must be built with it too;
    and a causal model only with ``causal=True``."""
    _tcn(model)
    prefix = _prefix("prefix", prefix, empty=True)
    head = _prefix("head", head)
    validate.boolean("causal", causal)
    _head_reads_one_step(model, "pytorch-tcn")
    if causal != (model.padding == "causal"):
        raise ValueError(f"causal={causal}, but the model's padding is {model.padding!r}: build pytorch-tcn's TCN "
                         f"with causal={model.padding == 'causal'} and pass the same here, or the weights load into "
                         f"a model that computes something else")
    if model.use_skip_connections:
        raise ValueError("use_skip_connections=True: pytorch-tcn's skip connections add the blocks' outputs "
                         "differently from keras-tcn's, which pytcn follows; the weights would not give the same "
                         "model")
    params = _weights(model)
    out = {}
    for b, block in enumerate(model.blocks):
        for conv in ("conv1", "conv2"):
            layer = getattr(block, conv)
            key = f"tcn.network.{b}.{conv}."
            out[f"{prefix}network.{b}.{conv}.bias"] = params[key + "bias"]
            if model.use_weight_norm:
                out[f"{prefix}network.{b}.{conv}.parametrizations.weight.original0"] = params[key + "weight_g"]
                out[f"{prefix}network.{b}.{conv}.parametrizations.weight.original1"] = params[key + "weight_v"]
            else:
                out[f"{prefix}network.{b}.{conv}.weight"] = params[key + "weight"]
            out[f"{prefix}network.{b}.{conv}.padder.buffer"] = np.zeros(
                (1, layer.in_channels, layer.history_length), model.dtype)
        for name, value in params.items():  # the normalisations: pytorch-tcn's names are pytcn's
            if name.startswith((f"tcn.network.{b}.norm1.", f"tcn.network.{b}.norm2.")):
                out[f"{prefix}{name[len('tcn.'):]}"] = value
        if block.downsample is not None:
            for p in ("weight", "bias"):
                out[f"{prefix}network.{b}.downsample.{p}"] = params[f"tcn.network.{b}.downsample.{p}"]
    out[f"{head}weight"] = np.ascontiguousarray(params["linear.weight"][:, :, None])
    out[f"{head}bias"] = params["linear.bias"]
    return out


# ---------------------------------------------------------------------------------------------------------------
# keras-tcn

_KERAS_LAYERS = {"conv1D_0": "conv1", "conv1D_1": "conv2", "matching_conv1D": "downsample"}
_KERAS_BLOCK = re.compile(r"residual_block_(\d+)/(conv1D_0|conv1D_1|matching_conv1D)/(kernel|bias|g)$")


def from_keras_tcn(weights):
    """keras-tcn weights, named as ``read_keras_tcn`` names them (``residual_block_{b}/conv1D_0/kernel`` (K, in,
    out), ``.../bias``, ``.../g`` with weight normalisation, ``matching_conv1D``, ``dense/kernel`` (C, outputs),
    ``dense/bias``) -> pytcn's names."""
    items = dict(_items(weights, "weights"))
    expected = ("residual_block_{b}/conv1D_0|conv1D_1|matching_conv1D/kernel|bias|g, or dense/kernel|bias")
    if not items:
        raise ValueError(f"weights is empty: nothing to convert (expected keras-tcn's names as read_keras_tcn gives "
                         f"them: {expected})")
    params, names = {}, {}  # names: pytcn's name -> keras-tcn's, for the messages
    for name, a in items.items():
        if name == "dense/kernel":
            validate.shape_of(f"weights[{name!r}]", a, 2)  # (C, outputs)
            params["linear.weight"] = np.ascontiguousarray(a.T)  # keras: y = x @ kernel; torch/pytcn: y = x @ W.T
            names["linear.weight"] = name
            continue
        if name == "dense/bias":
            params["linear.bias"], names["linear.bias"] = a, name
            continue
        m = _KERAS_BLOCK.match(name)
        if m is None:
            raise ValueError(f"weights: unexpected name {name!r} (expected {expected})")
        b, layer, var = int(m.group(1)), _KERAS_LAYERS[m.group(2)], m.group(3)
        key = f"tcn.network.{b}.{layer}."
        keras_layer = f"residual_block_{b}/{m.group(2)}/"
        for part in ("kernel", "bias"):  # a layer's part alone: said here, in keras-tcn's names
            if keras_layer + part not in items:
                raise ValueError(f"weights: {name!r} without {keras_layer + part!r}: a Conv1D layer has a kernel "
                                 f"and a bias")
        weight_normed = keras_layer + "g" in items
        if var == "kernel":
            validate.shape_of(f"weights[{name!r}]", a, 3)  # (K, in, out)
            key += "weight_v" if weight_normed else "weight"
            params[key] = np.ascontiguousarray(a.transpose(2, 1, 0))  # (K, in, out) -> (out, in, K), no flip
        elif var == "bias":
            key += "bias"
            params[key] = a
        else:
            validate.shape_of(f"weights[{name!r}]", a, 1)  # (out,)
            key += "weight_g"
            params[key] = np.ascontiguousarray(a.reshape(-1, 1, 1))
        names[key] = name
    for name in ("dense/kernel", "dense/bias"):
        if name not in items:
            raise ValueError(f"weights has no {name!r}: the Dense head's; a pytcn model always has a head")
    _architecture(params, "weights", names)
    return params


def to_keras_tcn(model):
    """The model's weights under keras-tcn's names (the inverse of ``from_keras_tcn``). keras-tcn has had no weight
    normalisation since 3.5.5: a weight-normalised model is written with its effective kernels, W = g v / ||v||,
    which compute the same function."""
    _tcn(model)
    _head_reads_one_step(model, "keras-tcn")
    if model.use_layer_norm or model.use_batch_norm:
        raise ValueError("keras-tcn normalises with Keras's epsilon (1e-3) and momentum (0.99), pytcn with PyTorch's "
                         "(1e-5, 0.1): a model with layer or batch norm is not written for keras-tcn")
    params = _weights(model)
    out = {}
    for b in range(len(model.blocks)):
        for layer, keras_name in (("conv1", "conv1D_0"), ("conv2", "conv1D_1"), ("downsample", "matching_conv1D")):
            key = f"tcn.network.{b}.{layer}."
            if key + "bias" not in params:
                continue
            if key + "weight_g" in params:
                g, v = params[key + "weight_g"].astype(np.float64), params[key + "weight_v"].astype(np.float64)
                W = (g * v / np.sqrt(np.square(v).sum(axis=(1, 2), keepdims=True))).astype(model.dtype)
            else:
                W = params[key + "weight"]
            out[f"residual_block_{b}/{keras_name}/kernel"] = np.ascontiguousarray(W.transpose(2, 1, 0))
            out[f"residual_block_{b}/{keras_name}/bias"] = params[key + "bias"]
    out["dense/kernel"] = np.ascontiguousarray(params["linear.weight"].T)
    out["dense/bias"] = params["linear.bias"]
    return out


def _h5py():
    try:
        import h5py
    except ImportError:
        raise ImportError("reading and writing Keras files needs h5py, which is not installed: "
                          "pip install 'pytcn[interop]' (or pip install h5py)") from None
    return h5py


def read_keras_tcn(path, head=None):
    """Reads the weights of a keras-tcn model from a ``.keras`` file, a Keras 3 ``.weights.h5`` or a Keras 2
    ``.h5`` (weights or whole model) -> names for ``from_keras_tcn``. ``head``: the name of the Dense layer when
    the file holds more than one (Keras 3 names its groups ``dense``, ``dense_1``...; Keras 2 by layer name)."""
    _path(path)
    if head is not None and not isinstance(head, str):
        raise TypeError(f"head: expected the name of a Dense layer (a str) or None, got {_show(head)}")
    h5py = _h5py()
    with open(path, "rb") as f:
        data = f.read()
    if zipfile.is_zipfile(io.BytesIO(data)):  # a .keras file: a zip holding model.weights.h5
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            if "model.weights.h5" not in z.namelist():
                raise ValueError(f"{path}: a zip file without model.weights.h5, so not a .keras model")
            data = z.read("model.weights.h5")
    try:
        h5 = h5py.File(io.BytesIO(data), "r")
    except OSError as e:
        raise ValueError(f"{path}: not an HDF5 file ({e})") from None
    with h5:
        datasets = {}
        h5.visititems(lambda name, obj: datasets.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset)
                      else None)
    return _keras_names(datasets, path, head)


def _keras_var(path):
    """(layer path, variable) of a dataset path: Keras 3 ".../vars/0", Keras 2 ".../kernel:0"."""
    m = re.match(r"(.*)/vars/(\d+)$", path)
    if m:
        return m.group(1), int(m.group(2))
    m = re.match(r"(.*)/([A-Za-z_]+):0$", path)
    if m:
        return m.group(1), m.group(2)
    return None, None


def _keras_names(datasets, path, head):
    blocks, dense = {}, {}
    for name, value in datasets.items():
        if name.startswith(("optimizer", "optimizer_weights")):
            continue
        if re.search(r"(batch_norm|layer_norm|norm_\d|batch_normalization|layer_normalization)", name):
            raise ValueError(f"{path}: {name!r} is a Keras normalisation layer's; Keras normalises with epsilon "
                             f"1e-3 and momentum 0.99 where pytcn follows PyTorch (1e-5, 0.1), so these weights would "
                             f"not give the same model")
        layer, var = _keras_var(name)
        if layer is None:
            continue
        m = re.match(r"(.*?)/residual_block_(\d+)/(conv1D_0|conv1D_1|matching_conv1D)$", layer)
        if m:
            if "data_dep_init" in name:
                continue
            blocks.setdefault(m.group(1), {})[(int(m.group(2)), m.group(3), var)] = value
        elif var != "initialized" and not name.endswith("initialized:0"):
            dense.setdefault(layer, {})[var] = value
    tcn_layers = sorted(blocks)  # the paths of the TCN layers: layers/tcn (Keras 3), my_tcn/my_tcn (Keras 2)
    if len(tcn_layers) != 1:
        raise ValueError(f"{path}: expected the weights of one keras-tcn TCN layer, found {len(tcn_layers)} "
                         f"({tcn_layers})")
    weights = {}
    for (b, layer, var), value in blocks[tcn_layers[0]].items():
        if isinstance(var, int):
            var = {0: "kernel", 1: "bias"}.get(var)
            if var is None:
                raise ValueError(f"{path}: residual_block_{b}/{layer} has more than a kernel and a bias")
        if var not in ("kernel", "bias", "g"):
            continue
        weights[f"residual_block_{b}/{layer}/{var}"] = value
    heads = {layer: v for layer, v in dense.items() if any(np.ndim(a) == 2 for a in v.values())}
    if head is not None:
        named = {layer: v for layer, v in heads.items() if layer.split("/")[-1] == head}
        if not named:
            raise ValueError(f"{path}: no Dense layer named head={head!r} after the TCN layer (found "
                             f"{sorted(heads) or 'none'})")
        heads = named
    if len(heads) != 1:
        raise ValueError(f"{path}: expected one Dense head after the TCN layer, found {sorted(heads) or 'none'}"
                         + ("" if head else "; name it with head="))
    (_, variables), = heads.items()
    kernel = variables.get(0, variables.get("kernel"))
    bias = variables.get(1, variables.get("bias"))
    if kernel is None or bias is None or np.ndim(kernel) != 2:
        raise ValueError(f"{path}: the head has no kernel and bias of a Dense layer")
    weights["dense/kernel"], weights["dense/bias"] = kernel, bias
    return weights


def write_keras_tcn(path, model):
    """Writes the model's weights as a Keras 3 ``.weights.h5`` for a keras-tcn model of the same arguments followed by
    one Dense layer (``keras.Sequential([Input(...), TCN(...), Dense(outputs)])``): ``model.load_weights(path)``.
    Written atomically."""
    target = os.fspath(_path(path))
    # said before any work, naming the path given (the atomic write would name its hidden temporary file)
    if not target:
        raise ValueError("path: expected the name of the file to write, got ''")
    if target.endswith(("/", os.sep)) or os.path.isdir(target):
        raise IsADirectoryError(f"path {target!r}: names a folder, not the file to write (e.g. model.weights.h5)")
    folder = os.path.dirname(os.path.abspath(target))
    if not os.path.exists(folder):
        raise FileNotFoundError(f"path {target!r}: its folder {folder} does not exist")
    if not os.path.isdir(folder):
        raise NotADirectoryError(f"path {target!r}: {folder} is a file, not a folder")
    weights = to_keras_tcn(model)  # the model's problems, before a missing h5py
    h5py = _h5py()
    from .runtime.files import write_atomic

    def write(f):
        with h5py.File(f, "w") as h5:
            for name, value in weights.items():
                if name.startswith("dense/"):
                    group = "layers/dense/vars"
                else:
                    block_layer, var = name.rsplit("/", 1)
                    group = f"layers/tcn/{block_layer}/vars"
                var = name.rsplit("/", 1)[1]
                h5.create_dataset(f"{group}/{0 if var == 'kernel' else 1}", data=value)

    write_atomic(path, write)
