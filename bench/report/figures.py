"""Slide figures: the report's figures at 16:9 with projector-sized fonts, as SVG and PNG, and a caption to paste.

Each figure is drawn by the report's own plot functions (bench.report.plots.draw_*) on a matplotlib Figure
made here (no pyplot, so a notebook's backend is left alone). Its caption states the numbers with their 95%
CIs, the machine, the framework versions, the date and the results file.
"""
from __future__ import annotations

import json
from pathlib import Path

from bench.report.lib import fmt_s, fmt_x, group_label, groups, headline_sizes, impl_order, listing, task_order

SIZE = (40 / 3, 7.5)        # inches: 16:9, PowerPoint's and Google Slides' default page
DPI = 150                   # PNG: 2000 x 1125 pixels
SLIDE_RC = {"font.size": 18, "axes.titlesize": 22, "axes.labelsize": 19, "xtick.labelsize": 16,
            "ytick.labelsize": 16, "legend.fontsize": 16, "lines.linewidth": 3, "lines.markersize": 9,
            "svg.hashsalt": "fwbench"}
TITLES = {"headline": "Define-and-run vs define-by-run: speed-up per step",
          "tf10x": "Is TensorFlow 10× slower? What the stopwatch timed",
          "break-even": "When does building a graph pay off",
          "layers": "What a layer over a framework costs per step"}
TOP = 1.0                   # of the layout (tight_layout leaves room for the suptitle itself)


# ---------------------------------------------------------------- numbers
def ratio_of_medians(num, den, seed: int = 0) -> tuple[float, float, float]:
    """median(num) / median(den) and its 95% bootstrap CI (the two sample sets resampled independently)."""
    import numpy as np
    a, b = np.asarray(num, float), np.asarray(den, float)
    point = float(np.median(a) / np.median(b))
    if len(a) < 3 or len(b) < 3:
        return point, point, point
    rng = np.random.default_rng(seed)
    r = (np.median(a[rng.integers(0, len(a), (2000, len(a)))], axis=1)
         / np.median(b[rng.integers(0, len(b), (2000, len(b)))], axis=1))
    lo, hi = np.percentile(r, [2.5, 97.5])
    return point, float(min(lo, point)), float(max(hi, point))


def paired_ratio_ci(num, den, seed: int = 0) -> tuple[float, float, float, str]:
    """A layer's cost as the report's layers table computes it (paired rounds, else medians), with a 95% CI."""
    import numpy as np
    from bench.report.layers import paired_ratio
    point, how = paired_ratio(list(num), list(den))
    if how == "paired" and len(num) >= 3:      # the median of per-round ratios, resampled by round
        r = np.asarray(num, float) / np.asarray(den, float)
        boot = np.median(r[np.random.default_rng(seed).integers(0, len(r), (2000, len(r)))], axis=1)
        lo, hi = np.percentile(boot, [2.5, 97.5])
        return point, float(min(lo, point)), float(max(hi, point)), how
    return (*ratio_of_medians(num, den, seed), how)


def _main_group(df):
    """The rows of the (machine, device) group with most measured cells, and its label."""
    g = groups(df)[0]
    return df[(df["where"] == g[0]) & (df["device"] == g[1])], g


def _ok(sub, task, sizes):
    return sub[(sub["task"] == task) & (sub["size_json"] == sizes[task]) & (sub["status"] == "ok")]


def speedups(df) -> list[dict]:
    """Every graph mode beside its framework's eager mode, at the headline size: eager step / graph step."""
    from bench.report.graph import _pairs, break_even_steps
    sub, _ = _main_group(df)
    sizes, out = headline_sizes(sub), []
    for task in task_order(sub):
        for e, g in _pairs(_ok(sub, task, sizes)):
            if e is None:
                continue
            ratio, lo, hi = ratio_of_medians(e["samples_s"], g["samples_s"])
            out.append({"task": task, "impl": g["impl"], "eager": e["impl"], "label": g["impl"], "ratio": ratio,
                        "lo": lo, "hi": hi, "build_s": g["build_s"], "graph_s": g["median_s"],
                        "eager_s": e["median_s"], "size": g["size"],
                        "break_even": break_even_steps(g["build_s"], e["median_s"], g["median_s"]),
                        "break_even_lo": break_even_steps(g["build_s"], e["ci_hi_s"], g["ci_lo_s"]),
                        "break_even_hi": break_even_steps(g["build_s"], e["ci_lo_s"], g["ci_hi_s"])})
    return out


