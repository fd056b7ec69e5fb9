"""Report sections on speed: the headline table and the "Is TensorFlow 10× slower?" decomposition."""
from __future__ import annotations

from collections import Counter

from bench.report.lib import (cell, fmt_s, fmt_x, group_label, groups, headline_sizes, impl_order, missing,
                             plural, section, table, task_order)


def _step_cell(r, best) -> dict:
    """A headline table cell for one frame row: median with CI, or the skip/fail reason."""
    if r["status"] != "ok":
        reason = r["reason"] or "no reason given"
        short = reason if len(reason) <= 48 else reason[:46].rstrip() + "…"
        return cell(r["status"], "skip" if r["status"] == "skipped" else "fail", sub=short, title=reason)
    missed = r.get("precision_met") in (False,)          # False or numpy.False_; not None or NaN
    cls = ("best " if best else "") + ("noisy " if r["noisy"] else "") + ("missed" if missed else "")
    title = f"IQR {fmt_s(r['iqr_s'])} ({100 * r['rel_iqr']:.0f}% of the median)" if not missing(r["rel_iqr"]) else None
    if not missing(r.get("precision_pct")):
        title = (title + "; " if title else "") + f"95% CI ±{r['precision_pct']:.2g}% of the median" + (
            "" if missing(r.get("target_pct")) else f" (target ±{r['target_pct']:g}%" + (
                ": missed)" if missed else ": met)"))
    if not missing(r.get("process_spread")):
        title = (title + "; " if title else "") + (f"{r['processes']:.0f} processes: the slowest's median "
                                                   f"{fmt_x(r['process_spread'])} the fastest's")
    text = fmt_s(r["median_s"]) + (" ~" if r["noisy"] else "") + (" ✗" if missed else "")
    return cell(text, cls.strip(), sub=f"{fmt_s(r['ci_lo_s'])} – {fmt_s(r['ci_hi_s'])}", title=title)


def _task_reading(task, size, ok) -> str:
    """One sentence on who is fastest for one task in one group, and whether the lead is clear of the noise."""
    if ok.empty:
        return f"{task} ({size}): no implementation ran."
    ok = ok.sort_values("median_s")
    first = ok.iloc[0]
    text = f"{task} ({size}): {first['impl']} is fastest at {fmt_s(first['median_s'])} per step"
    if len(ok) > 1:
        second = ok.iloc[1]
        overlap = second["ci_lo_s"] <= first["ci_hi_s"]
        text += (f"; {second['impl']} follows at {fmt_s(second['median_s'])} "
                 f"({fmt_x(second['median_s'] / first['median_s'])}"
                 + (", within the noise: their 95% CIs overlap)" if overlap else ", a clear gap: the CIs do not overlap)"))
        last = ok.iloc[-1]
        if len(ok) > 2:
            text += f"; the slowest, {last['impl']}, takes {fmt_x(last['median_s'] / first['median_s'])} as long"
    return text + "."


