"""The post's stacked-dilation diagram of any architecture (``dilation_diagram``): which taps of which convolution one
output step reads, drawn as the blog post draws it, and checked against a real model's gradient (tests/test_draw.py);
and a residual block as boxes and arrows (``block_diagram``), drawn from the block's own layers.
"""
import os

from .nn.architecture import receptive_field
from .runtime.files import new_figure, save_figure

#: The largest diagram drawn: a dot per step on a figure at most 40 inches wide is unreadable long before this, and
#: the work (a set of steps per row, K taps from each, a row per convolution) grows as steps x taps x rows. At these
#: limits a diagram takes a few seconds; past them it is refused at once, saying the receptive field, instead of
#: running for minutes.
MAX_STEPS = 4096  # receptive field
MAX_ROWS = 128  # convolutions
MAX_TAPS = 600_000  # steps x taps x rows


def drawable(kernel_size, dilations, nb_stacks=1, T=None):
    """Checks that the diagram of this architecture is small enough to draw (see ``MAX_STEPS``, ``MAX_ROWS`` and
    ``MAX_TAPS``); raises ValueError saying its size and its receptive field when not."""
    R = receptive_field(kernel_size, dilations, nb_stacks)  # checks the three, naming a bad one
    steps = R + 6 if T is None else T
    rows = 2 * len(dilations) * nb_stacks
    if max(R, steps if T is not None else 0) > MAX_STEPS or rows > MAX_ROWS or steps * kernel_size * rows > MAX_TAPS:
        raise ValueError(f"kernel_size {kernel_size}, dilations {list(dilations)}, nb_stacks {nb_stacks}: too large "
                         f"to draw readably ({steps} steps, {rows} convolutions of {kernel_size} taps; at most "
                         f"{MAX_STEPS} steps, {MAX_ROWS} convolutions and {MAX_TAPS} taps in all are drawn). Its "
                         f"receptive field is {R} steps")


