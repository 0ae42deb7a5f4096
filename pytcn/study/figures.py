"""Figures of a sweep's results (pytcn.study.sweep.Store), as the blog post drew them; each saved atomically.

- ``triangle``: per task, the isolation charts at the vertices of a triangle (k, D, s varied alone) and the fixed
  receptive field charts on its edges (k vs D, k vs s, D vs s), shaded as the post shades them;
- ``bubbles``: per task, depth (convolution layers) against trainable parameters, bubble area the exact receptive
  field, colour the metric;
- ``copy_length``: copy-memory accuracy against the sequence length, over every step and over the 10 recalled
  symbols, with the exact and the approximate receptive field marked.

Each reads the results store alone: the figures of a sweep can be drawn on another machine from its results file.
"""
import os

from ..runtime.files import new_figure, save_figure
from ..tasks.copy_memory import sequence_length

VERTICES = {"k": (0.5, 0.76), "D": (0.21, 0.16), "s": (0.79, 0.16)}  # panel centres, in figure fractions
NAMES = {"k": "kernel size k", "D": "dilated levels D", "s": "stacks s"}
FIXED_SHADE = "#e4e4e4"  # the post draws the fixed receptive field charts grey, the isolation ones white


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
    fig = new_figure((12, 10))
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
    return save_figure(fig, path)


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
    fig = new_figure((6.5 * len(by_task), 5.5))
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
    return save_figure(fig, path)


def copy_length(store, path):
    """Copy-memory accuracy against the sequence length (T + 20 steps), over every step and over the 10 recalled
    symbols, with the architecture's exact and approximate receptive fields marked."""
    rows = sorted(_finished(store.rows(experiment="copy-length")), key=lambda r: r["length"])
    if not rows:
        return None
    lengths = [sequence_length(r["length"]) for r in rows]
    fig = new_figure((8, 5))
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
    return save_figure(fig, path)


def plot_all(store, folder):
    """Every figure the store has results for, into ``folder``; returns their paths."""
    paths = [triangle(store, task, os.path.join(folder, f"triangle-{task}.png"))
             for task in ("adding", "copy-memory", "mnist")]
    paths += [bubbles(store, os.path.join(folder, "bubbles.png")),
              copy_length(store, os.path.join(folder, "copy-length.png"))]
    return [p for p in paths if p is not None]
