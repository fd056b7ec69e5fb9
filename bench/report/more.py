"""Report sections: gradient agreement and the slides' worked examples, efficiency against the machine's peak."""
from __future__ import annotations

from bench.report.lib import (cell, fmt_g, fmt_pct, fmt_s, fmt_x, group_label, groups, headline_sizes, impl_order, listing,
                             missing, plural, section, table, task_order)


def _fmt_value(v) -> str:
    """A worked-example value: a number or a short vector."""
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(f"{x:.5g}" for x in v) + "]"
    return f"{v:.5g}" if isinstance(v, float) else str(v)


def _examples(runs):
    """Rows of bench.examples.rows over the merged examples of all runs, or (None, why not)."""
    merged = {}
    for _, data in runs:
        for impl, ex in (data.get("examples") or {}).items():
            merged.setdefault(impl, ex)
    if not merged:
        return None, "These results files carry no worked examples (their 'examples' field is empty)."
    try:
        from bench.examples import rows
    except ImportError:
        return None, "This fwbench has no bench.examples.rows, so the worked examples are not shown."
    return rows(merged), None


def gradients(df, runs) -> dict:
    """Section 6: worst relative gradient error per task × implementation; the slides' examples beside ours."""
    import numpy as np
    grp = groups(df)
    tasks = task_order(df)
    tables, checked, failed = [], [], []
    for g in grp:
        rows = []
        for impl in impl_order(df[(df["where"] == g[0]) & (df["device"] == g[1])]):
            row = [impl]
            for task in tasks:
                sub = df[(df["task"] == task) & (df["impl"] == impl) & (df["where"] == g[0]) & (df["device"] == g[1])]
                sub = sub.dropna(subset=["grad_max_rel_err"])
                if sub.empty:
                    row.append(cell("–", "skip"))
                    continue
                worst = sub.loc[sub["grad_max_rel_err"].idxmax()]
                ok = bool(sub["grad_ok"].fillna(False).astype(bool).all())
                checked.append((task, impl, worst["grad_max_rel_err"], worst["grad_tol"]))
                if not ok:
                    failed.append(f"{impl} on {task}" + (f" ({group_label(*g, True)})" if len(grp) > 1 else ""))
                loss_bad = not missing(worst["grad_loss_rel_err"]) and worst["grad_loss_rel_err"] > worst["grad_tol"]
                row.append(cell(f"{worst['grad_max_rel_err']:.1e}", "ok" if ok else "fail",
                                sub=f"tol {fmt_g(worst['grad_tol'], 1)}"
                                + (f" · loss off by {worst['grad_loss_rel_err']:.1e}" if loss_bad else "")))
            rows.append(row)
        label = group_label(*g, len(grp) > 1)
        tables.append(table(["implementation", *tasks], rows, "Worst relative gradient error per cell (over sizes); "
                            "green = within tolerance.", heading=label or None))
    if checked:
        w = max(checked, key=lambda c: c[2] / (c[3] or 1))
        reading = [f"{plural(len(checked), 'task × implementation pair')} checked against a float64 reference "
                   f"(relative error: max|g − g_ref| / max|g_ref|). "
                   + (f"All agree within tolerance; the closest to its limit is {w[1]} on {w[0]} at {w[2]:.1e} "
                      f"(tolerance {fmt_g(w[3], 1)})." if not failed else
                      f"Outside tolerance: {listing(failed)}. Timings of those cells measure a wrong computation.")]
    else:
        reading = ["No cell in these results carries a gradient check."]
    ex_rows, why = _examples(runs)
    if ex_rows is None:
        reading.append(why)
    else:
        erows = []
        for r in ex_rows:
            vals = list(r["computed"].values())
            same = all(np.allclose(v, vals[0], rtol=1e-4, atol=1e-6) for v in vals)
            shown = _fmt_value(r["truth"]) if same else "; ".join(f"{i}: {_fmt_value(v)}"
                                                                 for i, v in r["computed"].items())
            erows.append([r["example"].replace("_", " "), r["quantity"], _fmt_value(r["slide"]),
                          cell(shown, "" if same else "fail", sub=None if same else "implementations disagree"),
                          cell("yes", "ok") if r["agrees"] else cell("no", "fail")])
        wrong = [r for r in ex_rows if not r["agrees"]]
        impl_names = list(dict.fromkeys(i for r in ex_rows for i in r["computed"]))
        text = (f"The slides' worked examples, recomputed by {listing(impl_names)}: {len(ex_rows) - len(wrong)} "
                f"of {len(ex_rows)} printed figures are reproduced.")
        if wrong:
            text += " The slide differs on " + listing([f"{r['example'].replace('_', ' ')} {r['quantity']} "
                                                       f"(slide {_fmt_value(r['slide'])}, computed "
                                                       f"{_fmt_value(r['truth'])})" for r in wrong[:4]]) + "."
        notes = list(dict.fromkeys(r["note"] for r in wrong if r.get("note")))
        reading += [text, *notes]
        tables.append(table(["example", "quantity", "slide", "computed", "slide right?"], erows,
                            "The computed value is the float64 numpy/manual result (every implementation shown "
                            "when they disagree beyond 1e-4).", num_from=2))
    return section("gradients", "Gradient agreement and the slides' worked examples", reading, tables)


