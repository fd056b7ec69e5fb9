"""`fwbench history RESULTS... --out DIR`: a self-contained trend page across results files.

Runs are ordered by date (then commit); per cell, the median with its 95% CI over the runs, and compare's
verdict (asv's rule, threshold raised to the machine's run-to-run noise) between consecutive runs of the cell
on the same machine. Runs from several machines (a CI matrix) are kept apart, one trend per machine. Each
cell's change points over its machine's runs (bench.gate.changes, Apache Otava; left out when it is not
installed) are listed and drawn: a dotted line at the first run of the new level, labelled with the ratio.
"""
from __future__ import annotations

from pathlib import Path

from bench.gate.rules import IMPROVEMENT, P_MAX, REGRESSION


def add_arguments(p):
    from bench.gate.compare import DEFAULT_THRESHOLD
    p.add_argument("results", nargs="+", metavar="RESULTS", help="results files, or folders of them")
    p.add_argument("--out", required=True, metavar="DIR", help="folder to write history.html into")
    p.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD, metavar="PCT",
                   help=f"compare's threshold between consecutive runs (default {DEFAULT_THRESHOLD:g})")
    p.add_argument("--noise", type=float, metavar="PCT", help="run-to-run noise in percent (default: noise file)")
    p.add_argument("--noise-file", metavar="FILE", help="noise file to read (default: machines/noise.json)")


def run_label(data: dict) -> str:
    """'11-22 14:06 3f9a2c1' : date, time and short commit of a run."""
    commit = (data["environment"].get("git") or {}).get("commit") or ""
    return f"{data['created'][5:16].replace('T', ' ')} {commit[:7]}".strip()


def trends(df, runs, threshold_pct, noise_pct=None, noise_file=None):
    """Per cell (machine first) its points in run order, each with compare's verdict against the previous one."""
    from bench.gate.compare import cell_name, env_diff, judge, threshold
    order = {src: i for i, (src, _) in enumerate(runs)}
    env = {src: d["environment"] for src, d in runs}
    rules, cells = {}, {}
    for r in sorted(df.to_dict("records"), key=lambda r: order[r["source"]]):
        if r["machine"] not in rules:
            rules[r["machine"]] = threshold(threshold_pct, r["machine"], noise_pct, noise_file)
        key = (r["machine"], r["device"], r["task"], r["size"], r["impl"], r["variant"])
        pts = cells.setdefault(key, {"name": cell_name(r), "machine": r["machine"], "points": []})["points"]
        if r["status"] != "ok":
            continue
        point = {"run": order[r["source"]], "row": r, "verdict": None, "ratio": None, "note": ""}
        if pts:
            prev = pts[-1]["row"]
            v = judge(prev, r, rules[r["machine"]][0])
            diff = env_diff(r, env[prev["source"]], env[r["source"]])
            point.update(verdict=v["verdict"], ratio=v["ratio"], test=v["test"],
                         note=f"environment changed: {'; '.join(diff)}" if diff else "")
        pts.append(point)
    return cells, rules


