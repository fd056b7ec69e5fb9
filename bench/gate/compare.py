"""`fwbench compare BASE NEW`: asv's rule between two results files taken at different times.

A cell is a regression when its median step is slower by more than the threshold AND the difference is
significant: two-sided Mann-Whitney U on the per-block samples at p < 0.002 where the sample sizes can reach it
(6 v 7 blocks and up; 6 v 6 cannot: its smallest p is 2/924), else non-overlapping 99% bootstrap CIs of the
medians. Medians of separate processes on a shared machine move by tens of percent, mostly all cells of a worker
process alike: that run-wide shift is estimated from the other cells both files share that agree with each
other, and divided out before each cell is tested (bench.gate.shift; --no-shift turns it off); where too few
agree, none is divided out and the note says so. The threshold is raised to the machine's run-to-run noise when
it is known: --noise, else the shift-corrected changes between earlier results files of the machine (--history
DIR), else the noise file (scripts/aa_evidence.py --write-noise measures it); and, with or without those, to the
pair's own noise: 3 robust standard deviations of the shift-corrected changes of the cells both runs share (at
least 8 of them). Where the noise raised it, a change within it is *within noise* (this pair cannot see a change
that small), not *unchanged*. A change beyond the threshold that the samples cannot show to be significant is
*inconclusive*. Neither is gated (run both sides again with more time, or use fwbench ab).
"""
from __future__ import annotations

from bench.gate import rules
from bench.errors import UsageError

DEFAULT_THRESHOLD = 10.0
ENV_FIELDS = ("machine", "threads", "framework", "device")


def add_arguments(p):  # pragma: no mutate block
    from bench.options import csv_list
    p.add_argument("base", metavar="BASE", help="the earlier results file, or a folder of runs: then the latest "
                   "run in it of NEW's machine and profile taken before NEW")
    p.add_argument("new", metavar="NEW", help="the later results file")
    p.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD, metavar="PCT",
                   help=f"slowdown in percent a regression must exceed (default {DEFAULT_THRESHOLD:g}; raised to "
                        "the machine's run-to-run noise when known, and to this pair's own noise)")
    p.add_argument("--noise", type=float, metavar="PCT",
                   help="the machine's run-to-run noise in percent (default: from --history, else the noise file; 0 = "
                        "ignore the noise file)")
    p.add_argument("--noise-file", metavar="FILE", help="noise file to read (default: machines/noise.json)")
    p.add_argument("--history", metavar="DIR", action="append",
                   help="earlier results files (or folders) of this machine: its run-to-run noise is the 99th "
                        "percentile of the shift-corrected change of a cell between consecutive runs there "
                        "(repeatable; BASE and NEW are left out)")
    p.add_argument("--no-shift", action="store_true",
                   help="do not divide out the run-wide shift of each framework and device before testing a cell")
    p.add_argument("--no-spread", action="store_true",
                   help="do not raise the threshold to this pair's own noise (3 robust standard deviations of the "
                        "shift-corrected changes of the cells both runs share, when they share at least 8)")
    p.add_argument("--ignore-env", type=csv_list(ENV_FIELDS), default=[], metavar="FIELDS",
                   help=f"gate cells even where these differ ({', '.join(ENV_FIELDS)}), e.g. framework "
                        "to compare two releases")
    rules.add_output_arguments(p)


def cell_name(r) -> str:
    """'cnn batch=64 torch/eager cpu' (+ variant)."""
    return f"{r['task']} {r['size']} {r['impl']} {r['device']}" + (f" ({r['variant']})" if r["variant"] else "")


def env_diff(r, base_env: dict, new_env: dict, ignore=()) -> list[str]:
    """What differs between the two runs' environments that matters for cell `r`: ['threads 2 -> 4', ...]."""
    from bench.registry import modules
    pairs = {"machine": (base_env.get("machine"), new_env.get("machine")),
             "threads": (base_env.get("threads"), new_env.get("threads"))}
    for name in modules(r["framework"], r["device"]):     # the packages the framework's worker imports
        pairs[("framework", name)] = tuple((e.get("frameworks") or {}).get(name) for e in (base_env, new_env))
    if r["device"] == "gpu":
        pairs["device"] = tuple(", ".join(g.get("name", "?") for g in e.get("gpus") or []) or None
                                for e in (base_env, new_env))
    label = lambda k: k[1] if isinstance(k, tuple) else {"device": "GPU"}.get(k, k)
    field = lambda k: k[0] if isinstance(k, tuple) else k
    return [f"{label(k)} {a} -> {b}" for k, (a, b) in pairs.items() if a != b and field(k) not in ignore]


