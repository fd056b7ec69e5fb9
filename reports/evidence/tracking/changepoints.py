"""Evidence for `fwbench track` (issue 22): false change points over a machine's clean history, and how soon
injected steps are found. Run from the repository root:

    python reports/evidence/tracking/changepoints.py reports/evidence/tracking/runs --out reports/evidence/tracking/changepoints

(a) Every cell ok in all the runs is a clean history; the detector (bench.gate.changes, as `fwbench track` runs
it) should report no change point in it (done-when: none in >= 95% of them).
(b) The same histories with a step injected into one cell from run k on: copies of the results in which that
cell's samples and step statistics are scaled by 1.10 or 1.25 from run k on. The delay is the smallest d such
that the detector run on runs[:k+d+1] reports a change point at k +- 1 (online: what `fwbench track` sees run by
run). The done-when, "a +25% step is found within 2 runs of where it starts in >= 9 of 10 injected histories",
is also read as the change point's place: the detector run on the whole history reports one at k +- 2.
Otava's max_pvalue and min_magnitude are chosen on half of the cells (tuning half, injected at some k) and
checked on the other half (held out, injected at other k); the results of both halves are written.
Outputs: OUT.json, OUT.md and OUT-figure.svg/.png (a held-out cell with the +25% step and what was found).
"""
from __future__ import annotations

import argparse
import copy
import itertools
import json
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from bench.gate import changes  # noqa: E402

STEPS = (1.10, 1.25)
TUNE_KS, HELD_KS = (7, 11, 15), (9, 13, 17)
WINDOWS, MAX_PS, MIN_MAGS = (10, 30), (0.01, 0.001, 0.0001), (0.0, 0.05, 0.10, 0.15, 0.20)
MAX_DELAY = 5                     # delays beyond this count as "not within"; only <= 2 matters for the done-when
FALSE_OK, FOUND_OK = 0.95, 0.9    # the done-when's bars


def inject(runs, key, k, factor):
    """Copies of `runs` (as (path, data)) in which cell `key` is `factor` times slower from run k on."""
    out = []
    for i, (path, data) in enumerate(runs):
        if i < k:
            out.append((path, data))
            continue
        data = {**data, "results": list(data["results"])}
        for j, c in enumerate(data["results"]):
            cell = (c["task"], c["impl"], c["device"], json.dumps(c["size"], sort_keys=True), c.get("variant"))
            if cell == key and c["status"] == "ok":
                c = copy.deepcopy(c)
                step = c["step"]
                step["samples_s"] = [s * factor for s in step["samples_s"]]
                for name in ("median_s", "min_s", "mean_s", "iqr_s"):
                    if step.get(name) is not None:
                        step[name] *= factor
                if step.get("ci95_s"):
                    step["ci95_s"] = [s * factor for s in step["ci95_s"]]
                data["results"][j] = c
        out.append((path, data))
    return out


def prefix_points(cells, upto, shift=True):
    """The shift-corrected points of every cell, using only runs 0..upto (what track sees at run `upto`)."""
    cut = {key: {**c, "points": [p for p in c["points"] if p[0] <= upto]} for key, c in cells.items()}
    return changes.corrected(cut, shift)


def prepare(runs, clean, ks, shift=True):
    """{(key, k, factor): [corrected points of that cell on runs[:k+d+1] for d = 0..]} of the injected copies;
    the last entry of each list is the whole history."""
    n, out = len(runs), {}
    for key, k, factor in itertools.product(clean, ks, STEPS):
        cells = changes.series(inject(runs, key, k, factor))
        out[(key, k, factor)] = [prefix_points(cells, k + d, shift)[key] for d in range(min(MAX_DELAY, n - 1 - k) + 1)]
        out[(key, k, factor)].append(changes.corrected(cells, shift)[key])
    return out


def located(whole, k, params) -> bool:
    """The detector on the whole history reports a change point within k +- 2."""
    return any(abs(whole[i][0] - k) <= 2 for i, _ in changes.detect([m for _, m in whole], **params))


def delay(prefixes, k, params):
    """The smallest d at which a change point within k +- 1 is reported, or None."""
    for d, pts in enumerate(prefixes[:-1]):
        found = [pts[i][0] for i, _ in changes.detect([m for _, m in pts], **params)]
        if any(abs(x - k) <= 1 for x in found):
            return d
    return None