def figure(title: str, cells: list, labels: list[str], name: str) -> str:
    """Median step (log) with 95% CI bars over the runs, one line per implementation; regressions ringed red,
    change points a dotted line between the last run of the old level and the first of the new, with the ratio."""
    from bench.report import plots
    plt = plots._setup()
    fig, ax = plt.subplots(figsize=(7.5, 3.4))
    marks = 0
    for c in cells:
        pts = c["points"]
        xs = [p["run"] for p in pts]
        ys = [p["row"]["median_s"] for p in pts]
        err = [[y - p["row"]["ci_lo_s"] for y, p in zip(ys, pts)], [p["row"]["ci_hi_s"] - y for y, p in zip(ys, pts)]]
        st = plots.style(c["impl"])
        ax.errorbar(xs, ys, yerr=err, label=c["label"], capsize=3, **st)
        for p in pts:
            if p["verdict"] in (REGRESSION, IMPROVEMENT):
                bad = p["verdict"] == REGRESSION
                ax.plot([p["run"]], [p["row"]["median_s"]], marker="o", markersize=15, markerfacecolor="none",
                        markeredgecolor="#C0392B" if bad else "#1E8449", markeredgewidth=2.2, zorder=5)
                ax.annotate(f"{(p['ratio'] - 1) * 100:+.0f}%", (p["run"], p["row"]["median_s"]), xytext=(9, 6),
                            textcoords="offset points", fontsize=9, color="#C0392B" if bad else "#1E8449")
        for ch in c.get("changes") or []:
            x = (ch["x_before"] + ch["x"]) / 2
            ax.axvline(x, color=st["color"], linestyle=":", linewidth=1.6, zorder=1)
            ax.annotate(f"×{ch['ratio']:.2f}", (x, 1.0), xycoords=("data", "axes fraction"),
                        xytext=(3, -10 - 11 * marks), textcoords="offset points", fontsize=8, color=st["color"])
            marks += 1
    used = sorted({p["run"] for c in cells for p in c["points"]})
    step = max(1, len(used) // 10)
    ax.set_xticks(used[::step], [labels[i].replace(" ", "\n", 1) for i in used[::step]], fontsize=8)
    ax.set_yscale("log")
    plots._axes(ax, y="time")
    ax.set_ylabel("median step (95% CI)")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return plots.svg(fig, name)


def mark_changes(cells) -> str | None:
    """Add each cell's change points (c["changes"]: Otava on its points in run order, each run's run-wide shift of
    the cell's worker process divided out, as fwbench track does); None, or why they are not marked."""
    from bench.errors import UsageError
    from bench.gate import changes
    from bench.registry import worker_of
    try:
        changes.otava()
    except UsageError as e:
        return str(e)
    series = {k: ((k[0], k[1], worker_of(c["points"][0]["row"]["framework"]) if c["points"] else None),
                  [(p["run"], p["row"]["median_s"]) for p in c["points"]]) for k, c in cells.items()}
    factors = changes.shifts(series)
    for k, c in cells.items():
        c["changes"] = changes.cell_changes([(x, m / factors[k][x]) for x, m in series[k][1]])
    return None


def page(paths, threshold_pct=None, noise_pct=None, noise_file=None) -> dict:
    """Everything the template shows: runs, regressions, latest verdicts, one figure per machine/task/size."""
    from bench.gate.compare import DEFAULT_THRESHOLD
    from bench.report.frame import load_frame
    from bench.report.lib import fmt_s
    df, runs = load_frame(paths)
    keyed = sorted(range(len(runs)), key=lambda i: (runs[i][1]["created"], run_label(runs[i][1]), runs[i][0]))
    runs = [runs[i] for i in keyed]
    labels = [run_label(d) for _, d in runs]
    cells, rules = trends(df, runs, DEFAULT_THRESHOLD if threshold_pct is None else threshold_pct,
                          noise_pct, noise_file)
    unmarked = mark_changes(cells)
    run_rows = [{"n": i + 1, "label": labels[i], "run_id": d["run_id"], "machine": d["environment"].get("machine"),
                 "profile": d.get("profile"), "file": Path(src).name, "dirty": (d["environment"].get("git") or {})
                 .get("dirty"), "versions": ", ".join(f"{k} {v}" for k, v in
                                                      (d["environment"].get("frameworks") or {}).items() if v)}
                for i, (src, d) in enumerate(runs)]
    groups, latest, regressions, change_rows = {}, [], [], []
    for (machine, device, task, size, impl, variant), c in cells.items():
        c.update(impl=impl, label=impl + (f" ({variant})" if variant else ""))
        groups.setdefault((machine, device, task, size), []).append(c)
        pts = c["points"]
        for p in pts:
            if p["verdict"] == REGRESSION:
                regressions.append({"machine": machine, "cell": c["name"], "run": labels[p["run"]],
                                    "change": f"{(p['ratio'] - 1) * 100:+.1f}%", "test": p["test"], "note": p["note"]})
        change_rows += [{"machine": machine, "cell": c["name"], "run": labels[ch["x"]], "n": ch["x"] + 1,
                         "change": f"×{ch['ratio']:.3g}", "ci": f"{ch['ci'][0]:.3g}–{ch['ci'][1]:.3g}",
                         "p": f"{ch['p']:.2g}"} for ch in c.get("changes") or []]
        last = pts[-1] if pts else None
        latest.append({"machine": machine, "cell": c["name"], "runs": len(pts),
                       "median": fmt_s(last["row"]["median_s"]) if last else "–",
                       "ci": f"{fmt_s(last['row']['ci_lo_s'])}–{fmt_s(last['row']['ci_hi_s'])}" if last else "",
                       "change": f"{(last['ratio'] - 1) * 100:+.1f}%" if last and last["ratio"] else "–",
                       "verdict": (last and last["verdict"]) or ("only run" if last else "never ok"),
                       "regressions": sum(p["verdict"] == REGRESSION for p in pts), "note": last and last["note"]})
    figures = [{"machine": m, "title": f"{task} {size} on {device}",
                "svg": figure(f"{task} {size} ({device})", cs, labels, f"{m}-{device}-{task}-{size}")}
               for (m, device, task, size), cs in groups.items()]
    return {"title": "fwbench history", "runs": run_rows, "regressions": regressions, "latest": latest,
            "figures": figures, "changes": change_rows, "unmarked": unmarked,
            "rules": {m: why for m, (thr, why) in rules.items()}, "p_max": P_MAX,
            "machines": sorted(rules), "home": None}


def write(ctx: dict, out) -> Path:
    """Render `page`'s context into OUT/history.html; its path."""
    from bench.report.render import templates
    env = templates()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "history.html").write_text(env.get_template("history.html.j2").render(**ctx), encoding="utf-8")
    return out / "history.html"


def run(args) -> int:
    ctx = page(args.results, args.threshold, args.noise, args.noise_file)
    out = Path(args.out)
    write(ctx, out)
    n = len(ctx["regressions"])
    print(f"history of {len(ctx['runs'])} runs, {len(ctx['latest'])} cells, {n} regression"
          f"{'' if n == 1 else 's'} between consecutive runs -> {out / 'history.html'}")
    return 0
