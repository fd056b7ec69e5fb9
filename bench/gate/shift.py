"""The run-wide shift between two results files, and a machine's run-to-run noise from earlier results files.

Two runs taken at different times on a shared machine differ by more than their cells' own noise: other
tenants, the clock, one worker process being a few percent faster than another for its whole life. Such a
shift moves every cell of a worker process (one per framework and device) alike, and it is not a regression.
`fwbench compare` divides it out before testing each cell: a cell's shift is the median ratio new/base of the
medians of the *other* cells both runs share on its device and worker (leave-one-out: a cell's own regression
does not cancel itself) that agree with each other (within 3 scaled median absolute deviations of their median,
or 3%: a regressed sibling is left out, not averaged in); at least MIN_CELLS others of which MIN_AGREE agree,
else the same over its device, else no shift at all (factor 1.0, "shift not estimated"). Only cells that are ok
on both sides and whose environment does not differ serve as references. The price: a slowdown of every cell
of a framework alike looks like a shift (use `fwbench ab` for that).
"""
from __future__ import annotations

MIN_CELLS = 4             # a shift needs at least this many other cells, of which at least
MIN_AGREE = 3             # ... this many agree (see `agreeing`): one regressed sibling in 5 does not move it
OUTLIER_MADS = 3.0        # agree: within this many scaled median absolute deviations of the others' median,
AGREE_LOG = 0.03          # ... or within 3% of it: 4 medians of one process can lie closer than their noise
NOT_ESTIMATED = "shift not estimated"
HISTORY_QUANTILE = 99     # --history: this percentile of the shift-corrected changes between consecutive runs
SPREAD_CELLS = 8          # the pair's own noise needs at least this many shared cells
SPREAD_Z = 3.0            # ... and the threshold is raised to this many of its robust standard deviations


def agreeing(logs: list) -> list:
    """The log changes of `logs` within OUTLIER_MADS scaled median absolute deviations of their median, or within
    AGREE_LOG of it (with a deviation of 0: those within 3%): a regressed cell among the others is left out."""
    import numpy as np
    from scipy.stats import median_abs_deviation
    if not logs:
        return []
    mid, mad = float(np.median(logs)), float(median_abs_deviation(logs, scale="normal"))
    return [v for v in logs if abs(v - mid) <= max(OUTLIER_MADS * mad, AGREE_LOG)]


def _enough(agree: list, others: list) -> bool:
    """At least MIN_CELLS others, of which at least MIN_AGREE agree (at least half always lie within one median
    absolute deviation of their median)."""
    return len(others) >= MIN_CELLS and len(agree) >= MIN_AGREE


def estimate(pairs: dict, reference) -> dict:
    """{key: (factor new/base, where it comes from)} for every key of `pairs` ({key: (base row, new row)},
    rows of bench.report.frame); `reference`: the keys whose ratio of medians may serve to estimate others' shifts.
    A cell's factor is the median change of the *other* reference cells of its worker group that agree (`_enough`
    of them), else of those of its device, else 1.0 with a source that starts with NOT_ESTIMATED."""
    import numpy as np
    logs = {k: float(np.log(pairs[k][1]["median_s"] / pairs[k][0]["median_s"])) for k in reference}
    out = {}
    for k, (b, _) in pairs.items():
        same_fw = [v for o, v in logs.items() if o != k and _group(pairs[o][0]) == _group(b)]
        same_dev = [v for o, v in logs.items() if o != k and pairs[o][0]["device"] == b["device"]]
        fw, dev = agreeing(same_fw), agreeing(same_dev)
        if k in reference and _enough(fw, same_fw):
            out[k] = (float(np.exp(np.median(fw))), f"{len(fw)} other {b['framework']} {b['device']} cells")
        elif _enough(dev, same_dev):
            out[k] = (float(np.exp(np.median(dev))), f"{len(dev)} other {b['device']} cells")
        else:
            out[k] = (1.0, f"{NOT_ESTIMATED} (only {len(dev)} of {len(same_dev)} other {b['device']} cells agree)")
    return out


