"""The report's figures: matplotlib (Agg) drawn into inline SVG strings, colour-blind-safe (Okabe-Ito)."""
from __future__ import annotations

import html
import io
import math
import re

# one colour per implementation, declared by its folder (Okabe-Ito for the raw frameworks); define-and-run modes get
# dashed lines and square/diamond markers.
MARKERS = {"manual": "o", "eager": "o", "compile": "s", "function": "s", "session": "D", "jit": "s"}
PHASES = (("import_s", "import", "#BBBBBB"), ("setup_s", "setup (data onto device)", "#56B4E9"),
          ("build_s", "build (graph / trace / compile)", "#E69F00"), ("first_step_s", "first step", "#D55E00"),
          ("median_s", "one steady step", "#009E73"))


def colour(impl):
    """The colour of an implementation, as its folder declares it (grey for unknown ids)."""
    from bench.registry import mode_info
    return mode_info(impl).get("colour") or "#999999"


def style(impl):
    """Line/marker style of an implementation: solid circles for eager, dashed squares for graph modes."""
    from bench.registry import paradigm
    mode = impl.partition("/")[2]
    graph = paradigm(impl) == "define-and-run"
    return {"color": colour(impl), "marker": MARKERS.get(mode, "o"), "linestyle": "--" if graph else "-",
            "linewidth": 2, "markersize": 6}


STYLE = {"font.size": 11, "axes.titlesize": 12, "axes.labelsize": 11, "svg.fonttype": "none",
         "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True,
         "grid.alpha": 0.3, "legend.frameon": False, "font.family": "sans-serif"}


def _setup():
    """matplotlib with the Agg backend (unless pyplot already runs, e.g. inline in a notebook) and the report's style."""
    import sys
    import matplotlib
    if "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    plt.rcParams.update(STYLE)
    return plt


def _count(v, _=None) -> str:
    """An axis tick for counts: 1, 10, 100, 1k, 10k, 1M."""
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if v >= div:
            return f"{v / div:.3g}{suffix}"
    return f"{v:.3g}"


def _axes(ax, x=None, y=None):
    """Human tick labels on log axes: 'time' (850 ns, 12 µs, 3 ms, 2 s) or 'count' (1, 10, 1k)."""
    from matplotlib.ticker import FuncFormatter, NullFormatter
    from bench.report.lib import fmt_s
    for axis, kind in ((ax.xaxis, x), (ax.yaxis, y)):
        if kind:
            axis.set_major_formatter(FuncFormatter(_count if kind == "count" else lambda v, _: fmt_s(v)))
            axis.set_minor_formatter(NullFormatter())


def svg(fig, name: str) -> str:
    """The figure as an <svg> element string (ids salted by `name` so several SVGs can share a page)."""
    plt = _setup()
    with plt.rc_context({"svg.hashsalt": name}):
        buf = io.StringIO()
        fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    text = buf.getvalue()
    text = text[text.index("<svg"):]
    label = html.escape(name.strip(), quote=True)
    return re.sub(r"<svg ", f'<svg role="img" aria-label="{label}" class="plot" ', text, count=1)


def _scale(totals):
    """(unit, factor) so the largest of `totals` (seconds) reads well: seconds above 2 s, else milliseconds."""
    return ("s", 1.0) if max(totals) > 2 else ("ms", 1e3)


def phases(rows, title: str) -> str:
    """Stacked horizontal bars of import/setup/build/first step/one steady step per implementation.

    `rows`: list of dicts with impl and the phase columns. Two panels: the whole script (with import) and
    the part after the imports, which is what the slide's datetime.now() stopwatch saw. A bar more than four
    times longer than the next is cut at the axis edge and labelled, so it does not flatten the others.
    """
    plt = _setup()
    fig = plt.figure(figsize=(11, 0.5 * len(rows) + 1.6))
    draw_phases(fig, rows)
    return svg(fig, "phases")