def layer_costs(df) -> list[dict]:
    """Every layer over a framework beside the raw implementation it wraps, at the headline size: step / raw step."""
    from bench.report.layers import twins
    sub, _ = _main_group(df)
    sizes, out = headline_sizes(sub), []
    for task in task_order(sub):
        for impl, top, base in twins(_ok(sub, task, sizes)):
            same = top["run_id"] == base["run_id"]
            if same:
                ratio, lo, hi, how = paired_ratio_ci(top["samples_s"], base["samples_s"])
            else:
                ratio, lo, hi, how = (*ratio_of_medians(top["samples_s"], base["samples_s"]), "medians")
            out.append({"task": task, "impl": impl, "raw": base["impl"], "label": f"{impl} / {base['impl']}",
                        "ratio": ratio, "lo": lo, "hi": hi, "how": how, "step_s": top["median_s"],
                        "raw_s": base["median_s"]})
    return out


def _phase_rows(df):
    """(rows for plots.draw_phases, size label) of the slide's elementwise example, smallest size measured."""
    sub, _ = _main_group(df)
    ew = sub[(sub["task"] == "elementwise") & (sub["status"] == "ok")]
    if ew.empty:
        return [], None
    size = ew.assign(f=ew["flops"].fillna(0)).sort_values("f")["size_json"].iloc[0]
    ok = ew[ew["size_json"] == size]
    ok = ok.set_index("impl").reindex(impl_order(ok)).reset_index()
    return ok.to_dict("records"), ok["size"].iloc[0]


def _sweeps(df) -> dict:
    """{task: (xlabel, unit, {impl: [(x, median, lo, hi), ...]})} for every task measured at several sizes."""
    from bench.report.sweep import _x_of
    sub, _ = _main_group(df)
    out = {}
    for task in task_order(sub):
        ok = sub[(sub["task"] == task) & (sub["status"] == "ok")]
        if ok["size_json"].nunique() < 2:
            continue
        sizes = [json.loads(s) for s in ok["size_json"]]
        xlabel, unit, xf = _x_of(list({json.dumps(s, sort_keys=True): s for s in sizes}.values()))
        xs = [xf(s) for s in sizes] if xf else list(ok["flops"])
        xlabel, unit = (xlabel, unit) if xf else ("FLOPs per step", "FLOPs")
        series = {}
        for x, (_, r) in zip(xs, ok.iterrows()):
            series.setdefault(r["impl"], []).append((x, r["median_s"], r["ci_lo_s"], r["ci_hi_s"]))
        out[task] = (xlabel, unit, {i: sorted(series[i]) for i in impl_order(ok) if i in series})
    return out


def names(df) -> list[str]:
    """The figures these results can draw, most telling first."""
    if df.empty or not (df["status"] == "ok").any():
        return []
    out = []
    if speedups(df):
        out += ["headline", "break-even"]
    if _phase_rows(df)[0]:
        out.append("tf10x")
    if layer_costs(df):
        out.append("layers")
    return out + [f"sweep-{t}" for t in _sweeps(df)]


# ---------------------------------------------------------------- drawing
def figure(df, name: str):
    """Slide figure `name` of the prepared frame `df` (bench.report.lib.prepare), 16:9, as a matplotlib Figure."""
    import matplotlib
    from matplotlib.figure import Figure
    from bench.report import plots
    known = names(df)
    if name not in known:
        raise ValueError(f"no figure {name!r} in these results; valid figures: {', '.join(known) or 'none'}")
    with matplotlib.rc_context({**plots.STYLE, **SLIDE_RC}):
        fig = Figure(figsize=SIZE, dpi=DPI)
        _, g = _main_group(df)
        where = group_label(*g, True)
        fig.suptitle(_title(name), fontsize=SLIDE_RC["axes.titlesize"])
        fig.text(0.995, 0.005, where, ha="right", va="bottom", fontsize="x-small", color="#555555")
        if name in ("headline", "layers"):
            rows, what = ((speedups(df), "eager step / graph step") if name == "headline" else
                          (layer_costs(df), "layer step / raw step"))
            plots.draw_ratios(fig.subplots(), rows, f"{what} (log scale; whiskers: 95% CI)", "")
            fig.tight_layout(rect=(0, 0.02, 1, TOP))
        elif name == "break-even":
            lines = {}
            for r in speedups(df):
                lines.setdefault(r["task"], {})[r["eager"]] = (r["eager"], 0.0, r["eager_s"])
                lines[r["task"]][r["impl"]] = (r["impl"], r["build_s"] or 0.0, r["graph_s"])
            plots.draw_break_even(fig, {t: list(v.values()) for t, v in lines.items()}, layout_top=TOP, cols=4)
        elif name == "tf10x":
            rows, size = _phase_rows(df)
            plots.draw_phases(fig, rows, titles=("whole script, with the imports", "after the imports (the slide)"),
                              layout_top=TOP, ncol=3)
        else:
            task = name.removeprefix("sweep-")
            xlabel, _, series = _sweeps(df)[task]
            plots.draw_sweep(fig.subplots(), {i: [p[:2] for p in pts] for i, pts in series.items()}, xlabel, "")
            fig.tight_layout(rect=(0, 0.02, 1, TOP))
        fig.canvas.draw()              # ticks and text laid out now, under the slide's font sizes
    return fig