def score(clean_points, injected, params):
    """Figures of one parameter set on some cells: false change points (full histories), detection within 2."""
    false = {key: changes.detect([m for _, m in pts], **params) for key, pts in clean_points.items()}
    delays = {(key, k, f): delay(pre, k, params) for (key, k, f), pre in injected.items()}
    within = {f: [d is not None and d <= 2 for (_, _, g), d in delays.items() if g == f] for f in STEPS}
    place = {f: [located(pre[-1], k, params) for (_, k, g), pre in injected.items() if g == f] for f in STEPS}
    return {"free": sum(not v for v in false.values()) / max(1, len(false)), "n_cells": len(false),
            "found": {f: sum(w) / max(1, len(w)) for f, w in within.items()}, "n_injected": len(within[STEPS[-1]]),
            "located": {f: sum(w) / max(1, len(w)) for f, w in place.items()},
            "false": false, "delays": delays}


def noise(pts) -> float:
    """A cell's run-to-run noise: the robust standard deviation (scaled MAD) of the change of its log median
    between consecutive runs, over sqrt 2 (a level change moves one difference only)."""
    import numpy as np
    from scipy.stats import median_abs_deviation
    d = np.diff(np.log([m for _, m in pts]))
    return float(median_abs_deviation(d, scale="normal") / np.sqrt(2))


BINS = ((0, 0.05), (0.05, 0.10), (0.10, 0.20), (0.20, 9.0))


def by_noise(points, delays) -> list:
    """+25% found within 2 runs, by the cell's run-to-run noise."""
    level = {key: noise(pts) for key, pts in points.items()}
    out = []
    for lo, hi in BINS:
        keys = {k for k, v in level.items() if lo <= v < hi}
        hits = [d is not None and d <= 2 for (key, _, f), d in delays.items() if f == 1.25 and key in keys]
        hits10 = [d is not None and d <= 2 for (key, _, f), d in delays.items() if f == 1.10 and key in keys]
        out.append({"noise": [lo, hi], "cells": len(keys), "injected": len(hits),
                    "found_25": sum(hits) / len(hits) if hits else None,
                    "found_10": sum(hits10) / len(hits10) if hits10 else None})
    return out


def synthetic(params, n=22, reps=40, seed=0) -> list:
    """The same test on lognormal histories of known noise (no shift): false-free share, +25%/+10% within 2."""
    import numpy as np
    rng = np.random.default_rng(seed)
    out = []
    for sd in (0.02, 0.05, 0.10, 0.20):
        free, hits = 0, {f: 0 for f in STEPS}
        for r in range(reps):
            x = np.exp(rng.normal(0, sd, n))
            free += not changes.detect(list(x), **params)
            k = (TUNE_KS + HELD_KS)[r % 6]
            for f in STEPS:
                y = x * np.where(np.arange(n) >= k, f, 1.0)
                pts = list(enumerate(y))
                hits[f] += delay([pts[:k + d + 1] for d in range(3)] + [pts], k, params) is not None
        out.append({"noise": sd, "free": free / reps, "found_25": hits[1.25] / reps, "found_10": hits[1.10] / reps})
    return out


def name(key) -> str:
    task, impl, device, size, variant = key
    return f"{task} {impl} {device}" + (f" ({variant})" if variant else "")