def draw_phases(fig, rows, titles=None, layout_top=1.0, ncol=5):
    """The two panels of `phases` drawn on `fig` (a report figure or a 16:9 slide; `titles` of the two panels,
    `layout_top` of the layout below a suptitle, `ncol` of the legend)."""
    from bench.report.lib import fmt_s
    axes = fig.subplots(1, 2, sharey=True)
    labels = [r["impl"] for r in rows]
    for ax, skip_import in ((axes[0], False), (axes[1], True)):
        keys = [p for p in PHASES if not (skip_import and p[0] == "import_s")]
        totals = [sum((r.get(k) or 0.0) for k, _, _ in keys) for r in rows]
        ranked = sorted(totals, reverse=True)
        limit = ranked[1] * 1.3 if len(ranked) > 1 and ranked[0] > 4 * ranked[1] > 0 else ranked[0] * 1.18
        unit, scale = _scale([limit])
        left = [0.0] * len(rows)
        for key, label, col in keys:
            vals = [(r.get(key) or 0.0) * scale for r in rows]
            ax.barh(labels, vals, left=left, color=col, label=label, edgecolor="white", linewidth=0.5)
            left = [a + b for a, b in zip(left, vals)]
        ax.set_xlabel("seconds" if unit == "s" else "milliseconds")
        ax.set_title(titles[skip_import] if titles else "whole script: import + setup + build + first step + step"
                     if not skip_import else "after the imports (what the slide's stopwatch saw)")
        ax.grid(axis="y", visible=False)
        ax.set_xlim(0, limit * scale or 1)
        for y, total in enumerate(totals):
            if total * scale > limit * scale * 0.86:
                ax.annotate(f"{fmt_s(total)} ▸", (limit * scale, y), xytext=(-4, 0), textcoords="offset points",
                            va="center", ha="right", fontsize="small", fontweight="bold",
                            bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none", "alpha": 0.85})
            else:
                ax.annotate(fmt_s(total), (total * scale, y), xytext=(3, 0), textcoords="offset points",
                            va="center", fontsize="small")
    axes[0].invert_yaxis()
    handles, names = axes[0].get_legend_handles_labels()
    fig.tight_layout(rect=(0, (0.08 if len(rows) > 4 else 0.14) * 5 / ncol, 1, layout_top))
    fig.legend(handles, names, loc="lower center", ncol=ncol, fontsize="small")


def break_even(groups, name="break-even") -> str:
    """Total time after N steps (build + N x step), log-log, one panel per task: where the lines cross.

    `groups`: {task: [(impl, build_s, step_s), ...]}. A ring marks each graph mode's break-even with its eager twin.
    """
    plt = _setup()
    cols = min(len(groups), 2)
    fig = plt.figure(figsize=(6 * cols, 3.8 * ((len(groups) + 1) // 2)))
    draw_break_even(fig, groups)
    return svg(fig, name)


def draw_break_even(fig, groups, layout_top=1.0, cols=2):
    """The panels of `break_even` drawn on `fig`, `cols` to a row (`layout_top`: of the layout, below a suptitle)."""
    import numpy as np
    n = len(groups)
    cols = min(n, cols)
    axes = fig.subplots(-(-n // cols), cols, squeeze=False)
    handles = {}
    for panel, (ax, (task, lines)) in enumerate(zip(axes.flat, groups.items())):
        byimpl = {impl: (build, step) for impl, build, step in lines}
        rings = []
        for impl, build, step in lines:
            fw, _, mode = impl.partition("/")
            eager = byimpl.get(f"{fw}/eager")
            if mode != "eager" and eager and step < eager[1]:
                k = max(1.0, (build - eager[0]) / (eager[1] - step))   # where the lines cross
                rings.append((impl, k, build + k * step, max(1, math.ceil(build / (eager[1] - step)))))
        top = min(1e6, max([1e3] + [100 * r[1] for r in rings]))
        steps = np.logspace(0, np.log10(top), 60)
        for impl, build, step in lines:
            st = style(impl)
            st["marker"] = None
            handles[impl] = ax.plot(steps, build + steps * step, label=impl, **st)[0]
        for j, (impl, k, y, label) in enumerate(sorted(rings, key=lambda r: r[1])):
            ax.plot([k], [y], marker="o", markersize=9, markerfacecolor="white", markeredgecolor=colour(impl),
                    markeredgewidth=2.2, zorder=5)
            ax.annotate(_count(label), (k, y), xytext=(8, -14 + 13 * (j % 3)), textcoords="offset points",
                        fontsize="small", color="#222222", fontweight="bold")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(task)
        _axes(ax, "count", "time")
        ax.set_xlabel("training steps")
        if panel % cols == 0 or cols <= 2:
            ax.set_ylabel("build + steps")
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    from bench.registry import IMPLS
    order = [i for i in IMPLS if i in handles] + [i for i in handles if i not in IMPLS]
    legend_rows = -(-len(order) // 4)
    fig.tight_layout(rect=(0, (0.1 if n <= cols else 0.06) * (1 + 0.5 * (legend_rows - 1)), 1, layout_top))
    fig.legend([handles[i] for i in order], order, loc="lower center", ncol=min(len(order), 4), fontsize="small")


def sweep(series, xlabel: str, title: str, name: str) -> str:
    """Step time against problem size, log-log, one line per implementation. `series`: {impl: [(x, s), ...]}."""
    plt = _setup()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    draw_sweep(ax, series, xlabel, title)
    return svg(fig, name)


def draw_sweep(ax, series, xlabel: str, title: str):
    """The lines of `sweep` drawn on `ax`."""
    for impl, pts in series.items():
        pts = sorted(pts)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], label=impl, **style(impl))
    ax.set_xscale("log")
    ax.set_yscale("log")
    _axes(ax, "count", "time")
    xs = sorted({p[0] for pts in series.values() for p in pts})
    if len(xs) <= 8:
        ax.set_xticks(xs, [_count(x) for x in xs])
        ax.minorticks_off()
    ax.set_xlabel(xlabel)
    ax.set_ylabel("seconds per step (median)")
    ax.set_title(title)
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))


def efficiency(points, peak, title: str, measured=None) -> str:
    """Achieved GFLOP/s per task (rows) and implementation (markers), log x, the peaks as lines.

    `points`: list of (task, impl, gflops); `peak`: theoretical GFLOP/s or None; `measured`: the measured one.
    """
    plt = _setup()
    tasks = list(dict.fromkeys(p[0] for p in points))
    fig, ax = plt.subplots(figsize=(9, 0.7 * len(tasks) + 1.8))
    impls = list(dict.fromkeys(p[1] for p in points))
    for k, impl in enumerate(impls):
        xs = [g for t, i, g in points if i == impl]
        ys = [tasks.index(t) + (k - (len(impls) - 1) / 2) * 0.08 for t, i, g in points if i == impl]
        st = style(impl)
        ax.scatter(xs, ys, color=st["color"], marker=st["marker"], s=45, label=impl, zorder=3)
    for value, name, ls in ((measured, "measured peak", "-"), (peak, "theoretical peak", ":")):
        if value:
            ax.axvline(value, color="#333333", linestyle=ls, linewidth=1.2)
            ax.annotate(f"{name}\n{value:.0f} GFLOP/s", (value, -0.5), xytext=(-4, -2), textcoords="offset points",
                        ha="right", va="top", fontsize="small")
    ax.set_yticks(range(len(tasks)), tasks)
    ax.set_ylim(len(tasks) - 0.5, -0.5)
    ax.set_xscale("log")
    _axes(ax, "count")
    ax.set_xlabel("achieved GFLOP/s (log scale)")
    ax.set_title(title)
    ax.grid(axis="y", visible=False)
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return svg(fig, "efficiency")


def draw_ratios(ax, rows, xlabel: str, title: str):
    """Horizontal bars of ratios with their 95% CIs, log x, a line at 1, grouped by task.

    `rows`: dicts with task, impl (colour), label, ratio, lo, hi; bars are labelled '17×'.
    """
    from bench.report.lib import fmt_x
    y, ticks, last = 0.0, [], None
    for r in rows:
        if last is not None and r["task"] != last:
            y += 0.6                                  # a gap between tasks
        last = r["task"]
        ax.barh(y, r["ratio"] - 1, color=colour(r["impl"]), height=0.8, left=1)     # from 1: below it, slower
        ax.errorbar(r["ratio"], y, xerr=[[r["ratio"] - r["lo"]], [r["hi"] - r["ratio"]]], fmt="none",
                    ecolor="#222222", capsize=4, linewidth=1.5)
        ax.annotate(fmt_x(r["ratio"]), (max(r["hi"], 1.0), y), xytext=(6, 0), textcoords="offset points", va="center",
                    fontsize="small", fontweight="bold")
        ticks.append((y, f"{r['task']}: {r['label']}"))
        y += 1.0
    ax.set_xscale("log")
    ax.axvline(1.0, color="#333333", linewidth=1.2)
    ax.set_yticks([t for t, _ in ticks], [label for _, label in ticks])
    ax.set_ylim(y - 0.4, -0.6)
    hi = max([r["hi"] for r in rows] + [2.0])
    lo = min([r["lo"] for r in rows] + [1.0])
    ax.set_xlim(lo / 1.6, hi * 3)
    _axes(ax, "count")
    ax.set_xlabel(xlabel)
    if title:
        ax.set_title(title)
    ax.grid(axis="y", visible=False)
