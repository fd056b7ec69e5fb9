"""A/A evidence for the regression gate on this machine (a measurement, not a unit test; takes minutes).

  python scripts/aa_evidence.py [--reps 10] [--write-noise] [--out aa.json]

1. `fwbench ab` of this Python against itself, --reps times: the share of cells flagged (false positives).
2. `fwbench run` --reps times, one after another: the run-to-run noise (largest change of a cell's median
   between two runs of the first half), then `fwbench compare` of consecutive runs of the second half with
   the threshold raised to that noise, and with the bare default threshold: false positives of each.
3. A real slowdown injected into one cell's step (--target) in one environment only: the smallest slowdown
   that `ab` (and `compare`) flag in every repetition.
The injection lives only here: the slowed side's "Python" is a wrapper script that starts the worker
through this file (--as-worker), which wraps that cell's step() with a busy-wait of the given fraction of
the step's own duration. Normal runs never see it. --write-noise records the noise in bench/noise.json,
where `fwbench compare` and `fwbench history` read it.
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
    """Run bench.worker with TASK:IMPL's step slowed by FRACTION (argv: SPEC FRAMEWORK DEVICE THREADS)."""
    task, impl, frac = argv[0].split(":")
    frac = float(frac)
    from bench import api, worker
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
    """An executable 'Python' whose `-m bench.worker` runs the slowed worker; anything else is plain Python."""
    path = folder / f"slow-python-{spec.replace(':', '_').replace('/', '-')}"
    path.write_text(f'#!/bin/sh\nif [ "$1" = "-m" ] && [ "$2" = "bench.worker" ]; then shift 2; exec '
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


def ab_pass(tmp, cells, new_python, tag) -> list[dict]:
    """One `fwbench ab`: its verdict cells (ratio, CI, verdict)."""
    out = tmp / f"ab-{tag}.json"
    rc = fwbench("ab", "--base-python", sys.executable, "--new-python", new_python, *cells,
                 "--out-dir", tmp / f"ab-{tag}", "--json", out)
    if rc not in (0, 1):
        raise SystemExit(f"fwbench ab failed (exit {rc}); see {LOG}")
    return json.loads(out.read_text())["cells"]


def run_pass(tmp, cells, tag, python=None) -> Path:
    """One `fwbench run` (with a slowed worker when `python` is a wrapper): its results file."""
    out = tmp / f"run-{tag}.json"
    args = ["run", *cells, "--out", str(out)]
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


def compare_pass(tmp, a, b, noise_pct, tag) -> list[dict]:
    """`fwbench compare A B --noise PCT`: its verdict cells."""
    out = tmp / f"cmp-{tag}.json"
    if fwbench("compare", a, b, "--noise", noise_pct, "--json", out) not in (0, 1):
        raise SystemExit(f"fwbench compare failed; see {LOG}")
    return json.loads(out.read_text())["cells"]


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
    p.add_argument("--reps", type=int, default=10, help="A/A repetitions of ab, and separate runs (default 10)")
    p.add_argument("--inject-reps", type=int, default=4, help="repetitions per injected slowdown (default 4)")
    p.add_argument("--tasks", default="elementwise,single_layer,mlp")
    p.add_argument("--impls", default="numpy/manual,torch/eager")
    p.add_argument("--target", default="single_layer:torch/eager", help="TASK:IMPL whose step gets slowed")
    p.add_argument("--ab-slowdowns", default="1,2,5,10", help="percent, comma-separated")
    p.add_argument("--compare-slowdowns", default="25,50,100", help="percent, comma-separated")
    p.add_argument("--threads", help="threads for every framework (default: fwbench's, the physical cores)")
    p.add_argument("--skip", default="", help="comma-separated parts to leave out: ab, compare, inject")
    p.add_argument("--out", help="write every figure as JSON here")
    p.add_argument("--write-noise", action="store_true", help="record the run-to-run noise in bench/noise.json")
    args = p.parse_args()
    sys.path.insert(0, str(ROOT))
    knobs = ["--devices", "cpu"] + (["--threads", args.threads] if args.threads else [])
    cells = ["--tasks", args.tasks, "--impls", args.impls, *knobs]
    task, impl = args.target.split(":")
    target_cells = ["--tasks", task, "--impls", impl, *knobs]
    skip = set(args.skip.split(","))
    tmp = Path(tempfile.mkdtemp(prefix="fwbench-aa-"))
    global LOG
    LOG = tmp / "log.txt"
    print(f"working in {tmp} (log: {LOG})", flush=True)
    fig, t_start = {"cells": f"{args.tasks} x {args.impls}", "target": args.target,
                    "threads": args.threads or "default", "started": time.strftime("%Y-%m-%d %H:%M"),
                    "load_avg_at_start": os.getloadavg()}, time.time()

    if "ab" not in skip:
        verdicts, walls = [], []
        for i in range(args.reps):
            t0 = time.perf_counter()
            verdicts += ab_pass(tmp, cells, sys.executable, f"aa{i}")
            walls.append(time.perf_counter() - t0)
            print(f"ab A/A {i + 1}/{args.reps}: {sum(v['verdict'] in FLAGS for v in verdicts)} flagged of "
                  f"{len(verdicts)} cells so far", flush=True)
        ch = sorted(change(v["ratio"]) for v in verdicts if v.get("ratio"))
        fig["ab_aa"] = {"cells": len(verdicts), "flagged": sum(v["verdict"] in FLAGS for v in verdicts),
                        "median_abs_change_pct": ch[len(ch) // 2], "max_abs_change_pct": ch[-1],
                        "wall_s_per_ab": sum(walls) / len(walls)}

    if "compare" not in skip:
        runs = []
        for i in range(args.reps):
            runs.append(run_pass(tmp, cells, f"aa{i}"))
            print(f"separate run {i + 1}/{args.reps}", flush=True)
        half = max(2, len(runs) // 2)
        calib = [medians(r) for r in runs[:half]]
        pairs = [change(b[k] / a[k]) for i, a in enumerate(calib) for b in calib[i + 1:] for k in a if k in b]
        noise = 5 * math.ceil(max(pairs) / 5)
        held = list(zip(runs[half - 1:], runs[half:]))
        gated = [c for j, (a, b) in enumerate(held) for c in compare_pass(tmp, a, b, noise, f"n{j}")]
        naive = [c for j, (a, b) in enumerate(zip(runs, runs[1:])) for c in compare_pass(tmp, a, b, 0, f"b{j}")]
        every = [change(b[k] / a[k]) for a, b in zip(map(medians, runs), map(medians, runs[1:])) for k in a if k in b]
        fig["compare_aa"] = {
            "runs": len(runs), "noise_pct": noise, "noise_from": f"max change of a cell's median over "
            f"{len(pairs)} run pairs of the first {half} runs, rounded up to 5%",
            "held_out_cells": len(gated), "flagged_with_noise": sum(c["verdict"] in FLAGS for c in gated),
            "consecutive_cells": len(naive), "flagged_at_10pct": sum(c["verdict"] in FLAGS for c in naive),
            "median_abs_change_pct": sorted(every)[len(every) // 2], "max_abs_change_pct": max(every)}

    if "inject" not in skip:
        fig["ab_inject"], fig["compare_inject"] = {}, {}
        for s in map(float, args.ab_slowdowns.split(",")):
            slow = wrapper(tmp, f"{args.target}:{s / 100}")
            got = [ab_pass(tmp, target_cells, slow, f"inj{s:g}-{i}")[0] for i in range(args.inject_reps)]
            fig["ab_inject"][f"{s:g}"] = {"detected": sum(v["verdict"] == "regression" for v in got),
                                          "reps": len(got), "measured_pct": [round((v["ratio"] - 1) * 100, 2)
                                                                             for v in got if v.get("ratio")]}
            print(f"ab, {s:g}% injected: {fig['ab_inject'][f'{s:g}']}", flush=True)
        noise = (fig.get("compare_aa") or {}).get("noise_pct", 0)
        for s in map(float, args.compare_slowdowns.split(",")):
            slow, got = wrapper(tmp, f"{args.target}:{s / 100}"), []
            for i in range(args.inject_reps):
                a = run_pass(tmp, target_cells, f"ref{s:g}-{i}")
                b = run_pass(tmp, target_cells, f"inj{s:g}-{i}", python=slow)
                got.append(compare_pass(tmp, a, b, noise, f"inj{s:g}-{i}")[0])
            fig["compare_inject"][f"{s:g}"] = {"detected": sum(c["verdict"] == "regression" for c in got),
                                               "reps": len(got), "noise_pct": noise,
                                               "measured_pct": [round((c["ratio"] - 1) * 100, 1) for c in got]}
            print(f"compare, {s:g}% injected: {fig['compare_inject'][f'{s:g}']}", flush=True)

    fig["wall_s"], fig["load_avg_at_end"] = round(time.time() - t_start), os.getloadavg()
    print(json.dumps(fig, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(fig, indent=1) + "\n")
    if args.write_noise and "compare_aa" in fig:
        from bench import environment, gate
        machine = environment.collect(1, {})["machine"]
        book = json.loads(gate.NOISE_FILE.read_text()) if gate.NOISE_FILE.exists() else {"machines": {}}
        book["about"] = ("Run-to-run noise per machine (largest change of a cell's median between separate runs), "
                         "written by scripts/aa_evidence.py --write-noise; fwbench compare raises its threshold to it.")
        book["machines"][machine] = {"run_to_run_pct": fig["compare_aa"]["noise_pct"], "by": "scripts/aa_evidence.py",
                                     "measured": date.today().isoformat(), "how": fig["compare_aa"]["noise_from"] +
                                     f", cells {args.tasks} x {args.impls}"}
        gate.NOISE_FILE.write_text(json.dumps(book, indent=1) + "\n")
        print(f"noise of {machine}: {fig['compare_aa']['noise_pct']}% -> {gate.NOISE_FILE}")
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--as-worker"]:
        sys.exit(as_worker(sys.argv[2:]))
    sys.exit(main())