def _title(name) -> str:
    return TITLES.get(name) or f"{name.removeprefix('sweep-')}: step time vs size"


# ---------------------------------------------------------------- captions
def _ci_x(r) -> str:
    return f"{fmt_x(r['ratio'])} (95% CI {fmt_x(r['lo'])}–{fmt_x(r['hi'])})"


def _sentences(df, name) -> list[str]:
    """The numbers of figure `name`, in words."""
    from bench.examples import SLIDE
    if name == "headline":
        rows = sorted(speedups(df), key=lambda r: -r["ratio"])
        return [f"Per steady-state step, each graph (define-and-run) mode against its framework's eager "
                f"(define-by-run) mode, at the default sizes: " + "; ".join(
                    f"{r['impl']} on {r['task']} is {_ci_x(r)} faster than {r['eager']}" if r["ratio"] >= 1 else
                    f"{r['impl']} on {r['task']} runs at {_ci_x(r)} the speed of {r['eager']}" for r in rows) + ".",
                "Bars: ratio of the median steps; whiskers: 95% bootstrap CI of that ratio."]
    if name == "break-even":
        rows = [r for r in speedups(df) if r["break_even"] is not None]
        never = [r for r in speedups(df) if r["break_even"] is None]
        text = ["Total time of build + N steps. A graph mode is ahead of eager after build / (eager step − graph "
                "step) steps: " + "; ".join(
                    f"{r['impl']} on {r['task']} after {r['break_even']:,} steps (build {fmt_s(r['build_s'])}; "
                    f"from the steps' 95% CIs: {_range(r)})" for r in sorted(rows, key=lambda r: r["break_even"]))
                + "." if rows else "No graph mode here is faster per step than its eager twin."]
        if never:
            text.append("Never ahead (its step is not faster): " + listing(f"{r['impl']} on {r['task']}"
                                                                         for r in never) + ".")
        return text + ["The build is measured once per cell, so its interval comes from the step times only."]
    if name == "tf10x":
        rows, size = _phase_rows(df)
        by = {r["impl"]: r for r in rows}
        slide = SLIDE["timing"]
        text = [f"The slide timed the elementwise example ({size}) from after the imports: numpy "
                f"{fmt_s(slide['numpy_s'])}, PyTorch {fmt_s(slide['torch_s'])}, TensorFlow Session "
                f"{fmt_s(slide['tensorflow_session_s'])} ({fmt_x(slide['tensorflow_session_s'] / slide['torch_s'])})."]
        tf = next((by[i] for i in ("tensorflow/session", "tensorflow/function") if i in by), None)
        ref = by.get("torch/eager") or by.get("numpy/manual")
        if tf is not None and ref is not None:
            once = lambda r: sum((r.get(k) or 0.0) for k in ("setup_s", "build_s", "first_step_s"))  # noqa: E731
            ratio, lo, hi = ratio_of_medians(tf["samples_s"], ref["samples_s"])
            text.append(f"Here, timed the slide's way (setup + build + first step), {tf['impl']} takes "
                        f"{fmt_s(once(tf))} against {ref['impl']}'s {fmt_s(once(ref))} "
                        f"({fmt_x(once(tf) / once(ref))}; {fmt_s(tf['build_s'])} of it is the build, measured once). "
                        f"In steady state its step is {fmt_s(tf['median_s'])} (95% CI {fmt_s(tf['ci_lo_s'])}–"
                        f"{fmt_s(tf['ci_hi_s'])}) against {fmt_s(ref['median_s'])} (95% CI {fmt_s(ref['ci_lo_s'])}–"
                        f"{fmt_s(ref['ci_hi_s'])}): {fmt_x(ratio)} (95% CI {fmt_x(lo)}–{fmt_x(hi)}).")
        return text
    if name == "layers":
        rows = layer_costs(df)
        return ["Per step, each implementation that is a layer over another against the raw one it runs on, at the "
                "default sizes: " + "; ".join(f"{r['impl']} on {r['task']} takes {_ci_x(r)} the time of "
                                              f"{r['raw']} ({fmt_s(r['step_s'])} vs {fmt_s(r['raw_s'])})"
                                              for r in rows) + ".",
                "Ratio: the median of per-round ratios where both ran in the same rounds, else of the medians; "
                "interval: 95% bootstrap CI."]
    task = name.removeprefix("sweep-")
    xlabel, unit, series = _sweeps(df)[task]
    parts = []
    for impl, pts in series.items():
        (x0, m0, l0, h0), (x1, m1, l1, h1) = pts[0], pts[-1]
        parts.append(f"{impl} {fmt_s(m0)} (95% CI {fmt_s(l0)}–{fmt_s(h0)}) at {_at(x0, unit)} and {fmt_s(m1)} "
                     f"(95% CI {fmt_s(l1)}–{fmt_s(h1)}) at {_at(x1, unit)}")
    return [f"Median step of {task} against {xlabel}: " + "; ".join(parts) + "."]


