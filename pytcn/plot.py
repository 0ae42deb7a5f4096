"""Figures of a sweep's results (pytcn.sweep.Store), as the blog post drew them, and the stacked-dilation diagram of
an architecture (``dilation_diagram``); each saved atomically.

- ``triangle``: per task, the isolation charts at the vertices of a triangle (k, D, s varied alone) and the fixed
  receptive field charts on its edges (k vs D, k vs s, D vs s), shaded as the post shades them;
- ``bubbles``: per task, depth (convolution layers) against trainable parameters, bubble area the exact receptive
  field, colour the metric;
- ``copy_length``: copy-memory accuracy against the sequence length, over every step and over the 10 recalled
  symbols, with the exact and the approximate receptive field marked.

Each reads the results store alone: the figures of a sweep can be drawn on another machine from its results file.
"""
import os

from .files import write_atomic

VERTICES = {"k": (0.5, 0.76), "D": (0.21, 0.16), "s": (0.79, 0.16)}  # panel centres, in figure fractions
NAMES = {"k": "kernel size k", "D": "dilated levels D", "s": "stacks s"}
FIXED_SHADE = "#e4e4e4"  # the post draws the fixed receptive field charts grey, the isolation ones white


def _figure(figsize):
    """A matplotlib Figure of its own, outside pyplot: the library never changes the caller's backend, nor keeps
    figures open in pyplot's list (a notebook shows a returned Figure as any other)."""
    from matplotlib.figure import Figure

    return Figure(figsize=figsize)


def _save(fig, path):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    write_atomic(path, lambda f: fig.savefig(f, format="png", dpi=110))
    return path


def _metric_axis(ax, rows):
    name = rows[0]["metric_name"] or "metric"
    lower = name == "MSE"
    ax.set_ylabel(f"validation {name}" + (" (log)" if lower else ""))
    if lower:
        ax.set_yscale("log")


def _finished(rows):
    return [r for r in rows if r["status"] == "done"]


def triangle(store, task, path):
    """The post's triangle of six charts for ``task``: isolation at the vertices, fixed receptive field on the
    edges. Returns the path, or None when the store has no finished trial of either experiment for the task."""
    rows = _finished(store.rows(task=task, experiment="isolation")) + \
        _finished(store.rows(task=task, experiment="fixed-rf"))
    if not rows:
        return None
    fig = _figure((12, 10))
    w, h = 0.22, 0.15
    values = [r["val_metric"] for r in rows]
    lower = rows[0]["metric_name"] == "MSE"
    # one scale for all six charts, so that the spread along an edge and along a vertex compare at a glance
    if lower:
        ylim = (min(values) / 1.5, max(values) * 1.5)
    else:
        ylim = (max(0.0, min(values) - 0.05), min(1.0, max(values)) + 0.03)
    panels = {name: VERTICES[name] for name in ("k", "D", "s")}
    for a, b in (("k", "D"), ("k", "s"), ("D", "s")):
        (xa, ya), (xb, yb) = VERTICES[a], VERTICES[b]
        panels[f"{a}-{b}"] = ((xa + xb) / 2, (ya + yb) / 2)
    for group, (cx, cy) in panels.items():
        ax = fig.add_axes([cx - w / 2, cy - h / 2, w, h])
        members = sorted((r for r in rows if r["group"] == group), key=lambda r: (r["k"], r["D"], r["s"]))
        fixed = "-" in group
        if fixed:
            ax.set_facecolor(FIXED_SHADE)
            a, b = group.split("-")
            members.sort(key=lambda r: r["D" if group == "k-D" else "s"])  # the number that rises along the edge
            labels = [f"{a}={r[a]}\n{b}={r[b]}" for r in members]
            fields = sorted(r["receptive_field"] for r in members)
            span = "" if not fields else f"{fields[0]} steps" if fields[0] == fields[-1] else \
                f"{fields[0]}-{fields[-1]} steps"
            title = f"{NAMES[a]} vs {NAMES[b]}\n" + (f"exact R {span}" if span else "")
        else:
            members.sort(key=lambda r: r[group])
            labels = [str(r[group]) for r in members]
            title = f"{NAMES[group]} alone"
            ax.set_xlabel(NAMES[group])
        if members:
            ax.plot(range(len(members)), [r["val_metric"] for r in members], "o-", color="C0" if not fixed else "C3")
            ax.set_xticks(range(len(members)), labels, fontsize=7 if fixed else 9)
            _metric_axis(ax, members)
            ax.set_ylim(*ylim)
            ax.set_title(title, fontsize=9)
        else:
            ax.set_title(f"{title.splitlines()[0]}\n(no finished trial)", fontsize=9)
    fig.suptitle(f"{task}: each number alone (white) and two at once at a fixed receptive field (grey)")
    return _save(fig, path)


