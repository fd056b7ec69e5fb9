"""A/A evidence for the regression gate on this machine (a measurement, not a unit test; takes ~40 minutes).

  python scripts/aa_evidence.py [--reps 10] [--inject-reps 10] [--compare-inject-reps 5] [--out aa.json]

1. `fwbench ab` of this Python against itself, --reps times (cells --tasks x --impls): the share of cells
   flagged (false positives) and inconclusive.
2. `fwbench ab` with a real slowdown (--ab-slowdowns, default 5%) injected into one cell's step (--target) on
   the new side only, --inject-reps times: how often it is flagged.
3. --reps + 1 separate `fwbench run`s of the quick grid (--compare-tasks x --compare-impls; default: all of the
   quick profile), no noise file: `fwbench compare` of consecutive runs (A/A pairs) with the run-wide shift
   divided out (the default), without it (--no-shift), and with --history (the first half of the runs as the
   machine's history, applied to the pairs of the second half).
4. Between those runs, runs with --target slowed by each of --compare-slowdowns (default 25%, 10%),
   --compare-inject-reps times each: `fwbench compare` of the plain run just before against it.
The injection lives only here: the slowed side's "Python" is a wrapper script that starts the worker
through this file (--as-worker), which wraps that cell's step() with a busy-wait of the given fraction of
the step's own duration. Normal runs never see it. --reuse DIR judges the separate runs kept in an earlier
working folder again (its runs/ folder) instead of taking new ones: the verdicts of today's `compare` on the
same measurements. --write-noise records the run-to-run noise (the largest
change of a cell's median between plain runs of the first half, rounded up to 5%) in machines/noise.json.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FLAGS = ("regression", "improvement")
LOG = Path(tempfile.gettempdir()) / "fwbench-aa-log.txt"   # replaced by the working folder's log in main()


def as_worker(argv) -> int:
    """Run bench.run.worker with TASK:IMPL's step slowed by FRACTION (argv: SPEC FRAMEWORK DEVICE THREADS)."""
    task, impl, frac = argv[0].split(":")
    frac = float(frac)
    from bench import api
    from bench.run import worker
    make, clock = api.make, time.perf_counter

    def slowed_make(task_, impl_, *args, **kw):
        w = make(task_, impl_, *args, **kw)
        if (task_, impl_) == (task, impl):
            step = w.step

            def slow_step():
                t0 = clock()
                step()
                end = t0 + (clock() - t0) * (1 + frac)
                while clock() < end:
                    pass
            w.step = slow_step
        return w
    api.make = slowed_make
    return worker.main(argv[1:])


def wrapper(folder: Path, spec: str) -> str:
    """An executable 'Python' whose `-m bench.run.worker` runs the slowed worker; anything else is plain Python."""
    path = folder / f"slow-python-{spec.replace(':', '_').replace('/', '-')}"
    path.write_text(f'#!/bin/sh\nif [ "$1" = "-m" ] && [ "$2" = "bench.run.worker" ]; then shift 2; exec '
                    f'"{sys.executable}" "{Path(__file__).resolve()}" --as-worker "{spec}" "$@"; fi\n'
                    f'exec "{sys.executable}" "$@"\n')
    path.chmod(0o755)
    return str(path)


def fwbench(*args, env=None) -> int:
    """Run `python -m bench ARGS` from the project root; its exit code (stdout/stderr go to a log)."""
    with open(LOG, "a") as log:
        log.write(f"\n$ fwbench {' '.join(map(str, args))}\n")
        log.flush()
        return subprocess.run([sys.executable, "-m", "bench", *map(str, args)], cwd=ROOT, stdout=log, stderr=log,
                              env={**os.environ, **(env or {})}).returncode


def ab_pass(tmp, cells, new_python, tag, extra=()) -> list[dict]:
    """One `fwbench ab`: its verdict cells (ratio, CI, verdict)."""
    out = tmp / f"ab-{tag}.json"
    rc = fwbench("ab", "--base-python", sys.executable, "--new-python", new_python, *cells, *extra,
                 "--out-dir", tmp / f"ab-{tag}", "--json", out)
    if rc not in (0, 1):
        raise SystemExit(f"fwbench ab failed (exit {rc}); see {LOG}")
    return json.loads(out.read_text())["cells"]