def reach(kernel_size, dilations, nb_stacks=1, padding="causal", T=None, output_step=None):
    """Which steps of each layer feed one output step: a list, input first, of the sets of steps of the input and of
    each convolution's output that the output at ``output_step`` (the head's step: the last, or T // 2 with
    padding='same') reads through some path of taps. T: the steps drawn (the receptive field and a margin by
    default). Returns (T, output_step, layers), layers[0] the input's steps."""
    drawable(kernel_size, dilations, nb_stacks, T)
    K = kernel_size
    convs = [d for _ in range(nb_stacks) for d in dilations for _conv in range(2)]
    span = receptive_field(K, dilations, nb_stacks) - 1
    if T is None:
        T = span + 1 + (6 if padding == "same" else 3)
    if output_step is None:
        output_step = T // 2 if padding == "same" else T - 1
    layers = [{output_step}]
    for d in reversed(convs):  # from the output down: each step reads its K taps in the layer below
        first = -((K - 1) * d // 2) if padding == "same" else -(K - 1) * d  # the offset of tap 0
        below = {t + first + j * d for t in layers[0] for j in range(K)}
        layers.insert(0, {t for t in below if 0 <= t < T})  # steps outside the sequence are padding
    return T, output_step, layers, convs


def holes(kernel_size, dilations, nb_stacks=1):
    """The input steps inside the receptive field that the last output reads through no path of taps, as distances
    back from the output (1 = the step before it), in increasing order; [] when it reads its whole span."""
    T, out, layers, _ = reach(kernel_size, list(dilations), nb_stacks)
    span = receptive_field(kernel_size, dilations, nb_stacks)
    return sorted(set(range(span)) - {out - t for t in layers[0]})


def dilation_rule(kernel_size, dilations, nb_stacks=1):
    """The rule that leaves no holes: with the dilations of all stacks sorted, the first one 1 and each at most
    1 + 2(K-1) times the sum of those before it. (Each block reads offsets 0, d, ..., 2(K-1)d through its two
    convolutions; blocks add their offsets, so the offsets read so far, 0 to 2(K-1)·Σd, stay contiguous exactly while
    the next d fits in the gap after them.) Returns None when every dilation obeys it, else (the first dilation,
    sorted, that breaks it, the largest it could have been). With K = 1 the output reads one step: never a hole."""
    receptive_field(kernel_size, dilations, nb_stacks)  # checks the three, naming a bad one
    if kernel_size == 1:
        return None
    total = 0
    for d in sorted(list(dilations) * nb_stacks):
        if d > 1 + 2 * (kernel_size - 1) * total:
            return d, 1 + 2 * (kernel_size - 1) * total
        total += d
    return None


def diagram_size(kernel_size, dilations, nb_stacks=1, padding="causal"):
    """The (width, height) in inches that ``dilation_diagram`` gives its own figure: wide enough for every step."""
    receptive_field(kernel_size, dilations, nb_stacks)  # checks the three, naming a bad one
    if padding not in ("causal", "same"):
        raise ValueError(f"padding must be 'causal' or 'same', got {padding!r}")
    T, _, layers, _ = reach(kernel_size, list(dilations), nb_stacks, padding)
    return min(40.0, max(7.0, T * 0.12)), max(3.0, 0.45 * len(layers) + 1.2)


def dilation_diagram(model_or_config, path=None, output_step=None, ax=None):
    """The post's stacked-dilation figure for any TCN: the input steps at the bottom, one row per convolution (two
    per residual block), and the taps through which one output step reads the input highlighted, with the
    receptive field marked on the input. ``model_or_config``: a pytcn.TCN, or a dict with kernel_size, dilations
    and optionally nb_stacks and padding (keras-tcn's names). Draws into ``ax`` (a matplotlib Axes) when given,
    else into a Figure of its own, sized to the diagram. Saves the figure to ``path`` (.png or .svg) when given;
    returns the matplotlib Figure.

    In a notebook, draw into an Axes made with pyplot (``fig, ax = plt.subplots(figsize=...)``) to see the
    diagram inline: a Figure made outside pyplot shows only as text until pyplot has shown one."""
    from .nn.model import TCN

    if isinstance(model_or_config, TCN):
        m = model_or_config
        config = dict(kernel_size=m.kernel_size, dilations=m.dilations, nb_stacks=m.nb_stacks, padding=m.padding)
    elif isinstance(model_or_config, dict):
        config = {key: model_or_config[key] for key in ("kernel_size", "dilations", "nb_stacks", "padding")
                  if key in model_or_config}
        if "kernel_size" not in config or "dilations" not in config:
            raise ValueError(f"model_or_config must hold kernel_size and dilations, got {sorted(model_or_config)}")
    else:
        raise TypeError(f"model_or_config must be a pytcn.TCN or a dict of its arguments, got "
                        f"{type(model_or_config).__name__}")
    K, dilations = config["kernel_size"], list(config["dilations"])
    stacks, padding = config.get("nb_stacks", 1), config.get("padding", "causal")
    R = receptive_field(K, dilations, stacks)
    if padding not in ("causal", "same"):
        raise ValueError(f"padding must be 'causal' or 'same', got {padding!r}")
    if path is not None and os.path.splitext(str(path))[1].lower() not in (".png", ".svg"):
        raise ValueError(f"path must end in .png or .svg, got {str(path)!r}")
    if ax is not None:
        from matplotlib.axes import Axes

        if not isinstance(ax, Axes):
            raise TypeError(f"ax must be a matplotlib Axes (e.g. from plt.subplots()), got {type(ax).__name__}")
    T, out_step, layers, convs = reach(K, dilations, stacks, padding, output_step=output_step)

    from matplotlib.collections import LineCollection

    rows = len(layers)
    if ax is None:
        fig = new_figure(diagram_size(K, dilations, stacks, padding))
        ax = fig.subplots()
    else:
        fig = ax.figure
    for row in range(rows):  # every node, grey
        ax.scatter(range(T), [row] * T, s=6, color="#c8c8c8", zorder=1, linewidths=0)
    edges = []
    for row in range(1, rows):
        d = convs[row - 1]
        first = -((K - 1) * d // 2) if padding == "same" else -(K - 1) * d
        for t in layers[row]:
            edges += [[(t, row), (t + first + j * d, row - 1)] for j in range(K) if 0 <= t + first + j * d < T]
    ax.add_collection(LineCollection(edges, colors="#1f77b4", linewidths=0.6, alpha=0.5, zorder=2))
    for row, steps in enumerate(layers):
        ax.scatter(sorted(steps), [row] * len(steps), s=14, color="#1f77b4", zorder=3, linewidths=0)
    reached = sorted(layers[0])
    ax.axvspan(reached[0] - 0.5, reached[-1] + 0.5, ymin=0, ymax=0.6 / rows, color="#ff7f0e", alpha=0.25, zorder=0)
    ax.annotate(f"receptive field: a span of {reached[-1] - reached[0] + 1} input steps (R = {R}), "
                f"{len(reached)} of them read",
                xy=((reached[0] + reached[-1]) / 2, -0.55), ha="center", va="top", fontsize=9, color="#b35806")
    ax.scatter([out_step], [rows - 1], s=40, color="#d62728", zorder=4)
    labels = ["input"] + [f"block {k // 2}, conv{k % 2 + 1} (d={d})" for k, d in enumerate(convs)]
    ax.set_yticks(range(rows), labels, fontsize=8)
    ax.set_xlim(-1, T)
    ax.set_ylim(-1.3, rows - 0.5)
    ax.set_xlabel("time step")
    approx = 2 ** (len(dilations) - 1) * K * stacks
    ax.set_title(f"kernel size {K}, dilations {dilations}, {stacks} stack{'s' if stacks > 1 else ''}, padding "
                 f"{padding}\noutput step {out_step} (red) reads the blue steps; the approximation "
                 f"2^(D-1)·K·s = {approx}", fontsize=9)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.tight_layout()
    if path is not None:
        save_figure(fig, path, fmt=os.path.splitext(str(path))[1].lower()[1:])
    return fig


def block_stages(block):
    """A residual block's forward pass as its stages, read from the block itself: (branch, residual), each a list of
    one-line labels in the order the forward pass runs them. The branch: each convolution (its kernel size,
    dilation and channels), its normalisation if any, its ReLU and its dropout; the residual: the 1x1 convolution
    ("downsample") where the channel count changes, else x itself."""
    from .nn.block import ResidualBlock

    if not isinstance(block, ResidualBlock):
        raise TypeError(f"block must be a pytcn.ResidualBlock, got {type(block).__name__}")
    branch = []
    for k, conv, norm, dropout in ((1, block.conv1, block.norm1, block.dropout1),
                                   (2, block.conv2, block.norm2, block.dropout2)):
        weight_norm = ", weight-normalised" if conv.use_weight_norm else ""
        branch.append(f"conv{k}: K = {conv.kernel_size}, d = {conv.dilation}, {conv.in_channels} -> "
                      f"{conv.out_channels} channels{weight_norm}")
        if norm is not None:
            branch.append(f"norm{k}: {type(norm).__name__}")
        branch.append("ReLU")
        branch.append(f"dropout{k}: {type(dropout).__name__}, rate {dropout.rate:g}")
    if block.downsample is None:
        residual = ["x itself\n(C_in = C_out)"]
    else:
        residual = [f"downsample: 1x1 convolution,\n{block.downsample.in_channels} -> "
                    f"{block.downsample.out_channels} channels"]
    return branch, residual


def block_diagram(block, path=None, ax=None):
    """The residual block as boxes and arrows, drawn from ``block`` (a pytcn.ResidualBlock) itself
    (``block_stages``): x at the top, the branch down the left, the residual path on the right, their sum and its
    ReLU at the bottom, and the branch's output leaving as the skip connection. Draws into ``ax`` when given, else
    into a Figure of its own; saves it to ``path`` (.png or .svg) when given; returns the Figure."""
    branch, residual = block_stages(block)
    if path is not None and os.path.splitext(str(path))[1].lower() not in (".png", ".svg"):
        raise ValueError(f"path must end in .png or .svg, got {str(path)!r}")
    if ax is None:
        fig = new_figure((9, 0.5 * (len(branch) + 6)))
        ax = fig.subplots()
    else:
        fig = ax.figure
    rows = len(branch) + 4  # x, the branch's stages, the sum, its ReLU, out

    def box(x, row, text, color):
        ax.text(x, rows - row, text, ha="center", va="center", fontsize=8.5,
                bbox=dict(boxstyle="round,pad=0.35", facecolor=color, edgecolor="#555555"))

    def arrow(x0, row0, x1, row1):
        ax.annotate("", xy=(x1, rows - row1 + 0.28), xytext=(x0, rows - row0 - 0.28),
                    arrowprops=dict(arrowstyle="->", color="#333333", lw=1))

    box(0, 0, "x: (N, C_in, T)", "#ffffff")
    for row, text in enumerate(branch, start=1):
        box(0, row, text, "#d6e6f4" if text.startswith("conv") else "#eeeeee")
        arrow(0, row - 1, 0, row)
    total = len(branch) + 1
    side = total - 1  # the residual path's row, beside the branch's last stage
    box(4.6, side, residual[0], "#fde0c5")
    ax.plot([0.95, 4.6], [rows, rows], color="#333333", lw=1)  # from x to the right, then down to the residual path
    arrow(4.6, -0.28, 4.6, side - 0.2)
    box(0, total, "+", "#ffffff")
    arrow(0, total - 1, 0, total)
    arrow(4.6, side + 0.2, 0.15, total)
    box(0, total + 1, "ReLU", "#eeeeee")
    arrow(0, total, 0, total + 1)
    box(0, total + 2, "out: (N, C_out, T), the next block's x", "#ffffff")
    arrow(0, total + 1, 0, total + 2)
    ax.annotate("skip: the branch, to the head", xy=(-0.1, rows - total + 0.5), xytext=(-4.4, rows - total + 0.5),
                ha="left", va="center", fontsize=8, color="#b35806",
                arrowprops=dict(arrowstyle="<-", color="#b35806", lw=1))
    ax.set_xlim(-4.6, 6.6)
    ax.set_ylim(0.3, rows + 0.6)
    ax.axis("off")
    ax.set_title("One residual block, drawn from its layers", fontsize=10)
    if path is not None:
        save_figure(fig, path, fmt=os.path.splitext(str(path))[1].lower()[1:])
    return fig