def judge(b, n, threshold_pct: float, requested_pct: float | None = None) -> dict:
    """The verdict for one cell present on both sides: status first, then asv's rule on the samples. Where the
    noise raised the threshold above `requested_pct`, a change within it is *within noise*, not unchanged."""
    out = {"base_median_s": b["median_s"] if b["status"] == "ok" else None,
           "new_median_s": n["median_s"] if n["status"] == "ok" else None, "ratio": None, "p": None, "test": None}
    if n["status"] == "failed":
        verdict = rules.FAILED_BOTH if b["status"] == "failed" else rules.FAILED_NEW
        return {**out, "verdict": verdict, "note": n["reason"]}
    if b["status"] == "failed":
        return {**out, "verdict": rules.FAILED_BASE, "note": b["reason"]}
    if "skipped" in (b["status"], n["status"]):
        return {**out, "verdict": rules.SKIPPED, "note": (n if n["status"] == "skipped" else b)["reason"]}
    ratio = n["median_s"] / b["median_s"]
    sig, p, test = rules.significant(list(b["samples_s"]), list(n["samples_s"]))
    limit = 1 + threshold_pct / 100
    verdict, note = rules.UNCHANGED, ""
    if ratio > limit or ratio < 1 / limit:
        verdict = (rules.REGRESSION if ratio > limit else rules.IMPROVEMENT) if sig else rules.INCONCLUSIVE
        note = "" if sig else "beyond the threshold but not significant: too few or too noisy blocks to tell"
    elif requested_pct is not None and threshold_pct > requested_pct:
        verdict, note = rules.WITHIN_NOISE, f"changes below {threshold_pct:.3g}% cannot be seen here"
    return {**out, "ratio": ratio, "p": p, "test": test, "verdict": verdict, "note": note}


def threshold(requested: float, machine: str, noise_pct=None, noise_file=None, history=None,
              exclude=()) -> tuple[float, str]:
    """The threshold in force and a sentence saying where it comes from."""
    if requested < 0:
        raise UsageError(f"--threshold must be a percentage >= 0, got {requested:g}")
    if noise_pct is not None and noise_pct < 0:
        raise UsageError(f"--noise must be a percentage >= 0, got {noise_pct:g}")
    if noise_pct:
        known = (noise_pct, "--noise")
    elif history:                    # --noise 0 leaves out the noise file, not the history
        from bench.gate.shift import history_noise
        known = history_noise(history, machine, exclude)
        if known is None:
            return requested, (f"threshold {requested:g}% (--history holds fewer than two runs of {machine}, so "
                               "its run-to-run noise is not known)")
    else:
        known = rules.noise(machine, noise_file) if noise_pct is None else None
    if known and known[0] > requested:
        return known[0], f"threshold {requested:g}% raised to {known[0]:.3g}%, the {known[1]}"
    if known:
        return requested, f"threshold {requested:g}% (above the machine's run-to-run noise, {known[0]:.3g}%)"
    return requested, f"threshold {requested:g}% (this machine's run-to-run noise is not on record)"