def run_pass(tmp, cells, tag, python=None, extra=()) -> Path:
    """One `fwbench run` (with a slowed worker when `python` is a wrapper): its results file."""
    out = tmp / "runs" / f"run-{tag}.json"
    args = ["run", *cells, *extra, "--out", str(out)]
    if python:           # the runner's workers use sys.executable: start the run with it set to the wrapper
        code = f"import sys; sys.executable = {python!r}; from bench.cli import main; sys.exit(main({args!r}))"
        with open(LOG, "a") as log:
            log.write(f"\n$ (workers: {python}) fwbench {' '.join(args)}\n")
            log.flush()
            rc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, stdout=log, stderr=log).returncode
    else:
        rc = fwbench(*args)
    if rc != 0:
        raise SystemExit(f"fwbench run failed (exit {rc}); see {LOG}")
    return out


def compare_pass(tmp, a, b, tag, *options) -> dict:
    """`fwbench compare A B --noise 0 OPTIONS` (no noise file): its report."""
    out = tmp / f"cmp-{tag}.json"
    if fwbench("compare", a, b, "--noise", "0", *options, "--json", out) not in (0, 1):
        raise SystemExit(f"fwbench compare failed; see {LOG}")
    return json.loads(out.read_text())


def flagged(cells) -> int:
    """How many verdict cells are regressions or improvements."""
    return sum(c["verdict"] in FLAGS for c in cells)


def inconclusive(cells) -> int:
    """How many verdict cells are inconclusive (beyond the threshold, not significant)."""
    return sum(c["verdict"] == "inconclusive" for c in cells)


def reused(folder: Path) -> tuple[list, list, list]:
    """(plain runs in order, [(slowdown %, plain run before, injected run)], wall times) kept in folder/runs."""
    runs = (folder / "runs").resolve()          # absolute: the history folder links to them
    number = lambda path: int(path.stem.rsplit("-", 1)[-1].removeprefix("run").removeprefix("aa"))
    plain = sorted(runs.glob("run-aa*.json"), key=number)
    if len(plain) < 2:
        raise SystemExit(f"{runs}: fewer than two plain runs (run-aa*.json) to reuse")
    injected = [(float(path.stem.split("-")[1].removeprefix("inj")), runs / f"run-aa{number(path)}.json", path)
                for path in sorted(runs.glob("run-inj*.json"), key=number)]
    walls = [json.loads(path.read_text())["harness"]["wall_s"] for path in plain]
    return plain, injected, walls


def target_verdict(report, task, impl) -> dict:
    """The verdict cell of TASK x IMPL in a compare report."""
    return next(c for c in report["cells"] if c["task"] == task and c["impl"] == impl)


def change(r: float) -> float:
    """A ratio as a symmetric percentage change: 1.25 and 0.8 are both 25%."""
    return (max(r, 1 / r) - 1) * 100


