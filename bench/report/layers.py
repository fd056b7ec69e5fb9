"""Report section 4: what a layer over a framework costs per step (an implementation against the raw one it wraps)."""
from __future__ import annotations

import statistics

from bench.report.lib import (cell, fmt_s, fmt_x, group_label, groups, headline_sizes, impl_order, listing, section,
                             table, task_order)


def paired_ratio(layer_samples, raw_samples) -> tuple[float, str]:
    """(layer / raw per step, how): the median of per-round ratios where both cells have a block in every round of
    the same run (their blocks alternated in time), else the ratio of the two medians."""
    if layer_samples and len(layer_samples) == len(raw_samples):
        return statistics.median(a / b for a, b in zip(layer_samples, raw_samples)), "paired"
    return statistics.median(layer_samples) / statistics.median(raw_samples), "medians"


def twins(ok):
    """(impl, its row, the row of the raw implementation it wraps) for every layer over a framework among the ok
    cells `ok` of one task and size whose raw implementation is there too."""
    from bench.registry import wrapped
    for impl in impl_order(ok):
        raw = ok[ok["impl"] == wrapped(impl)] if wrapped(impl) else ok.iloc[0:0]
        if not raw.empty:
            yield impl, ok[ok["impl"] == impl].iloc[0], raw.iloc[0]


def layers(df) -> dict:
    """Per task, every measured implementation that declares itself a layer over another, against that one."""
    from bench.registry import mode_info
    sizes = headline_sizes(df)
    grp = groups(df)
    tables, found = [], []
    for g in grp:
        label = group_label(*g, len(grp) > 1)
        rows = []
        for task in task_order(df):
            ok = df[(df["task"] == task) & (df["size_json"] == sizes[task]) & (df["where"] == g[0])
                    & (df["device"] == g[1]) & (df["status"] == "ok")]
            for impl, top, base in twins(ok):
                same_run = top["run_id"] == base["run_id"]
                ratio, how = paired_ratio(top["samples_s"] if same_run else [], base["samples_s"])
                extra = top["median_s"] - base["median_s"]
                rows.append([task, cell(impl, title=mode_info(impl).get("about")), base["impl"],
                             fmt_s(top["median_s"]), fmt_s(base["median_s"]),
                             cell(fmt_x(ratio), "hl" if ratio >= 2 else "", sub="paired rounds" if how == "paired" else
                                  "ratio of medians"),
                             ("+" if extra >= 0 else "−") + fmt_s(abs(extra))])
                found.append((task, impl, base["impl"], ratio, extra, label, base["median_s"]))
        if rows:
            tables.append(table(["task", "implementation", "over (raw)", "its step", "raw step", "cost ×",
                                 "extra per step"], rows,
                                "Each implementation that is a layer over another (as its folder declares) against "
                                "that raw implementation, at the headline size. cost × = median over rounds of its "
                                "block time / the raw one's (the two alternated in time), or the ratio of medians "
                                "where they were not in the same run.", num_from=3, heading=label or None))
    return section("layers", "What a layer over a framework costs per step", _reading(found), tables)


def _reading(found) -> list[str]:
    """Plain words: the typical and the extreme cost of each layer, per backend it runs on."""
    if not found:
        return ["No implementation that is a layer over another one was measured beside the one it wraps in these "
                "results (fwbench run measures both in the quick profile)."]
    out = []
    by_impl = {}
    for task, impl, raw, ratio, extra, label, _ in found:
        by_impl.setdefault((impl, raw), []).append((task, ratio, extra))
    parts = []
    for (impl, raw), cells in by_impl.items():
        ratios = [r for _, r, _ in cells]
        low, high = min(cells, key=lambda c: c[1]), max(cells, key=lambda c: c[1])
        span = (f"{fmt_x(low[1])} on {low[0]}" if low is high else
                f"{fmt_x(low[1])} ({low[0]}) to {fmt_x(high[1])} ({high[0]})")
        parts.append(f"{impl} takes {span} the time of {raw} per step (median {fmt_x(statistics.median(ratios))})")
    out.append("Per step, over the raw implementation it runs on: " + listing(parts) + ".")
    small = [f for f in found if f[3] < 1.1]
    if small:
        out.append("Within 10% of the raw step (the layer's cost is lost in the task's own compute): "
                   + listing(f"{impl} on {task}" for task, impl, *_ in small) + ".")
    out += _fixed_and_compute(found)
    return out


def _fixed_and_compute(found) -> list[str]:
    """The fixed cost where the raw step is shortest, and any layer still much slower where compute dominates."""
    from bench.registry import mode_info
    raw_step = {}
    for task, impl, raw, ratio, extra, label, base_s in found:
        raw_step.setdefault(task, []).append(base_s)
    light = min(raw_step, key=lambda t: statistics.median(raw_step[t]))
    heavy = max(raw_step, key=lambda t: statistics.median(raw_step[t]))
    on_light = sorted((f for f in found if f[0] == light), key=lambda f: f[4])
    out = [f"Where the raw step is shortest ({light}), the layers add {fmt_s(on_light[0][4])} ({on_light[0][1]}) to "
           f"{fmt_s(on_light[-1][4])} ({on_light[-1][1]}) per step: a fixed cost of the layer's bookkeeping (metrics, "
           f"callbacks, conversions), which a model with so little compute per step pays in full."
           if len(on_light) > 1 else
           f"On {light}, where the raw step is shortest, {on_light[0][1]} adds {fmt_s(on_light[0][4])} per step: the "
           f"layer's bookkeeping (metrics, callbacks, conversions), paid in full by a model with so little compute."]
    slow = [f for f in found if f[0] == heavy and f[3] >= 1.5] if heavy != light else []
    if slow:
        out.append(f"Where compute dominates ({heavy}), bookkeeping cannot explain " + listing(
            f"{impl} at {fmt_x(ratio)} the time of {raw}" + (f" ({mode_info(impl)['about']})"
                                                             if mode_info(impl).get("about") else "")
            for _, impl, raw, ratio, *_ in slow) + ": the layer computes the step another way than the raw one.")
    return out
