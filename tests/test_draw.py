"""The stacked-dilation diagram (pytcn.plot.dilation_diagram, `pytcn draw`): the steps it highlights are the steps
that reach the output in a real model, measured by backpropagating that output; and it is written as asked. The
block diagram (pytcn.plot.block_diagram) draws the stages the block has."""
import numpy as np
import pytest

import pytcn
from pytcn import cli
from pytcn.plot import diagram_size, dilation_diagram, dilation_rule, holes, reach
from tests.helpers import one_numba_thread  # noqa: F401 (autouse fixture)


def measured_reach(K, dilations, nb_stacks, padding, T, output_step):
    """The input steps with a nonzero gradient of one output, in a model whose weights, biases and input are all
    positive (no ReLU is ever off, so every path of taps carries gradient)."""
    model = pytcn.TCN(input_channels=1, outputs=1, nb_filters=2, kernel_size=K, dilations=dilations,
                      nb_stacks=nb_stacks, padding=padding, use_skip_connections=False, return_sequences=True,
                      dtype=np.float64, seed=0)
    rng = np.random.default_rng(0)
    for p in model.params.values():
        p[...] = rng.uniform(0.5, 1.0, p.shape)
    x = rng.uniform(0.5, 1.0, (1, T, 1))
    y = model.forward(x)
    dy = np.zeros_like(y)
    dy[0, output_step, 0] = 1.0
    return set(np.flatnonzero(model.backward(dy)[0, :, 0]).tolist())


@pytest.mark.parametrize("K, dilations, nb_stacks, padding", [
    (3, [1, 2, 4], 1, "causal"), (2, [1, 2, 4, 8], 2, "causal"), (4, [2, 3], 1, "causal"),
    (3, [1, 2, 4], 1, "same"), (2, [1, 2, 4, 8], 1, "same"), (4, [1, 3], 2, "same"),
])
def test_the_highlighted_input_steps_are_those_that_reach_the_output(K, dilations, nb_stacks, padding):
    T, output_step, layers, convs = reach(K, dilations, nb_stacks, padding)
    assert len(convs) == 2 * len(dilations) * nb_stacks and len(layers) == len(convs) + 1
    assert layers[0] == measured_reach(K, dilations, nb_stacks, padding, T, output_step)
    if padding == "causal":  # the receptive field, exactly, ends at the output step
        assert max(layers[0]) == output_step == T - 1
        assert max(layers[0]) - min(layers[0]) + 1 == pytcn.receptive_field(K, dilations, nb_stacks)


def offsets_read(K, dilations, nb_stacks):
    """The distances back that the last output reads, as sums over the convolutions of one tap offset each (0 to
    (K-1)d): an oracle written apart from pytcn.plot.reach."""
    offsets = {0}
    for d in list(dilations) * nb_stacks:
        for _conv in range(2):
            offsets = {o + j * d for o in offsets for j in range(K)}
    return offsets


@pytest.mark.parametrize("K", [1, 2, 3, 4])
@pytest.mark.parametrize("nb_stacks", [1, 2])
def test_the_dilation_rule_holds_exactly_where_there_are_no_holes(K, nb_stacks):
    import itertools

    cases = [list(c) for n in (1, 2, 3) for c in itertools.product(range(1, 11), repeat=n)]
    breaking = 0
    for dilations in cases:
        read = offsets_read(K, dilations, nb_stacks)
        expected = sorted(set(range(pytcn.receptive_field(K, dilations, nb_stacks))) - read)
        assert holes(K, dilations, nb_stacks) == expected, dilations
        broken = dilation_rule(K, dilations, nb_stacks)
        assert (broken is None) == (not expected), (dilations, broken, expected)
        if broken is not None:  # the first hole is the step just past the largest allowed dilation's reach
            d, largest = broken
            assert d > largest and expected[0] == largest and d in dilations
            breaking += 1
    assert breaking > 0 or K == 1  # the cases include lists that break it


def test_the_widest_lists_without_holes_grow_by_2k_minus_1():
    # each dilation as large as the rule allows: 1, 2K - 1, (2K - 1)^2, ...: a span of (2K - 1)^D, read whole
    for K in (2, 3):
        dilations = [(2 * K - 1) ** i for i in range(4)]
        assert dilation_rule(K, dilations) is None and holes(K, dilations) == []
        assert pytcn.receptive_field(K, dilations) == (2 * K - 1) ** 4
        assert dilation_rule(K, dilations[:-1] + [dilations[-1] + 1]) == (dilations[-1] + 1, dilations[-1])


