"""Report section: the log-log size sweep, and where dispatch overhead stops mattering."""
from __future__ import annotations

import json
import math

from bench.report.lib import cell, fmt_s, group_label, groups, impl_order, listing, section, table, task_order


def _x_of(sizes: list[dict]):
    """(axis label, unit word, size -> x) for the one knob that varies across `sizes`; Nones otherwise."""
    varying = [k for k in sizes[0] if len({json.dumps(s.get(k)) for s in sizes}) > 1]
    if len(varying) == 1:
        k = varying[0]
        if isinstance(sizes[0][k], list):
            return "elements per tensor", "elements", lambda s: math.prod(s[k])
        return k, k, lambda s: s[k]
    return None, None, None


def _at(x, unit) -> str:
    """'12 elements', 'batch=8', '2.8G FLOPs'."""
    from bench.report.plots import _count
    return f"{_count(x)} {unit}" if unit in ("elements", "FLOPs") else f"{unit}={_count(x)}"


def _overhead_fit(pts):
    """Fit step = a + b·x (non-negative, relative error); returns (a, b) or None with under two points."""
    if len(pts) < 2:
        return None
    import numpy as np
    from scipy.optimize import nnls
    x = np.array([p[0] for p in pts], float)
    t = np.array([p[1] for p in pts], float)
    (a, b), _ = nnls(np.c_[1 / t, x / t], np.ones_like(t))
    return a, b


def _crossover(pts, allx, unit) -> dict:
    """Table cell: where the fitted work overtakes the fixed cost (small line: the fixed cost)."""
    fit = _overhead_fit(pts)
    if not fit:
        return cell("–", "skip")
    cross = fit[0] / fit[1] if fit[1] > 0 else math.inf
    sub = f"fixed cost {fmt_s(fit[0])}"
    if cross < allx[0]:
        return cell("below range", "skip", sub=sub)
    if cross > allx[-1]:
        return cell("above range", "skip", sub=sub)
    return cell(_at(cross, unit), sub=sub)


def sweep(df) -> dict:
    """Section 5: step time against problem size, log-log, per implementation; where overhead stops mattering."""
    from bench.report import plots
    figures, reading, tables = [], [], []
    grp = groups(df)
    for g in grp:
        label = group_label(*g, len(grp) > 1)
        cols, cells = ["implementation"], {}
        for task in task_order(df):
            ok = df[(df["task"] == task) & (df["where"] == g[0]) & (df["device"] == g[1]) & (df["status"] == "ok")]
            if ok["size_json"].nunique() < 2:
                continue
            sizes = [json.loads(s) for s in ok["size_json"]]
            xlabel, unit, xf = _x_of(list({json.dumps(s, sort_keys=True): s for s in sizes}.values()))
            if xf is None:
                xlabel, unit, xs = "FLOPs per step", "FLOPs", list(ok["flops"])
            else:
                xs = [xf(s) for s in sizes]
            series = {}
            for x, (_, r) in zip(xs, ok.iterrows()):
                series.setdefault(r["impl"], []).append((x, r["median_s"]))
            series = {i: series[i] for i in impl_order(ok) if i in series}
            figures.append(plots.sweep(series, xlabel, f"{task}: step time vs size {label}".strip(),
                                       f"sweep {task} {label}"))
            reading.append(_sweep_reading(task, label, series, unit))
            allx = sorted({x for pts in series.values() for x, _ in pts})
            cols.append(cell(task, sub=f"{_at(allx[0], unit)} … {_at(allx[-1], unit)}"))
            for impl, pts in series.items():
                cells.setdefault(impl, {})[task] = _crossover(pts, allx, unit)
        if cells:
            tasks = [c["text"] for c in cols[1:]]
            rows = [[impl] + [c.get(t, cell("–", "skip")) for t in tasks] for impl, c in cells.items()]
            order = impl_order(df)
            rows.sort(key=lambda r: order.index(r[0]) if r[0] in order else len(order))
            tables.append(table(cols, rows, "Fit per implementation: step ≈ fixed cost + size × per-unit cost. "
                                "Crossover = the size at which the work costs as much as the fixed (dispatch) cost; "
                                "below it overhead dominates. Column heads give the measured size range.",
                                heading=label or None))
    if not figures:
        reading = ["Every task was timed at one size only in these results, so there is no sweep to draw; the "
                   "full profile (fwbench run --profile full) times several sizes per task."]
    return section("sweep", "Size sweep: where dispatch overhead stops mattering", reading, tables, figures)


def _sweep_reading(task, label, series, unit) -> str:
    """Who wins at the smallest and largest size, and where the fitted overhead crossover falls."""
    allx = sorted({x for pts in series.values() for x, _ in pts})
    lo, hi = allx[0], allx[-1]
    at = {x: sorted((dict(pts)[x], i) for i, pts in series.items() if x in dict(pts)) for x in (lo, hi)}
    text = (f"{task}{' on ' + label if label else ''}: at the smallest size ({_at(lo, unit)}) {at[lo][0][1]} is "
            f"fastest ({fmt_s(at[lo][0][0])}); at the largest ({_at(hi, unit)}) {at[hi][0][1]} "
            f"({fmt_s(at[hi][0][0])}).")
    inside, below, above = [], [], []
    for impl, pts in series.items():
        fit = _overhead_fit(pts)
        if not fit:
            continue
        cross = fit[0] / fit[1] if fit[1] > 0 else math.inf
        (below if cross < lo else above if cross > hi else inside).append((impl, cross, fit[0]))
    if inside:
        text += (" Each step costs a fixed overhead plus work that grows with size; the work overtakes the "
                 "overhead at about " + listing([f"{_at(c, unit)} for {i} (overhead {fmt_s(a)})"
                                                 for i, c, a in inside]) + ".")
    if above:
        text += " Overhead dominates across the whole measured range for " + listing([i for i, _, _ in above]) + "."
    if below:
        text += " The work dominates even at the smallest size for " + listing([i for i, _, _ in below]) + "."
    return text