def headline(df) -> dict:
    """Section 1: median step with 95% CI per implementation × task, one table per (machine, device)."""
    sizes = headline_sizes(df)
    grp = groups(df)
    many = len(grp) > 1
    order = task_order(df)
    tables, reading, fastest = [], [], {}
    for g in grp:
        sub = df[(df["where"] == g[0]) & (df["device"] == g[1])]
        sub = sub[[sizes[t] == s for t, s in zip(sub["task"], sub["size_json"])]]
        tasks = [t for t in order if t in set(sub["task"])]
        cols = ["implementation"] + [cell(t, sub=sub[sub["task"] == t]["size"].iloc[0]) for t in tasks]
        best, said = {}, []
        for t in tasks:
            ok = sub[(sub["task"] == t) & (sub["status"] == "ok")]
            best[t] = ok["median_s"].idxmin() if len(ok) else None
            said.append(_task_reading(t, ok["size"].iloc[0] if len(ok) else "", ok))
            if len(ok):
                fastest.setdefault(t, []).append((group_label(*g, True), ok.loc[best[t], "impl"],
                                                  fmt_s(ok.loc[best[t], "median_s"])))
        reading += [f"On {group_label(*g, True)} — " + " ".join(said)] if many else said
        rows = []
        for impl in impl_order(sub):
            mine = sub[sub["impl"] == impl]
            row = [cell(impl, sub=mine["paradigm"].iloc[0])]
            for t in tasks:
                hit = mine[mine["task"] == t]
                row.append(_step_cell(hit.iloc[0], hit.index[0] == best[t]) if len(hit) else cell("not run", "skip"))
            rows.append(row)
        cap = ("Median seconds per step; the small line is its 95% bootstrap confidence interval. Only the default "
               "(or most-measured) size of each task is shown; the size sweep shows the rest.")
        tables.append(table(cols, rows, cap, num_from=1, heading=group_label(*g, True) if many else None))
    per_group = {}
    for t, v in fastest.items():
        for g, i, m in v:
            per_group.setdefault(g, []).append(f"{t} {i} {m}")
    key = "Fastest steady-state step" + (";".join(f" on {g}: " + ", ".join(v) for g, v in per_group.items())
                                         if many else ": " + "; ".join(next(iter(per_group.values()), []))) + "."
    ok = df[df["status"] == "ok"]
    noisy = int(ok["noisy"].fillna(False).astype(bool).sum())
    summary = (f"{plural(len(ok), 'cell')} measured, {noisy} of them noisy (interquartile range above 10% of the "
               "median, marked ~): read differences smaller than that spread as ties. ")
    asked = ok[ok["target_pct"].notna()] if "target_pct" in ok else ok.iloc[:0]
    if len(asked):
        missed = asked[asked["precision_met"] == False]  # noqa: E712 (a column of objects: True/False/None)
        targets = ", ".join(f"±{t:g}%" for t in sorted(set(asked["target_pct"])))
        summary += (f"{len(asked) - len(missed)} of {len(asked)} cells reached their precision target ({targets}: "
                    f"95% CI half-width / median)" + (f"; {len(missed)} missed it within the time budget (marked ✗: "
                    + ", ".join(f"{t} {i}" for t, i in zip(missed["task"], missed["impl"])) + ")" if len(missed) else "")
                    + ". ")
    bad = df[df["status"] != "ok"]
    if len(bad):
        reasons = Counter(f"{r} ({s})" for r, s in zip(bad["reason"].fillna("no reason given"), bad["status"]))
        summary += (f"{plural(len(bad), 'cell')} did not run: "
                    + "; ".join(f"{r} × {n}" if n > 1 else r for r, n in reasons.most_common(6)) + ".")
    if many:
        reading += _across(ok, grp)
    return section("headline", "Headline: the steady-state step", [summary, *reading], tables,
                   key=key if fastest else None)


def _across(ok, grp) -> list[str]:
    """How each other (machine, device) group's medians compare with the first's, over the cells both measured."""
    import numpy as np
    key = ["task", "impl", "size_json"]
    first = ok[(ok["where"] == grp[0][0]) & (ok["device"] == grp[0][1])].set_index(key)["median_s"]
    out = []
    for g in grp[1:]:
        other = ok[(ok["where"] == g[0]) & (ok["device"] == g[1])].set_index(key)["median_s"]
        common = first.index.intersection(other.index)
        if len(common) < 2:
            continue
        r = (other[common] / first[common]).to_numpy()
        lo, mid, hi = np.percentile(r, [10, 50, 90])
        out.append(f"Across the {len(common)} cells that both {group_label(*grp[0], True)} and "
                   f"{group_label(*g, True)} measured, the second's median step is {mid:.3g}× the first's "
                   f"(middle 80% of cells: {lo:.3g}× to {hi:.3g}×).")
    return out


SLIDE_NOTE = ("The slide started a datetime.now() stopwatch after the import lines, then created the 3×4 inputs on "
              "the GPU, built the graph, opened a Session, ran it once and printed the gradients.")


def _pick(ok, impls):
    """The first row of `ok` whose impl is in `impls` (in that order), or None."""
    for impl in impls:
        hit = ok[ok["impl"] == impl]
        if len(hit):
            return hit.iloc[0]
    return None