def medians(path) -> dict:
    """{cell key: median step} of the ok cells of a results file."""
    from bench.results import cell_key
    data = json.loads(Path(path).read_text())
    return {cell_key(c): c["step"]["median_s"] for c in data["results"] if c["status"] == "ok"}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--reps", type=int, default=10, help="A/A repetitions of ab, and A/A pairs of runs (default 10)")
    p.add_argument("--inject-reps", type=int, default=10, help="ab repetitions per injected slowdown (default 10)")
    p.add_argument("--compare-inject-reps", type=int, default=5,
                   help="injected runs per compare slowdown (default 5)")
    p.add_argument("--tasks", default="elementwise,single_layer,mlp", help="ab's cells")
    p.add_argument("--impls", default="numpy/manual,torch/eager", help="ab's cells")
    p.add_argument("--compare-tasks", help="the separate runs' cells (default: every task)")
    p.add_argument("--compare-impls", help="the separate runs' cells (default: the quick profile's)")
    p.add_argument("--target", default="single_layer:torch/eager", help="TASK:IMPL whose step gets slowed")
    p.add_argument("--ab-slowdowns", default="5", help="percent, comma-separated")
    p.add_argument("--compare-slowdowns", default="25,10", help="percent, comma-separated")
    p.add_argument("--run-max-time", help="--max-time of every fwbench run (default: the quick profile's)")
    p.add_argument("--all-rounds", action="store_true", help="every fwbench run with --all-rounds (no cell drops out)")
    p.add_argument("--ab-max-time", help="--max-time of every fwbench ab (default: the quick profile's)")
    p.add_argument("--threads", help="threads for every framework (default: fwbench's, the physical cores)")
    p.add_argument("--skip", default="", help="comma-separated parts to leave out: ab, inject, compare")
    p.add_argument("--reuse", metavar="DIR", help="compare: judge the runs kept in DIR/runs by an earlier call "
                   "(its working folder) instead of taking new ones")
    p.add_argument("--out", help="write every figure as JSON here")
    p.add_argument("--write-noise", action="store_true", help="record the run-to-run noise in machines/noise.json")
    args = p.parse_args()
    sys.path.insert(0, str(ROOT))
    knobs = ["--devices", "cpu"] + (["--threads", args.threads] if args.threads else [])
    run_extra = (["--max-time", args.run_max_time] if args.run_max_time else []) + (
        ["--all-rounds"] if args.all_rounds else [])
    ab_extra = ["--max-time", args.ab_max_time] if args.ab_max_time else []
    cells = ["--tasks", args.tasks, "--impls", args.impls, *knobs]
    grid = [*(["--tasks", args.compare_tasks] if args.compare_tasks else []),
            *(["--impls", args.compare_impls] if args.compare_impls else []), *knobs]
    task, impl = args.target.split(":")
    target_cells = ["--tasks", task, "--impls", impl, *knobs]
    skip = set(args.skip.split(","))
    tmp = Path(tempfile.mkdtemp(prefix="fwbench-aa-"))
    global LOG
    LOG = tmp / "log.txt"
    print(f"working in {tmp} (log: {LOG})", flush=True)
    fig, t_start = {"ab_cells": f"{args.tasks} x {args.impls}", "target": args.target,
                    "compare_cells": f"{args.compare_tasks or 'all tasks'} x {args.compare_impls or 'quick impls'}",
                    "run_max_time": args.run_max_time or "the profile's", "all_rounds": args.all_rounds,
                    "ab_max_time": args.ab_max_time or "the profile's", "threads": args.threads or "default",
                    "started": time.strftime("%Y-%m-%d %H:%M"), "load_avg_at_start": os.getloadavg()}, time.time()

    if "ab" not in skip:
        verdicts, walls = [], []
        for i in range(args.reps):
            t0 = time.perf_counter()
            verdicts += ab_pass(tmp, cells, sys.executable, f"aa{i}", ab_extra)
            walls.append(time.perf_counter() - t0)
            print(f"ab A/A {i + 1}/{args.reps}: {flagged(verdicts)} flagged of {len(verdicts)} cells so far", flush=True)
        ch = sorted(change(v["ratio"]) for v in verdicts if v.get("ratio"))
        fig["ab_aa"] = {"cells": len(verdicts), "flagged": flagged(verdicts),
                        "inconclusive": sum(v["verdict"] == "inconclusive" for v in verdicts),
                        "median_abs_change_pct": ch[len(ch) // 2], "max_abs_change_pct": ch[-1],
                        "wall_s_per_ab": round(sum(walls) / len(walls), 1)}

    if "inject" not in skip:
        fig["ab_inject"] = {}
        for s in map(float, args.ab_slowdowns.split(",")):
            slow, got, walls = wrapper(tmp, f"{args.target}:{s / 100}"), [], []
            for i in range(args.inject_reps):
                t0 = time.perf_counter()
                got.append(ab_pass(tmp, target_cells, slow, f"inj{s:g}-{i}", ab_extra)[0])
                walls.append(time.perf_counter() - t0)
            fig["ab_inject"][f"{s:g}"] = {
                "detected": sum(v["verdict"] == "regression" for v in got), "reps": len(got),
                "inconclusive": sum(v["verdict"] == "inconclusive" for v in got),
                "measured_pct": [round((v["ratio"] - 1) * 100, 2) for v in got if v.get("ratio")],
                "wall_s_per_ab": round(sum(walls) / len(walls), 1)}
            print(f"ab, {s:g}% injected: {fig['ab_inject'][f'{s:g}']}", flush=True)

    if "compare" not in skip:
        slowdowns = [float(s) for s in args.compare_slowdowns.split(",") if s]
        injections = [s for _ in range(args.compare_inject_reps) for s in slowdowns]
        plain, injected, walls = [], [], []
        if args.reuse:
            plain, injected, walls = reused(Path(args.reuse))
            fig["reused_runs_from"] = Path(args.reuse).name
        for j in range(0 if args.reuse else max(args.reps + 1, len(injections))):
            t0 = time.perf_counter()
            plain.append(run_pass(tmp, grid, f"aa{j}", extra=run_extra))
            walls.append(time.perf_counter() - t0)
            if j < len(injections):        # the plain run just before is its reference: separate runs, as in CI
                s = injections[j]
                run = run_pass(tmp, grid, f"inj{s:g}-{j}", wrapper(tmp, f"{args.target}:{s / 100}"), run_extra)
                injected.append((s, plain[-1], run))
            print(f"separate runs: {len(plain)} plain, {len(injected)} injected", flush=True)
        half = max(2, len(plain) // 2)
        hist = tmp / "history"
        hist.mkdir()
        for r in plain[:half]:
            (hist / r.name).symlink_to(r)
        pairs = list(zip(plain, plain[1:]))
        shifted = [compare_pass(tmp, a, b, f"aa{j}") for j, (a, b) in enumerate(pairs)]
        bare = [compare_pass(tmp, a, b, f"ns{j}", "--no-shift") for j, (a, b) in enumerate(pairs)]
        held = [compare_pass(tmp, a, b, f"h{j}", "--history", hist) for j, (a, b) in enumerate(pairs[half:])]
        cells_of = lambda reports: [c for r in reports for c in r["cells"]]
        every = [change(b[k] / a[k]) for a, b in zip(map(medians, plain), map(medians, plain[1:])) for k in a if k in b]
        fig["compare_aa"] = {
            "runs": len(plain), "pairs": len(pairs), "wall_s_per_run": round(sum(walls) / len(walls), 1),
            "cells": len(cells_of(shifted)), "flagged": flagged(cells_of(shifted)),
            "inconclusive": inconclusive(cells_of(shifted)),
            "flagged_without_shift": flagged(cells_of(bare)),
            "threshold_pct": [round(r["threshold_pct"], 1) for r in shifted],
            "median_abs_change_pct": sorted(every)[len(every) // 2], "max_abs_change_pct": max(every),
            "residual_abs_change_pct": sorted(change(c["ratio"]) for c in cells_of(shifted) if c.get("ratio"))[-3:],
            "history": {"runs": half, "pairs": len(held), "cells": len(cells_of(held)),
                        "flagged": flagged(cells_of(held)),
                        "threshold_pct": [round(r["threshold_pct"], 1) for r in held]}}
        print(f"compare A/A: {fig['compare_aa']}", flush=True)
        fig["compare_inject"] = {}
        for s in slowdowns:
            mine = [(a, b) for x, a, b in injected if x == s]
            got = [compare_pass(tmp, a, b, f"inj{s:g}-{j}") for j, (a, b) in enumerate(mine)]
            with_hist = [compare_pass(tmp, a, b, f"injh{s:g}-{j}", "--history", hist) for j, (a, b) in enumerate(mine)]
            tv = [target_verdict(r, task, impl) for r in got]
            fig["compare_inject"][f"{s:g}"] = {
                "reps": len(got), "detected": sum(v["verdict"] == "regression" for v in tv),
                "detected_with_history": sum(target_verdict(r, task, impl)["verdict"] == "regression"
                                             for r in with_hist),
                "inconclusive": inconclusive(tv), "threshold_pct": [round(r["threshold_pct"], 1) for r in got],
                "other_cells_flagged": sum(flagged(r["cells"]) for r in got) - sum(v["verdict"] in FLAGS for v in tv),
                "measured_pct": [round((v["raw_ratio"] - 1) * 100, 1) for v in tv if v.get("raw_ratio")],
                "after_shift_pct": [round((v["ratio"] - 1) * 100, 1) for v in tv if v.get("ratio")]}
            print(f"compare, {s:g}% injected: {fig['compare_inject'][f'{s:g}']}", flush=True)
        fig["compare_aa"]["noise_pct"] = 5 * math.ceil(max(
            change(b[k] / a[k]) for i, a in enumerate(map(medians, plain[:half]))
            for b in map(medians, plain[i + 1:half]) for k in a if k in b) / 5)

    fig["wall_s"], fig["load_avg_at_end"] = round(time.time() - t_start), os.getloadavg()
    print(json.dumps(fig, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(fig, indent=1) + "\n")
    if args.write_noise and "compare_aa" in fig:
        from bench import environment
        from bench.gate import rules
        machine = environment.collect(1, {})["machine"]
        book = json.loads(rules.NOISE_FILE.read_text()) if rules.NOISE_FILE.exists() else {"machines": {}}
        book["about"] = ("Run-to-run noise per machine (largest change of a cell's median between separate runs), "
                         "written by scripts/aa_evidence.py --write-noise; fwbench compare raises its threshold to it.")
        book["machines"][machine] = {"run_to_run_pct": fig["compare_aa"]["noise_pct"], "by": "scripts/aa_evidence.py",
                                     "measured": date.today().isoformat(), "how": "largest change of a cell's median "
                                     f"between the first {half} runs, rounded up to 5%, cells {fig['compare_cells']}"}
        rules.NOISE_FILE.write_text(json.dumps(book, indent=1) + "\n")
        print(f"noise of {machine}: {fig['compare_aa']['noise_pct']}% -> {rules.NOISE_FILE}")
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--as-worker"]:
        sys.exit(as_worker(sys.argv[2:]))
    sys.exit(main())
