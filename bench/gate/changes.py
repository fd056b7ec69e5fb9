"""Change points over one machine's history: per cell, Apache Otava on the series of its per-run medians.

A cell (task, impl, device, size, variant) of a machine's results files, oldest first by `created`, gives a
series: its median step in each run where it is ok (a run where it failed, was skipped or is absent is a gap,
not a point). Otava (the E-divisive split of Matteson and James in sliding windows, then Hunter's merge with a
Student t-test) finds the runs where the series' level changes. It sees 1 + log(median / the cell's median
over the history): log medians, so that a change by a factor is a shift of the same size whatever the cell's
scale, offset to lie around 1 so that Otava's relative magnitude, mean_after / mean_before - 1, is close to
the change of the log (its `min_magnitude` 0.05 is about a 5% change). A change point's ratio is the median of
the medians after it over the median of those before it, each side up to the neighbouring change point, with
a bootstrap confidence interval (percentile, both sides resampled on their log medians).

Before that, as `fwbench compare` does between two runs (bench.gate.shift), each run's run-wide shift is divided
out of each cell: a shared machine slows down or speeds up every cell of a worker process alike for a while
(other tenants, the clock), which is not a change of the cell. A cell's shift in a run is the median, over the
*other* cells of its device and worker process ok in that run (at least MIN_CELLS of them, else no shift), of
their log median's deviation from their own median over the history; leaving the cell out, its own change does
not cancel itself. (Unlike compare, no fallback to the other cells of the device: one worker's shift is not
another's.) The price: a change of every cell of a framework alike
looks like a shift (--no-shift tracks the raw medians).
"""
from __future__ import annotations

import math

from bench.errors import UsageError

WINDOW_LEN = 30        # Otava's sliding window (runs); a whole short history is one window
MAX_PVALUE = 0.001     # a change point's t-test p must be below this
MIN_MAGNITUDE = 0.05   # ... and its level change beyond this (about 5%; the machine's run-to-run noise)
LAST = 3               # a change point is new when it lies within the last this many runs
MIN_AFTER = 2          # a persistent shift: at least this many runs on the new level (one slow last run is not one)
CONFIDENCE = 0.95      # of the ratio's interval
MIN_CELLS = 3          # a run's shift needs at least this many other cells to estimate it from
MISSING = "change-point detection needs Apache Otava: pip install --no-deps apache-otava==0.8.0"


def otava():
    """Otava's compute_change_points, imported on first use; UsageError when it is not installed."""
    try:
        from otava.analysis import compute_change_points
    except ImportError:
        raise UsageError(MISSING) from None
    return compute_change_points


def machine_runs(paths, machine: str | None = None) -> tuple[str, list]:
    """(machine, [(path, data), ...] of its results files oldest first); UsageError if several machines and none
    chosen, or the chosen one has no run there. The same run found twice is kept once."""
    from datetime import datetime

    from bench import results
    by_machine, seen = {}, set()
    for path in results.expand(paths):
        data = results.load(path)
        name = data["environment"].get("machine") or "unknown machine"
        if (name, data["run_id"]) not in seen:
            seen.add((name, data["run_id"]))
            by_machine.setdefault(name, []).append((path, data))
    listed = ", ".join(sorted(by_machine))
    if machine is None and len(by_machine) > 1:
        raise UsageError(f"the results hold runs of {len(by_machine)} machines ({listed}): choose one with --machine")
    machine = machine if machine is not None else next(iter(by_machine))
    if machine not in by_machine:
        raise UsageError(f"--machine {machine}: no run of it in the results (machines there: {listed})")
    runs = sorted(by_machine[machine], key=lambda r: (datetime.fromisoformat(r[1]["created"]), r[1]["run_id"]))
    return machine, runs


def series(runs) -> dict:
    """{cell key: {"row": a row of the cell, "points": [(run index, median_s), ...] where it is ok}}; rows of
    bench.report.frame, cells in the order they first appear."""
    from bench.report.frame import frame
    out = {}
    for i, (path, data) in enumerate(runs):
        for r in frame([(str(path), data)]).to_dict("records"):
            key = (r["task"], r["impl"], r["device"], r["size_json"], r["variant"])
            cell = out.setdefault(key, {"row": r, "points": []})
            if r["status"] == "ok" and r["median_s"] and r["median_s"] > 0:
                cell["points"].append((i, float(r["median_s"])))
    return out


def shifts(cells: dict) -> dict:
    """{key: {x: factor}}: the run-wide shift of each cell in each run x where it is ok, from `cells` =
    {key: (its worker group, [(x, median_s), ...])}; 1.0 where too few other cells of the group are ok."""
    import numpy as np
    by_run = {}
    for key, (group, points) in cells.items():
        if points:
            logs = np.log([m for _, m in points])
            for (x, _), v in zip(points, logs - np.median(logs)):
                by_run.setdefault(x, []).append((key, group, float(v)))
    out = {}
    for x, entries in by_run.items():
        for key, group, _ in entries:
            same = [v for k, g, v in entries if k != key and g == group]
            out.setdefault(key, {})[x] = math.exp(float(np.median(same))) if len(same) >= MIN_CELLS else 1.0
    return out