def figure(runs, key, k, out, params):
    """A cell's history with the injected +25% step, the detector's change point on the whole history."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    plt.rcParams["svg.hashsalt"] = "changepoints"          # the same SVG from the same data
    cells = changes.series(inject(runs, key, k, 1.25))
    raw = cells[key]["points"]
    fixed = changes.corrected(cells)[key]
    found = changes.cell_changes(fixed, **params)
    fig, ax = plt.subplots(figsize=(8, 3.6))
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    from bench.report.lib import fmt_s
    ax.plot([x + 1 for x, _ in raw], [m for _, m in raw], "o-", color="#999999", label="median (injected copy)")
    ax.plot([x + 1 for x, _ in fixed], [m for _, m in fixed], "s-", color="#0072B2",
            label="median / run-wide shift (what Otava sees)")
    ax.axvline(k + 1 - 0.5, color="#D55E00", linestyle="--", label=f"+25% injected from run {k + 1}")
    for c in found:
        x = (c["x_before"] + c["x"]) / 2 + 1
        ax.axvline(x, color="#009E73", linestyle=":", linewidth=2)
        ax.annotate(f"change point: ×{c['ratio']:.2f} [{c['ci'][0]:.2f}, {c['ci'][1]:.2f}], p={c['p']:.1g}",
                    (x, 0.97), xycoords=("data", "axes fraction"), xytext=(4, -10), textcoords="offset points",
                    fontsize=8, color="#009E73", va="top")
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: fmt_s(v)))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("run")
    ax.set_ylabel("median step")
    ax.set_title(f"{name(key)}: +25% from run {k + 1}", fontsize=11)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(f"{out}-figure.svg", metadata={"Date": None})
    fig.savefig(f"{out}-figure.png", dpi=130)
    plt.close(fig)
    return found


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", help="folder of one machine's results files")
    p.add_argument("--out", required=True, help="output prefix (OUT.json, OUT.md, OUT-figure.svg/png)")
    args = p.parse_args(argv)
    t0 = time.time()
    machine, runs = changes.machine_runs([args.runs])
    n = len(runs)
    cells = changes.series(runs)
    clean = sorted(k for k, c in cells.items() if len(c["points"]) == n)
    tune, held = clean[0::2], clean[1::2]
    points = changes.corrected(cells)
    ks = lambda kk: tuple(k for k in kk if k + 2 < n)
    inj_tune, inj_held = prepare(runs, tune, ks(TUNE_KS)), prepare(runs, held, ks(HELD_KS))
    grid = []
    for w, mp, mm in itertools.product(WINDOWS, MAX_PS, MIN_MAGS):
        params = {"window_len": w, "max_pvalue": mp, "min_magnitude": mm}
        s = score({k: points[k] for k in tune}, inj_tune, params)
        grid.append({**params, "free": s["free"], "found_10": s["found"][1.10], "found_25": s["found"][1.25]})
    ok = [g for g in grid if g["free"] >= FALSE_OK]
    rank = lambda g: (g["found_25"], g["found_10"], g["free"], g["max_pvalue"] == changes.MAX_PVALUE,
                      -g["min_magnitude"], g["window_len"])
    best = max(ok, key=rank) if ok else max(grid, key=lambda g: (g["free"], g["found_25"]))
    chosen = {k: best[k] for k in ("window_len", "max_pvalue", "min_magnitude")}
    defaults = {"window_len": changes.WINDOW_LEN, "max_pvalue": changes.MAX_PVALUE,
                "min_magnitude": changes.MIN_MAGNITUDE}
    result = {}
    for label, params in (("chosen", chosen), ("track defaults", defaults)):
        halves = {}
        for half, keys, inj in (("tuning", tune, inj_tune), ("held out", held, inj_held)):
            s = score({k: points[k] for k in keys}, inj, params)
            halves[half] = s
        result[label] = halves
    raw_points = changes.corrected(cells, shift=False)
    noshift = {"free": score({k: raw_points[k] for k in clean}, {}, defaults)["free"]} if clean else {}
    # clean prefixes: how often would `fwbench track` (defaults) exit 1 after a run although nothing changed?
    alarms, tried = 0, 0
    for upto in range(5, n):
        pts = prefix_points(cells, upto)
        tried += 1
        alarms += any(x >= upto + 1 - changes.LAST for key in clean
                      for x in (pts[key][i][0] for i, _ in changes.detect([m for _, m in pts[key]], **defaults)))
    all_delays = {**result["track defaults"]["tuning"]["delays"], **result["track defaults"]["held out"]["delays"]}
    noise_table = by_noise({k: points[k] for k in clean}, all_delays)
    control = synthetic(defaults)
    hits = [(noise(points[key]), name(key), key, k) for (key, k, f), d in
            result["track defaults"]["held out"]["delays"].items() if f == 1.25 and d is not None and d <= 2]
    example = min(hits)[2:] if hits else (held[0], ks(HELD_KS)[0])     # the quietest held-out cell found in time
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    found = figure(runs, example[0], example[1], args.out, defaults)
    env = runs[-1][1]["environment"]
    cpu = env.get("cpu") or {}
    wall = time.time() - t0

    def summary(s):
        return {"clean_cells": s["n_cells"], "free_fraction": s["free"],
                "false_change_points": [{"cell": name(k), "runs": [pts_i for pts_i, _ in v]} for k, v in s["false"].items() if v],
                "injected": s["n_injected"], "found_within_2": {f"{f:.2f}": s["found"][f] for f in STEPS},
                "located_within_2": {f"{f:.2f}": s["located"][f] for f in STEPS},
                "delays": [{"cell": name(key), "k": k, "step": f, "delay": d} for (key, k, f), d in s["delays"].items()]}

    out = {"machine": machine, "cpu": cpu.get("model"), "cores": cpu.get("cores_physical"), "runs": n,
           "first": runs[0][1]["created"], "last": runs[-1][1]["created"], "otava": _otava_version(),
           "python": platform.python_version(), "clean_cells": len(clean), "tuning_cells": [name(k) for k in tune],
           "held_out_cells": [name(k) for k in held], "tuning_ks": ks(TUNE_KS), "held_out_ks": ks(HELD_KS),
           "wall_s_runs": [d["harness"].get("wall_s") for _, d in runs], "grid": grid, "chosen": chosen, "defaults": defaults,
           "results": {label: {half: summary(s) for half, s in halves.items()} for label, halves in result.items()},
           "no_shift_free_fraction": noshift.get("free"),
           "clean_prefix_alarms": {"prefixes": tried, "exit_1": alarms}, "by_noise": noise_table,
           "synthetic_control": control, "noise": {name(k): noise(points[k]) for k in clean},
           "figure": {"cell": name(example[0]), "k": example[1], "found": found,
                      "file": f"{Path(args.out).name}-figure"}, "wall_s": wall}
    Path(f"{args.out}.json").write_text(json.dumps(out, indent=1, default=str) + "\n")
    Path(f"{args.out}.md").write_text(markdown(out))
    print(markdown(out))
    return 0


def _otava_version():
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("apache-otava")
    except PackageNotFoundError:
        return None


def _figures(r) -> str:
    """'tuning half: 100% free, +25% 2%; held out: ...' of one parameter set."""
    return "; ".join(f"{h}: {100 * r[h]['free_fraction']:.0f}% of the clean histories free, +25% found within 2 "
                     f"runs in {100 * r[h]['found_within_2']['1.25']:.0f}%, +10% in "
                     f"{100 * r[h]['found_within_2']['1.10']:.0f}%" for h in ("tuning", "held out"))


def markdown(o) -> str:
    """The figures as a short Markdown page."""
    pct = lambda x: "n/a" if x is None else f"{100 * x:.0f}%"
    d, c = o["results"]["track defaults"], o["chosen"]
    both = lambda key, f=None: [d[h][key] if f is None else d[h][key][f] for h in ("tuning", "held out")]
    free_n = sum(d[h]["clean_cells"] * d[h]["free_fraction"] for h in d)
    n_clean = sum(d[h]["clean_cells"] for h in d)
    inj = sum(d[h]["injected"] for h in d)
    found = lambda f: sum(d[h]["injected"] * d[h]["found_within_2"][f] for h in d) / inj
    lines = [
        "# fwbench track: change points over a machine's history (issue 22)", "",
        f"{o['runs']} quick runs (`fwbench run --profile quick --all-rounds`) of **{o['machine']}** "
        f"({o['cpu']}, {o['cores']} cores), {o['first'][:16]} to {o['last'][:16]} UTC; Apache Otava {o['otava']}, "
        f"Python {o['python']}. Wall time of this script: {o['wall_s']:.0f} s.", "",
        "The runs' own wall time (harness.wall_s, s), a measure of how busy the machine was: "
        + ", ".join(f"{w:.0f}" for w in o["wall_s_runs"]) + ".", "",
        f"Parameters (`fwbench track`'s defaults, the figures below): window_len {o['defaults']['window_len']}, "
        f"max_pvalue {o['defaults']['max_pvalue']:g}, min_magnitude {o['defaults']['min_magnitude']:g}; the "
        "run-wide shift of each worker process divided out. The grid search on the tuning half (the most +25% "
        "steps found within 2 runs among the settings with no false change point in >= 95% of the clean "
        f"histories) picks window_len {c['window_len']}, max_pvalue {c['max_pvalue']:g}, min_magnitude "
        f"{c['min_magnitude']:g}: " + _figures(o["results"]["chosen"]) + " (tuned on this data; the held-out "
        "half is the check). See the grid at the end.", "",
        "| | tuning half | held out | all |", "|---|---|---|---|",
        f"| (a) clean cell-histories without a false change point (done-when ≥ 95%) | "
        f"{pct(both('free_fraction')[0])} of {both('clean_cells')[0]} | {pct(both('free_fraction')[1])} of "
        f"{both('clean_cells')[1]} | {pct(free_n / n_clean if n_clean else None)} of {n_clean} |",
    ]
    for f in ("1.25", "1.10"):
        lines.append(f"| (b) +{round((float(f) - 1) * 100)}% step found at k ± 1 within 2 runs"
                     + (" (done-when ≥ 90%)" if f == "1.25" else "") + f" | {pct(both('found_within_2', f)[0])} of "
                     f"{both('injected')[0]} | {pct(both('found_within_2', f)[1])} of {both('injected')[1]} | "
                     f"{pct(found(f))} of {inj} |")
    for f in ("1.25", "1.10"):
        loc = lambda h: d[h]["located_within_2"][f]
        lines.append(f"| (b') +{round((float(f) - 1) * 100)}% step: on the whole history, a change point at k ± 2"
                     + (" (the done-when read as the place)" if f == "1.25" else "") + f" | {pct(loc('tuning'))} of "
                     f"{both('injected')[0]} | {pct(loc('held out'))} of {both('injected')[1]} | "
                     f"{pct(sum(d[h]['injected'] * loc(h) for h in d) / inj)} of {inj} |")
    lines += ["", f"Tuning ks {o['tuning_ks']}, held-out ks {o['held_out_ks']} (0-based run index of the first "
              f"slower run); {o['clean_cells']} clean cells (ok in every run), alternately in the two halves.", ""]
    lines.append(f"Without dividing out the run-wide shift (`--no-shift`): {pct(o['no_shift_free_fraction'])} of "
                 "the clean histories without a false change point.")
    a = o["clean_prefix_alarms"]
    lines.append(f"After each of the runs 6..{o['runs']} of the clean history, `fwbench track` would have exited 1 "
                 f"(a change point in the last {changes.LAST} runs of some cell) {a['exit_1']} of {a['prefixes']} "
                 "times.")
    lines += ["", "+25% and +10% found within 2 runs by the cell's run-to-run noise (robust SD of the change of its "
              "shift-corrected log median between consecutive runs, over √2):", "",
              "| noise | cells | injected | +25% | +10% |", "|---|---|---|---|---|"]
    lines += [f"| {100 * b['noise'][0]:.0f}–{100 * b['noise'][1]:.0f}% | {b['cells']} | {b['injected']} | "
              f"{pct(b['found_25'])} | {pct(b['found_10'])} |" for b in o["by_noise"]]
    lines += ["", "Control: the same test on synthetic lognormal histories of known noise (22 runs, 40 each, same ks):",
              "", "| noise | no false change point | +25% within 2 | +10% within 2 |", "|---|---|---|---|"]
    lines += [f"| {100 * b['noise']:.0f}% | {pct(b['free'])} | {pct(b['found_25'])} | {pct(b['found_10'])} |"
              for b in o["synthetic_control"]]
    false = [x for h in d for x in d[h]["false_change_points"]]
    if false:
        lines += ["", "False change points in the clean histories (0-based run index):", ""]
        lines += [f"- {x['cell']}: {x['runs']}" for x in false]
    delays = [x for h in d for x in d[h]["delays"]]
    lines += ["", "Delay (runs after k until found at k ± 1; `-` = not within " + f"{MAX_DELAY}) by k and step:", "",
              "| k | +10% delays | +25% delays |", "|---|---|---|"]
    for k in sorted({x["k"] for x in delays}):
        row = lambda f: " ".join("-" if x["delay"] is None else str(x["delay"]) for x in delays
                                 if x["k"] == k and x["step"] == f)
        lines.append(f"| {k} | {row(1.10)} | {row(1.25)} |")
    g = o["figure"]
    lines += ["", f"Figure (`{g.get('file', 'changepoints-figure')}.svg`/`.png`): {g['cell']}, +25% from run index {g['k']}; on the "
              f"whole history the detector found " + (", ".join(f"run index {x['x']} ×{x['ratio']:.2f} "
                                                                 f"[{x['ci'][0]:.2f}, {x['ci'][1]:.2f}]"
                                                                 for x in g["found"]) or "nothing") + ".", ""]
    lines += ["Grid (tuning half): window_len, max_pvalue, min_magnitude → clean free, +10% and +25% found "
              "within 2:", "", "| window | max_p | min_mag | free | +10% | +25% |", "|---|---|---|---|---|---|"]
    lines += [f"| {x['window_len']} | {x['max_pvalue']:g} | {x['min_magnitude']:g} | {pct(x['free'])} | "
              f"{pct(x['found_10'])} | {pct(x['found_25'])} |" for x in o["grid"]]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
