"""Report section: define-and-run vs define-by-run (build cost, break-even steps, retrace on a new size)."""
from __future__ import annotations

import math

from bench.report.lib import (cell, fmt_n, fmt_s, fmt_x, group_label, groups, headline_sizes, impl_order, listing,
                             missing, section, table, task_order)


def break_even_steps(build_s, eager_s, graph_s):
    """Steps after which a graph mode's build has paid for itself: build / (eager − graph); None = never."""
    if missing(build_s) or missing(eager_s) or missing(graph_s) or graph_s >= eager_s:
        return None
    return max(1, math.ceil(build_s / (eager_s - graph_s)))


def _pairs(ok):
    """(eager row or None, graph row) for every graph mode measured, with its framework's eager mode if measured."""
    from bench.registry import paradigm
    out = []
    for impl in impl_order(ok):
        fw, _, mode = impl.partition("/")
        if paradigm(impl) != "define-and-run":
            continue
        eager = ok[ok["impl"] == f"{fw}/eager"]
        out.append((eager.iloc[0] if len(eager) else None, ok[ok["impl"] == impl].iloc[0]))
    return out


def _retrace(g) -> dict:
    """Table cell for a graph row's retrace measurement (first step at a new batch size)."""
    if missing(g["retrace_first_step_s"]):
        return cell("not measured", "skip")
    same = set(str(g["size"]).split())
    new = " ".join(t for t in str(g["retrace_size"]).split() if t not in same) or g["retrace_size"]
    traces = "" if missing(g["retrace_traces"]) else f", {int(g['retrace_traces'])} trace(s)"
    return cell(fmt_s(g["retrace_first_step_s"]), sub=f"{new}{traces}")


def define_and_run(df) -> dict:
    """Section 3: build cost vs steady step per framework, break-even steps, retrace cost on a new batch size."""
    from bench.report import plots
    sizes = headline_sizes(df)
    grp = groups(df)
    tables, figures, reading = [], [], []
    for g in grp:
        label = group_label(*g, len(grp) > 1)
        rows, lines, pays, never, retr, builds = [], {}, [], [], [], []
        for task in task_order(df):
            ok = df[(df["task"] == task) & (df["size_json"] == sizes[task]) & (df["where"] == g[0])
                    & (df["device"] == g[1]) & (df["status"] == "ok")]
            for e, gr in _pairs(ok):
                if not missing(gr["retrace_first_step_s"]):
                    retr.append((task, gr))
                builds.append((task, gr["impl"], gr["build_s"]))
                if e is None:
                    rows.append([task, gr["impl"], fmt_s(gr["build_s"]), fmt_s(gr["median_s"]),
                                 cell("not measured", "skip"), "–", cell("no eager twin", "skip"), _retrace(gr)])
                    continue
                be = break_even_steps(gr["build_s"], e["median_s"], gr["median_s"])
                rows.append([task, gr["impl"], fmt_s(gr["build_s"]), fmt_s(gr["median_s"]),
                             fmt_s(e["median_s"]), fmt_x(e["median_s"] / gr["median_s"]),
                             cell("never", "fail") if be is None else cell(fmt_n(be), "hl"), _retrace(gr)])
                lines.setdefault(task, {})[e["impl"]] = (e["impl"], e["build_s"] or 0.0, e["median_s"])
                lines[task][gr["impl"]] = (gr["impl"], gr["build_s"] or 0.0, gr["median_s"])
                (never if be is None else pays).append((task, gr, e, be))
        if not rows:
            continue
        cap = ("Break-even = build / (eager step − graph step): the number of steps after which the graph mode's "
               "total time drops below eager's; 'never' = its step is not faster than eager. Sizes as in the "
               "headline. Retrace = the first step after the batch size changes.")
        tables.append(table(["task", "graph mode", "build", "graph step", "eager step", "speed-up",
                             "break-even", "retrace: new size"], rows,
                            cap, num_from=2, heading=label or None,
                            figure=plots.break_even({t: list(v.values()) for t, v in lines.items()},
                                                    f"break-even {label}") if lines else None))
        reading += _reading(label, pays, never, retr, builds)
    if not tables:
        reading = ["No graph mode (torch.compile, tf.function, TF1 Session, jax.jit) was measured in these results."]
    return section("graph", "Define-and-run vs define-by-run", reading, tables, figures)


def _reading(label, pays, never, retr, builds) -> list[str]:
    """Plain words on which graph modes pay off, after how many steps, and what a new shape costs."""
    out = []
    lead = f"On {label}: " if label else ""
    if not pays and not never:
        out.append(f"{lead}{'n' if lead else 'N'}o eager mode was measured beside these graph modes, so their break-even cannot be "
                   "computed. Their builds cost " + listing([f"{i} {fmt_s(b)} on {t}" for t, i, b in builds]) + ".")
        lead = ""
    if pays:
        best = min(pays, key=lambda p: p[3])
        text = (f"{lead}{len(pays)} of {len(pays) + len(never)} graph-mode cells beat their eager twin per step. "
                f"Quickest to pay off: {best[1]['impl']} on {best[0]} spends {fmt_s(best[1]['build_s'])} building, "
                f"then saves {fmt_s(best[2]['median_s'] - best[1]['median_s'])} per step, so it is ahead after "
                f"{fmt_n(best[3])} steps.")
        worst = max(pays, key=lambda p: p[3])
        if worst is not best:
            text += (f" Slowest to pay off: {worst[1]['impl']} on {worst[0]}, after {fmt_n(worst[3])} steps "
                     f"(build {fmt_s(worst[1]['build_s'])}).")
        out.append(text)
    if never:
        out.append(("" if pays else lead) + "Never pays off, because the graph step is not faster than eager: "
                   + listing([f"{gr['impl']} on {t} ({fmt_s(gr['median_s'])} vs {fmt_s(e['median_s'])})"
                              for t, gr, e, _ in never]) + ".")
    if retr:
        parts = []
        for impl in dict.fromkeys(gr["impl"] for _, gr in retr):
            costs = [gr["retrace_first_step_s"] for _, gr in retr if gr["impl"] == impl]
            steps = [gr["retrace_first_step_s"] / gr["median_s"] for _, gr in retr if gr["impl"] == impl]
            span = fmt_s(min(costs)) if len(costs) == 1 else f"{fmt_s(min(costs))} to {fmt_s(max(costs))}"
            nsp = fmt_n(min(steps)) if len(steps) == 1 else f"{fmt_n(min(steps))}–{fmt_n(max(steps))}"
            parts.append(f"{impl} {span} (the time of {nsp} steady steps)")
        out.append("A new batch size makes a graph mode trace or compile again: its first step at the new size "
                   "costs " + listing(parts) + ". Keep shapes fixed (pad the last batch) or pay this again.")
    else:
        out.append("The retrace cost of a new batch size was not measured in these results "
                   "(fwbench run --profile full measures it).")
    return out