def test_the_diagram_is_written_as_png_or_svg(tmp_path):
    dilation_diagram({"kernel_size": 3, "dilations": [1, 2]}, tmp_path / "a.png")
    assert (tmp_path / "a.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    model = pytcn.TCN(input_channels=1, kernel_size=2, dilations=[1, 2, 4], nb_stacks=2, seed=0)
    dilation_diagram(model, tmp_path / "b.svg")
    assert b"<svg" in (tmp_path / "b.svg").read_bytes()[:500]
    with pytest.raises(ValueError, match="path must end in .png or .svg"):
        dilation_diagram(model, tmp_path / "c.jpg")
    with pytest.raises(ValueError, match="must hold kernel_size and dilations"):
        dilation_diagram({"kernel_size": 3})
    with pytest.raises(TypeError, match="a pytcn.TCN or a dict"):
        dilation_diagram([3, [1, 2]])


def test_the_diagram_draws_into_given_axes_and_leaves_pyplot_alone():
    import matplotlib
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    backend = matplotlib.get_backend()
    figures_before = plt.get_fignums()
    own = dilation_diagram({"kernel_size": 3, "dilations": [1, 2]})
    assert tuple(own.get_size_inches()) == pytest.approx(diagram_size(3, [1, 2]))
    assert plt.get_fignums() == figures_before and matplotlib.get_backend() == backend  # not in pyplot's list
    fig = Figure(figsize=(5, 2))
    ax = fig.subplots()
    assert dilation_diagram({"kernel_size": 2, "dilations": [1]}, ax=ax) is fig
    assert len(ax.collections) > 0 and "kernel size 2" in ax.get_title()
    with pytest.raises(TypeError, match="ax must be a matplotlib Axes.*got Figure"):
        dilation_diagram({"kernel_size": 2, "dilations": [1]}, ax=fig)


@pytest.mark.parametrize("args, error, message", [
    ((0, [1, 2]), ValueError, "kernel_size"), ((3, []), ValueError, "dilations must not be empty"),
    ((3, [1, -2]), ValueError, "dilations must all be >= 1"), ((3, "12"), TypeError, "dilations"),
    ((3, [1], 0), ValueError, "nb_stacks"), ((3, [1], 1, "valid"), ValueError, "padding must be"),
])
def test_diagram_size_names_a_bad_argument(args, error, message):
    with pytest.raises(error, match=message):
        diagram_size(*args)


def test_pytcn_draw_from_options_and_from_a_run(tmp_path, capsys):
    out = tmp_path / "d.svg"
    assert cli.main(["draw", "--kernel-size", "2", "--dilations", "1,2,4", "--out", str(out)]) == 0
    assert "receptive field 15 steps" in capsys.readouterr().out and out.exists()
    model = pytcn.TCN(input_channels=1, kernel_size=3, dilations=[1, 2], seed=0)
    model.save(tmp_path / "m.npz")
    assert cli.main(["draw", str(tmp_path / "m.npz"), "--out", str(tmp_path / "m.png")]) == 0
    assert "kernel size 3, dilations [1, 2]" in capsys.readouterr().out
    assert cli.main(["draw", "--kernel-size", "0", "--out", str(out)]) == cli.EXIT_ERROR
    assert "--kernel-size must be >= 1, got 0" in capsys.readouterr().err


@pytest.mark.parametrize("options, branch, residual", [
    (dict(in_channels=2, out_channels=3), ["conv1", "ReLU", "dropout1", "conv2", "ReLU", "dropout2"], "downsample"),
    (dict(in_channels=3, out_channels=3, use_layer_norm=True),
     ["conv1", "norm1", "ReLU", "dropout1", "conv2", "norm2", "ReLU", "dropout2"], "x itself"),
    (dict(in_channels=4, out_channels=4, use_batch_norm=True, dropout_type="elementwise", dropout_rate=0.25),
     ["conv1", "norm1", "ReLU", "dropout1", "conv2", "norm2", "ReLU", "dropout2"], "x itself"),
])
def test_block_diagram_draws_the_stages_the_block_has(options, branch, residual, tmp_path):
    from pytcn.plot import block_diagram, block_stages

    block = pytcn.ResidualBlock(kernel_size=3, dilation=2, **options)
    stages, residual_path = block_stages(block)
    assert [stage.split(":")[0] for stage in stages] == branch
    assert residual_path[0].startswith(residual)
    assert f"{options['in_channels']} -> {options['out_channels']} channels" in stages[0]
    if "dropout_type" in options:  # the kind and rate the block was given
        assert stages[branch.index("dropout1")] == "dropout1: Dropout, rate 0.25"
    fig = block_diagram(block, tmp_path / "block.svg")
    drawn = [text.get_text() for text in fig.axes[0].texts]
    assert all(stage in drawn for stage in stages + residual_path) and (tmp_path / "block.svg").exists()


def test_block_diagram_refuses_what_is_not_a_block_and_unknown_formats(tmp_path):
    from pytcn.plot import block_diagram

    with pytest.raises(TypeError, match="block must be a pytcn.ResidualBlock, got TCN"):
        block_diagram(pytcn.TCN(input_channels=1))
    with pytest.raises(ValueError, match="path must end in .png or .svg"):
        block_diagram(pytcn.ResidualBlock(1, 1, 3, 1), tmp_path / "block.pdf")