def tf10x(df) -> dict:
    """Section 2: the slide's whole-script timing decomposed into import, setup, build, first step and step."""
    from bench.report import plots
    from bench.examples import SLIDE
    slide = SLIDE["timing"]
    ratio = slide["tensorflow_session_s"] / slide["torch_s"]
    reading = [f"The slide measured numpy {fmt_s(slide['numpy_s'])}, PyTorch {fmt_s(slide['torch_s'])} and "
               f"TensorFlow {fmt_s(slide['tensorflow_session_s'])} ({fmt_x(ratio)} PyTorch) for the elementwise "
               f"example. {SLIDE_NOTE} So it timed setup + graph build + Session start + one step — everything "
               "a program pays once — and no steady-state step at all."]
    ew = df[df["task"] == "elementwise"]
    if ew.empty:
        return section("tf10x", "Is TensorFlow 10× slower?", reading + ["These results hold no elementwise cells, "
                       "so the slide's measurement cannot be decomposed here."])
    size = ew.assign(f=ew["flops"].fillna(0)).sort_values("f")["size_json"].iloc[0]   # the slide's tiny size
    tables, figures = [], []
    grp = groups(ew)
    for g in grp:
        sub = ew[(ew["size_json"] == size) & (ew["where"] == g[0]) & (ew["device"] == g[1])]
        ok = sub[sub["status"] == "ok"].set_index("impl").reindex(impl_order(sub)).dropna(subset=["median_s"])
        ok = ok.reset_index()
        if ok.empty:
            continue
        ok["slide_s"] = ok[["setup_s", "build_s", "first_step_s"]].fillna(0).sum(axis=1)
        ok["script_s"] = ok["slide_s"] + ok["import_s"].fillna(0)
        label = group_label(*g, len(grp) > 1)
        rows = [[r["impl"], fmt_s(r["import_s"]), fmt_s(r["setup_s"]), fmt_s(r["build_s"]), fmt_s(r["first_step_s"]),
                 cell(fmt_s(r["slide_s"]), "hl"), cell(fmt_s(r["median_s"]), "hl"), fmt_s(r["script_s"])]
                for _, r in ok.iterrows()]
        tables.append(table(["implementation", "import", "setup", "build", "first step",
                             "what the slide timed", "steady step", "whole script"], rows,
                            f"elementwise ({sub['size'].iloc[0]}): 'what the slide timed' = setup + build + first "
                            "step; 'whole script' adds the import.", heading=label or None,
                            figure=plots.phases(ok.to_dict("records"), f"phases {label}")))
        reading.append(_tf_reading(ok, label))
    return section("tf10x", "Is TensorFlow 10× slower?", reading, tables, figures)


def _tf_reading(ok, label) -> str:
    """What the decomposition shows for one group, in words, from its numbers."""
    where = f" On {label}" if label else " Here"
    tf = _pick(ok, ["tensorflow/session", "tensorflow/function", "tensorflow/eager"])
    ref = _pick(ok, ["torch/eager", "numpy/manual"])
    if tf is None or ref is None:
        slowest = ok.sort_values("slide_s").iloc[-1]
        return (f"{where}, no TensorFlow/PyTorch pair ran, so the slide's ratio cannot be repeated; the slowest "
                f"script-style start is {slowest['impl']} at {fmt_s(slowest['slide_s'])}, of which "
                f"{fmt_s(slowest['build_s'])} is build.").lstrip()
    once = tf["slide_s"] / ref["slide_s"]
    steady = tf["median_s"] / ref["median_s"]
    build_share = (tf["build_s"] or 0) / tf["slide_s"] if tf["slide_s"] else 0
    text = (f"{where}, timed the slide's way, {tf['impl']} takes {fmt_s(tf['slide_s'])} against {ref['impl']}'s "
            f"{fmt_s(ref['slide_s'])}: {fmt_x(once)}. {100 * build_share:.0f}% of it is the build "
            f"({fmt_s(tf['build_s'])}) and {fmt_s(tf['first_step_s'])} the first step. In steady state its step is "
            f"{fmt_s(tf['median_s'])} against {fmt_s(ref['median_s'])}: ")
    text += (f"{fmt_x(steady)} slower" if steady > 1 else f"{fmt_x(1 / steady)} faster")
    text += ". "
    from bench.examples import SLIDE
    slide = SLIDE["timing"]["tensorflow_session_s"] / SLIDE["timing"]["torch_s"]
    if once > 2 * max(steady, 1):
        text += "Most of that gap is one-time cost (build, Session start, first step), not per-step speed."
    elif steady > 1.5:
        text += "Here a good part of the gap persists per step."
    text += f" The slide's {fmt_x(slide)} {'is not reproduced' if once < slide / 2 else 'is reproduced'} here."
    if not missing(tf["import_s"]) and not missing(ref["import_s"]):
        whole = (tf["slide_s"] + tf["import_s"]) / (ref["slide_s"] + ref["import_s"])
        text += (f" Counting the imports, which the stopwatch did not include ({fmt_s(tf['import_s'])} for "
                 f"{tf['framework']}, {fmt_s(ref['import_s'])} for {ref['framework']}), the whole script takes "
                 f"{fmt_s(tf['script_s'])} against {fmt_s(ref['script_s'])}: {fmt_x(whole)}.")
    return text.lstrip()