def corrected(cells: dict, shift: bool = True) -> dict:
    """{key: [(run index, median_s / its run's shift), ...]} of `series`' cells (raw medians if not `shift`)."""
    from bench.registry import worker_of
    if not shift:
        return {k: list(c["points"]) for k, c in cells.items()}
    f = shifts({k: ((c["row"]["device"], worker_of(c["row"]["framework"])), c["points"])
                for k, c in cells.items()})
    return {k: [(x, m / f[k][x]) for x, m in c["points"]] for k, c in cells.items()}


def detect(medians, window_len=WINDOW_LEN, max_pvalue=MAX_PVALUE, min_magnitude=MIN_MAGNITUDE) -> list:
    """[(position of the first point of the new level, p), ...] of a series of medians, by Otava; a level that
    holds fewer than MIN_AFTER runs at the end of the series is not (yet) a change point."""
    import numpy as np
    if len(medians) < 3:
        return []
    compute = otava()
    logs = np.log(np.asarray(medians, dtype=float))
    found, _ = compute(list(1.0 + logs - np.median(logs)), window_len=window_len, max_pvalue=max_pvalue,
                       min_magnitude=min_magnitude)
    return [(int(cp.index), float(cp.stats.pvalue)) for cp in found if len(medians) - int(cp.index) >= MIN_AFTER]


def ratio_ci(before, after, confidence=CONFIDENCE, seed=0) -> tuple[float, float, float]:
    """(median(after) / median(before), its bootstrap CI) from two lists of medians; a side of one point is held
    fixed (its own run-to-run spread is unknown, so the interval is then too narrow)."""
    import numpy as np
    from scipy.stats import bootstrap
    a, b = np.log(np.asarray(before, dtype=float)), np.log(np.asarray(after, dtype=float))
    ratio = math.exp(float(np.median(b) - np.median(a)))
    rng = np.random.default_rng(seed)
    kw = dict(confidence_level=confidence, n_resamples=4000, method="percentile", vectorized=True, axis=-1, rng=rng)
    if len(a) >= 2 and len(b) >= 2:
        res = bootstrap((a, b), lambda x, y, axis=-1: np.median(y, axis=axis) - np.median(x, axis=axis), **kw)
    elif len(a) >= 2 or len(b) >= 2:
        many, fixed, sign = (a, float(np.median(b)), -1) if len(a) >= 2 else (b, float(np.median(a)), 1)
        res = bootstrap((many,), lambda x, axis=-1: sign * (np.median(x, axis=axis) - fixed), **kw)
    else:
        return ratio, ratio, ratio
    lo, hi = res.confidence_interval
    return ratio, math.exp(min(float(lo), math.log(ratio))), math.exp(max(float(hi), math.log(ratio)))


def cell_changes(points, **params) -> list[dict]:
    """The change points of one cell's [(x, median_s), ...]: [{"x", "x_before", "ratio", "ci", "p"}, ...] where
    x is the first point of the new level and x_before the last of the old one."""
    cps = detect([m for _, m in points], **params)
    edges = [0] + [i for i, _ in cps] + [len(points)]
    out = []
    for j, (i, p) in enumerate(cps, start=1):
        ratio, lo, hi = ratio_ci([m for _, m in points[edges[j - 1]:i]], [m for _, m in points[i:edges[j + 1]]])
        out.append({"x": points[i][0], "x_before": points[i - 1][0], "ratio": ratio, "ci": [lo, hi], "p": p})
    return out


def commit(data) -> str | None:
    """environment.git.commit of a results file, or None."""
    return (data["environment"].get("git") or {}).get("commit")


def track(paths, machine=None, last=LAST, window_len=WINDOW_LEN, max_pvalue=MAX_PVALUE,
          min_magnitude=MIN_MAGNITUDE, shift=True) -> dict:
    """The change-point report of one machine's results files (fwbench track's JSON)."""
    from bench.gate.compare import cell_name
    if last < 1:
        raise UsageError(f"--last must be a positive number of runs, got {last}")
    if window_len < 2:
        raise UsageError(f"--window must be at least 2 runs, got {window_len}")
    otava()
    machine, runs = machine_runs(paths, machine)
    changes, cells = [], series(runs)
    points = corrected(cells, shift)
    for (task, impl, device, size_json, variant), cell in cells.items():
        r = cell["row"]
        for c in cell_changes(points[(task, impl, device, size_json, variant)], window_len=window_len,
                              max_pvalue=max_pvalue,
                              min_magnitude=min_magnitude):
            before, after = runs[c["x_before"]][1], runs[c["x"]][1]
            changes.append({"cell": cell_name(r), "task": task, "impl": impl, "device": device, "size": r["size"],
                            "variant": variant, "index": c["x"], "run_before": before["run_id"],
                            "run_after": after["run_id"], "commit_before": commit(before),
                            "commit_after": commit(after), "ratio": c["ratio"], "ci": c["ci"], "p": c["p"],
                            "new": c["x"] >= len(runs) - last})
    return {"kind": "track", "machine": machine,
            "runs": [{"file": str(p), "run_id": d["run_id"], "created": d["created"], "commit": commit(d)}
                     for p, d in runs],
            "changes": changes, "exit": int(any(c["new"] for c in changes))}