def _range(r) -> str:
    lo, hi = r["break_even_lo"], r["break_even_hi"]
    return (f"{lo:,}–{hi:,} steps" if lo is not None and hi is not None else
            f"at least {lo:,} steps (the upper bound is never: the CIs overlap)" if lo is not None else "unbounded")


def _at(x, unit) -> str:
    from bench.report.sweep import _at as at
    return at(x, unit)


def provenance(df, runs) -> str:
    """Where the figure's numbers come from: machine, CPU, device, threads, frameworks, date, results file."""
    sub, (where, device) = _main_group(df)
    run_id = sub["run_id"].iloc[0]
    source, data = next(((s, d) for s, d in runs if d["run_id"] == run_id), (sub["source"].iloc[0], {}))
    env = data.get("environment") or {}
    cpu = env.get("cpu") or {}
    gpus = env.get("gpus") or []
    fws = ", ".join(f"{k} {v}" for k, v in (env.get("frameworks") or {}).items() if v)
    dev = (f"GPU {gpus[0].get('name', '?')}" if device == "gpu" and gpus else device.upper())
    return (f"Machine: {where} (CPU {cpu.get('model', '?')}, {cpu.get('cores_physical', '?')} physical cores), "
            f"{dev}, {env.get('threads', '?')} threads; Python {env.get('python', '?')}; {fws}. "
            f"Measured {str(data.get('created', '?'))[:16].replace('T', ' ')} UTC, run {run_id} (profile "
            f"{data.get('profile', '?')}); results file: {source}.")


def caption(df, runs, name: str) -> str:
    """The plain-text caption of figure `name`: its title, its numbers with 95% CIs, and their provenance."""
    if name not in names(df):
        raise ValueError(f"no figure {name!r} in these results; valid figures: {', '.join(names(df)) or 'none'}")
    return f"{_title(name)}. " + " ".join(_sentences(df, name)) + "\n\n" + provenance(df, runs) + "\n"


def write(df, runs, folder: Path) -> list[str]:
    """Every figure of `df` as folder/<name>.svg, .png and .txt (its caption, plain text to paste); the names written."""
    import matplotlib
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    done = []
    for name in names(df):
        fig = figure(df, name)
        with matplotlib.rc_context({"svg.hashsalt": name, "svg.fonttype": "none"}):
            fig.savefig(folder / f"{name}.svg", format="svg", metadata={"Date": None})
            fig.savefig(folder / f"{name}.png", format="png", dpi=DPI, metadata={"Software": None})
        (folder / f"{name}.txt").write_text(caption(df, runs, name), encoding="utf-8")
        done.append(name)
    return done