def compare(base_path, new_path, threshold_pct=DEFAULT_THRESHOLD, noise_pct=None, noise_file=None,
            ignore_env=(), history=None, shift=True, spread=True) -> dict:
    """The verdict report (gate's format) for two results files."""
    from bench.gate import shift as run_shift
    from bench.report.frame import load_frame
    df, runs = load_frame([base_path, new_path])
    (bsrc, bdata), (nsrc, ndata) = runs
    benv, nenv = bdata["environment"], ndata["environment"]
    thr, why = threshold(threshold_pct, benv.get("machine") or "unknown machine", noise_pct, noise_file, history,
                         (base_path, new_path))
    key = lambda r: (r["task"], r["impl"], r["device"], r["size_json"], r["variant"])
    sides = [{key(r): r for r in df[df["source"] == src].to_dict("records")} for src in (bsrc, nsrc)]
    pairs, ref = run_shift.matched(sides[0].values(), sides[1].values(), lambda k, b, n: not env_diff(b, benv, nenv))
    shifts = run_shift.estimate(pairs, ref) if shift else {}
    own = run_shift.spread(pairs, ref, shifts) if spread else None
    if own and own[0] > thr:
        thr, why = own[0], f"{why}; raised to {own[0]:.3g}%, {own[1]}"
    cells = []
    for k in dict.fromkeys(list(sides[0]) + list(sides[1])):
        b, n = sides[0].get(k), sides[1].get(k)
        r = b if b is not None else n
        entry = {"name": cell_name(r), "task": r["task"], "impl": r["impl"], "device": r["device"],
                 "size": r["size"], "variant": r["variant"], "machine": r["machine"]}
        if b is None or n is None:
            entry.update(verdict=rules.ONLY_NEW if b is None else rules.ONLY_BASE, note="", base_median_s=None,
                         new_median_s=None, ratio=None)
        else:
            factor, source = shifts.get(k, (1.0, "--no-shift"))
            ok = b["status"] == n["status"] == "ok"
            entry.update(judge(b, run_shift.adjust(n, factor) if ok else n, thr, threshold_pct))
            if ok:
                raw = n["median_s"] / b["median_s"]
                entry.update(raw_ratio=raw, shift=factor, shift_from=source)
                said = (source if source.startswith(run_shift.NOT_ESTIMATED) else
                        f"shift {(factor - 1) * 100:+.1f}% divided out (raw change {(raw - 1) * 100:+.1f}%)"
                        if factor != 1.0 else "")
                entry["note"] = "; ".join(s for s in (entry["note"], said) if s)
            diff = env_diff(r, benv, nenv, ignore_env)
            if diff and entry["verdict"] not in (rules.SKIPPED, rules.FAILED_BASE, rules.FAILED_BOTH):
                entry.update(verdict=rules.ENV, note=f"{'; '.join(diff)} (was: {entry['verdict']})")
        cells.append(entry)
    rule = (f"Regression: slower by more than {thr:.3g}% and significant (asv's rule: two-sided Mann-Whitney U p < "
            f"{rules.P_MAX:g} on the per-block samples, or non-overlapping 99% CIs when too few blocks for the test "
            f"to reach it); {why}. ")
    if thr > threshold_pct:
        rule += (f"Changes below {thr:.3g}% cannot be seen here: cells within it are '{rules.WITHIN_NOISE}', not "
                 f"'{rules.UNCHANGED}'. ")
    rule += (f"Before testing, each cell of NEW is divided by the run-wide shift of its framework and device: the "
             f"median change of the other cells both runs share that agree (at least {run_shift.MIN_AGREE} of "
             f"{run_shift.MIN_CELLS} or more), else of its device, else none (the note says so); a slowdown of a "
             f"whole framework looks like one, use fwbench ab for that: {run_shift.summary(pairs, ref)}." if shift else
             "No run-wide shift divided out (--no-shift).")
    side = lambda src, d: {"label": d["run_id"], "file": src, "run_id": d["run_id"], "created": d["created"],
                           "commit": (d["environment"].get("git") or {}).get("commit")}
    return rules.finish({"kind": "compare", "threshold_pct": thr, "requested_threshold_pct": threshold_pct,
                        "rule": rule, "base": side(bsrc, bdata), "new": side(nsrc, ndata), "cells": cells})


def previous_run(folder, new_path):
    """The latest results file under `folder` of the same machine and profile as NEW, taken before it; or None."""
    from datetime import datetime
    from pathlib import Path
    from bench import results
    new = results.load(new_path)
    when = lambda d: datetime.fromisoformat(d["created"])
    kind = lambda d: (d["environment"].get("machine"), d.get("profile"))
    found = []
    for path in sorted(Path(folder).rglob("*.json")):
        if path.resolve() == Path(new_path).resolve():
            continue
        d = results.load(path)
        if kind(d) == kind(new) and d["run_id"] != new["run_id"] and when(d) < when(new):
            found.append((when(d), str(path)))
    return max(found)[1] if found else None


def run(args) -> int:  # pragma: no mutate block
    from pathlib import Path
    from bench import results
    base = args.base
    if Path(base).is_dir():
        base = previous_run(args.base, args.new)
        new = results.load(args.new)
        what = f"{new['environment'].get('machine')} ({new.get('profile')} profile)"
        if base is None:
            print(f"compare: {args.base} holds no run of {what} taken before {args.new}: nothing to compare")
            return 0
        print(f"compare: {args.new} against {base}, the previous run of {what}")
    report = compare(base, args.new, args.threshold, args.noise, args.noise_file, args.ignore_env,
                     args.history, not args.no_shift, not args.no_spread)
    return rules.write_outputs(report, args)