def efficiency(df, runs) -> dict:
    """Section 7: achieved GFLOP/s per cell against the machine's peak; the compute floor and the numpy floor."""
    from bench.report import plots
    sizes = headline_sizes(df)
    grp = groups(df)
    tables, figures, reading = [], [], []
    for g in grp:
        label = group_label(*g, len(grp) > 1)
        ok = df[(df["where"] == g[0]) & (df["device"] == g[1]) & (df["status"] == "ok")]
        ok = ok[[sizes[t] == s for t, s in zip(ok["task"], ok["size_json"])]]
        if ok.empty:
            continue
        peak = ok["peak_gflops"].dropna()
        peak = float(peak.iloc[0]) if len(peak) else None
        measured = ok["peak_measured_gflops"].dropna()
        measured = float(measured.iloc[0]) if len(measured) else None
        env = next((d["environment"] for _, d in runs if d["run_id"] in set(ok["run_id"])), {})
        basis = (env.get("cpu") or {}).get("peak_basis") or "basis not recorded"
        m_basis = (env.get("cpu") or {}).get("peak_measured_basis") or "basis not recorded"
        floor_peak = measured or peak         # the floor a real step could reach: the measured peak first
        tasks = task_order(ok)
        cols, points, parts, beat = ["implementation"], [], [], []
        by_task = {t: ok[ok["task"] == t].set_index("impl") for t in tasks}
        for task, sub in by_task.items():
            floor = (sub["flops"].iloc[0] / (floor_peak * 1e9) if floor_peak and not missing(sub["flops"].iloc[0])
                     else None)
            cols.append(cell(task, sub=f"{sub['size'].iloc[0]}" + (f" · floor {fmt_s(floor)}" if floor else "")))
            np_step = sub.loc["numpy/manual", "median_s"] if "numpy/manual" in sub.index else None
            if sub["gflops"].notna().any():
                top = sub["gflops"].idxmax()
                parts.append(f"{task} {fmt_g(sub.loc[top, 'gflops'])} GFLOP/s by {top}" + _pcts(sub.loc[top], " (", ")"))
            if np_step is not None and len(sub) > 1:
                faster = [i for i in sub.index if i != "numpy/manual" and sub.loc[i, "median_s"] < np_step]
                beat.append(f"{task} {len(faster)} of {len(sub) - 1}")
            for impl, r in sub.iterrows():
                if not missing(r["gflops"]):
                    points.append((task, impl, r["gflops"]))
        rows = []
        for impl in impl_order(ok):
            row = [impl]
            for task, sub in by_task.items():
                if impl not in sub.index:
                    row.append(cell("–", "skip"))
                    continue
                r = sub.loc[impl]
                np_step = sub.loc["numpy/manual", "median_s"] if "numpy/manual" in sub.index else None
                extra = [_pcts(r)] if _pcts(r) else []
                if np_step and impl != "numpy/manual":
                    extra.append(f"{fmt_x(r['median_s'] / np_step)} numpy's step")
                row.append(cell(fmt_g(r["gflops"]), sub=" · ".join(extra) or None))
            rows.append(row)
        said = []
        if measured:
            said.append(f"measured: {measured:.0f} GFLOP/s, {m_basis}")
        if peak:
            said.append(f"theoretical: {peak:.0f} GFLOP/s, {basis}"
                        + (f"; the measured peak is {measured / peak:.0%} of it" if measured else "")
                        + _turbo(env, measured, peak))
        reading.append((f"On {label}, t" if label else "T") + "he machine's fp32 peak — "
                       + ("; ".join(said) + ". Percentages are of the measured peak first, then of the theoretical "
                          "one. The compute floor under each task name is its FLOPs divided by the "
                          + ("measured" if measured else "theoretical") + " peak: no implementation takes a step "
                          "faster." if said else "is not known for this device, so only absolute GFLOP/s are shown."))
        if parts:
            reading.append("Best achieved: " + "; ".join(parts) + ". Small tasks reach a tiny fraction of peak: "
                           "their step is fixed overhead (Python, dispatch, kernel launches), not arithmetic.")
        if beat:
            reading.append("The numpy floor: numpy/manual is plain Python calling numpy, with no framework dispatch, "
                           "so its step is the overhead floor a framework must beat to be worth it at that size. "
                           "Framework modes faster than it: " + "; ".join(beat) + ".")
        fig = plots.efficiency(points, peak, f"achieved GFLOP/s {label}".strip(), measured) if points else None
        tables.append(table(cols, rows, "GFLOP/s = analytic FLOPs per step / median step.", num_from=1,
                            heading=label or None, figure=fig))
    return section("efficiency", "Efficiency: GFLOP/s against the machine's peak", reading, tables, figures)


def _turbo(env, measured, peak) -> str:
    """Where the measured peak beats the theoretical one: the clock it implies at the basis's FLOP/cycle; else ''."""
    import re
    m = re.search(r"x ([0-9.]+) GHz", (env.get("cpu") or {}).get("peak_basis") or "")
    if not (m and measured and measured > peak):
        return ""
    return (f", so the cores ran above the clock the system reports, at {float(m.group(1)) * measured / peak:.2f} GHz"
            " or more (turbo)")


def _pcts(r, before="", after="") -> str:
    """'12% of measured peak · 7% of theoretical' for one row, or '' where neither is known."""
    parts = [f"{fmt_pct(r[c])} of {name}" for c, name in (("pct_measured", "measured peak"),
                                                           ("pct_peak", "theoretical")) if not missing(r[c])]
    return f"{before}{' · '.join(parts)}{after}" if parts else ""