def spread(pairs: dict, reference, shifts: dict) -> tuple[float, str] | None:
    """(this pair of runs' own noise in %, where it comes from): SPREAD_Z robust standard deviations (scaled
    median absolute deviation) of the shift-corrected log change of the `reference` cells, or None with fewer
    than SPREAD_CELLS of them. One real regression among them barely moves a median absolute deviation."""
    import numpy as np
    from scipy.stats import median_abs_deviation
    logs = [np.log(pairs[k][1]["median_s"] / pairs[k][0]["median_s"] / shifts.get(k, (1.0,))[0]) for k in reference]
    if len(logs) < SPREAD_CELLS:
        return None
    sd = float(median_abs_deviation(logs, scale="normal"))
    return float(np.expm1(SPREAD_Z * sd)) * 100, (f"{SPREAD_Z:g} robust standard deviations ({sd * 100:.2g}%) of the "
                                                  f"shift-corrected change of the {len(logs)} cells both runs share")


def _group(row) -> tuple:
    """(device, framework whose worker process ran the cell): the cells one process shift moves alike."""
    from bench.registry import worker_of
    return row["device"], worker_of(row["framework"])


def summary(pairs: dict, reference) -> str:
    """'numpy cpu +3.1% (4 cells), torch cpu -7.9% (4 cells)': the median shift of each framework and device."""
    import numpy as np
    groups = {}
    for k in reference:
        groups.setdefault(_group(pairs[k][0]), []).append(pairs[k][1]["median_s"] / pairs[k][0]["median_s"])
    return ", ".join(f"{fw} {dev} {(float(np.median(v)) - 1) * 100:+.1f}% ({len(v)} cells)"
                     for (dev, fw), v in sorted(groups.items())) or "no shared cells"


def adjust(row: dict, factor: float) -> dict:
    """A new-side row with its median and samples divided by the shift `factor`."""
    return {**row, "median_s": row["median_s"] / factor, "samples_s": [s / factor for s in row["samples_s"]]}


def matched(base_rows, new_rows, usable) -> tuple[dict, set]:
    """({key: (base row, new row)} of the cells both runs hold, {keys that are ok on both sides and pass
    `usable(key, base row, new row)`}); rows of bench.report.frame."""
    key = lambda r: (r["task"], r["impl"], r["device"], r["size_json"], r["variant"])
    b = {key(r): r for r in base_rows}
    pairs = {key(r): (b[key(r)], r) for r in new_rows if key(r) in b}
    ok = {k for k, (x, y) in pairs.items() if x["status"] == y["status"] == "ok" and usable(k, x, y)}
    return pairs, ok


def history_noise(paths, machine: str, exclude=()) -> tuple[float, str] | None:
    """(run-to-run noise in %, where it comes from) of `machine`: the HISTORY_QUANTILE-th percentile of the
    shift-corrected change of a cell's median between consecutive results files (by creation time) of that
    machine in `paths` (files or folders; `exclude`: files to leave out), or None with fewer than two runs."""
    import numpy as np
    from pathlib import Path

    from bench import results
    from bench.gate.compare import env_diff
    from bench.report.frame import frame
    skip = {Path(p).resolve() for p in exclude}
    runs = [(p, results.load(p)) for p in results.expand(paths) if p.resolve() not in skip]
    runs = sorted([r for r in runs if (r[1]["environment"].get("machine") or "unknown machine") == machine],
                  key=lambda r: r[1].get("created") or "")
    if len(runs) < 2:
        return None
    changes = []
    for (_, a), (_, b) in zip(runs, runs[1:]):
        same = lambda k, x, y: not env_diff(x, a["environment"], b["environment"])
        pairs, ok = matched(frame([a]).to_dict("records"), frame([b]).to_dict("records"), same)
        for k, (factor, _) in estimate(pairs, ok).items():
            if k in ok:
                r = pairs[k][1]["median_s"] / factor / pairs[k][0]["median_s"]
                changes.append((max(r, 1 / r) - 1) * 100)
    if not changes:
        return None
    pct = float(np.percentile(changes, HISTORY_QUANTILE))
    return pct, (f"{HISTORY_QUANTILE}th percentile of the shift-corrected change of a cell's median between "
                 f"consecutive runs of {machine} in --history ({len(runs)} runs, {len(changes)} cell pairs)")