def bubbles(store, path):
    """Depth against trainable parameters, bubble area the exact receptive field, colour the validation metric; one
    panel per task with finished isolation or fixed-rf trials."""
    import numpy as np

    by_task = {}
    for row in _finished(store.rows()):
        if row["experiment"] in ("isolation", "fixed-rf"):
            by_task.setdefault(row["task"], {})[row["run_key"]] = row  # one bubble per configuration
    if not by_task:
        return None
    fig = _figure((6.5 * len(by_task), 5.5))
    axes = fig.subplots(1, len(by_task), squeeze=False)
    largest = max(r["receptive_field"] for runs in by_task.values() for r in runs.values())
    for ax, (task, runs) in zip(axes[0], sorted(by_task.items())):
        rows = list(runs.values())
        metric = np.array([r["val_metric"] for r in rows])
        lower = rows[0]["metric_name"] == "MSE"
        points = ax.scatter([r["depth"] for r in rows], [r["params"] for r in rows],
                            s=[1500 * r["receptive_field"] / largest for r in rows], c=np.log10(metric) if lower
                            else metric, cmap="viridis_r" if lower else "viridis", alpha=0.75, edgecolors="k")
        ax.set(xlabel="depth (convolution layers)", ylabel="trainable parameters", yscale="log", title=task)
        bar = fig.colorbar(points, ax=ax)
        bar.set_label(f"validation {'log10 ' if lower else ''}{rows[0]['metric_name']}")
    fig.suptitle(f"bubble area: exact receptive field (largest: {largest} steps)")
    fig.tight_layout()
    return _save(fig, path)


def copy_length(store, path):
    """Copy-memory accuracy against the sequence length (T + 20 steps), over every step and over the 10 recalled
    symbols, with the architecture's exact and approximate receptive fields marked."""
    rows = sorted(_finished(store.rows(experiment="copy-length")), key=lambda r: r["length"])
    if not rows:
        return None
    lengths = [r["length"] + 20 for r in rows]
    fig = _figure((8, 5))
    ax = fig.subplots()
    ax.plot(lengths, [r["metrics"]["accuracy_every_step"] for r in rows], "o-", label="every step")
    ax.plot(lengths, [r["metrics"]["accuracy_last_10"] for r in rows], "s-", label="the 10 recalled symbols")
    exact, approx = rows[0]["receptive_field"], rows[0]["approximate_receptive_field"]
    ax.axvline(exact, color="C2", ls="--", label=f"exact receptive field ({exact} steps)")
    ax.axvline(approx, color="C3", ls=":", label=f"2^(D-1) k s ({approx} steps)")
    ax.axhline(1 / 8, color="grey", lw=0.8, label="chance on a recalled symbol (1/8)")
    ax.set(xlabel="sequence length T + 20 (steps)", ylabel="validation accuracy", ylim=(0, 1.02),
           title=f"copy memory, k={rows[0]['k']}, D={rows[0]['D']}, s={rows[0]['s']}: one architecture, longer "
                 f"and longer sequences")
    ax.legend(loc="center right", fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def plot_all(store, folder):
    """Every figure the store has results for, into ``folder``; returns their paths."""
    paths = [triangle(store, task, os.path.join(folder, f"triangle-{task}.png"))
             for task in ("adding", "copy-memory", "mnist")]
    paths += [bubbles(store, os.path.join(folder, "bubbles.png")),
              copy_length(store, os.path.join(folder, "copy-length.png"))]
    return [p for p in paths if p is not None]


# ---------------------------------------------------------------------------------------------------------------
# the stacked-dilation diagram


def reach(kernel_size, dilations, nb_stacks=1, padding="causal", T=None, output_step=None):
    """Which steps of each layer feed one output step: a list, input first, of the sets of steps of the input and of
    each convolution's output that the output at ``output_step`` (the head's step: the last, or T // 2 with
    padding='same') reads through some path of taps. T: the steps drawn (the receptive field and a margin by
    default). Returns (T, output_step, layers), layers[0] the input's steps."""
    K = kernel_size
    convs = [d for _ in range(nb_stacks) for d in dilations for _conv in range(2)]
    span = 2 * (K - 1) * nb_stacks * sum(dilations)  # R - 1
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


def diagram_size(kernel_size, dilations, nb_stacks=1, padding="causal"):
    """The (width, height) in inches that ``dilation_diagram`` gives its own figure: wide enough for every step."""
    from .model import receptive_field

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
    from .model import TCN, receptive_field

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
        fig = _figure(diagram_size(K, dilations, stacks, padding))
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
    ax.annotate(f"receptive field: {reached[-1] - reached[0] + 1} input steps (exact R = {R})",
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
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        fmt = os.path.splitext(str(path))[1].lower()[1:]
        write_atomic(path, lambda f: fig.savefig(f, format=fmt, dpi=110))
    return fig
