"""How much does a cell's step time vary from one fresh process to the next, and does the CPU placement explain it?

  python scripts/regimes.py single_layer:tensorflow/session jax/jit:single_layer ... --procs 6 [--out regimes.jsonl]

For each TASK:IMPL, --procs fresh Python processes per placement, in the user's untouched environment (as
`fwbench verify`'s referee): `all` lets the process use every CPU it was given, `cpu0` pins it to the first one.
Each process builds the workload, warms up for 0.5 s, then times 60 blocks of >= 10 ms; its median per step is one
value. Placements alternate process by process, so both see the same minutes. The output is each placement's
per-process medians, their spread (max / min) and whether they form two clusters (a gap of > 25% between
neighbouring sorted values). A measurement, not a test: the evidence for what README says about bimodal cells.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

LOOP = r"""
import statistics, sys, time
from bench import api
w = api.make(sys.argv[1], sys.argv[2], device="cpu")
step, sync = w.step, w.sync

def loop(n):
    t0 = time.perf_counter()
    for _ in range(n):
        step()
    sync()
    return time.perf_counter() - t0

for _ in range(3):
    step(); sync()
n = 1
while loop(n) < 0.01:
    n *= 2
t_end = time.perf_counter() + 0.5
while time.perf_counter() < t_end:
    step(); sync()
print("FWBENCH-REGIME", statistics.median(loop(n) / n for _ in range(60)), flush=True)
"""


def one(task: str, impl: str, pin: bool) -> float | None:
    """Median step time of one fresh process (seconds), pinned to the first allowed CPU or not; None on failure."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    first = min(os.sched_getaffinity(0))
    r = subprocess.run([sys.executable, "-c", LOOP, task, impl], cwd=ROOT, env=env, capture_output=True, text=True,
                       preexec_fn=(lambda: os.sched_setaffinity(0, {first})) if pin else None, timeout=600)
    line = [s for s in r.stdout.splitlines() if s.startswith("FWBENCH-REGIME ")]
    return float(line[-1].split()[1]) if line else None


def clusters(values: list[float], gap: float = 1.25) -> int:
    """Groups among sorted values, split wherever a value exceeds its predecessor by more than `gap`x."""
    s = sorted(values)
    return 1 + sum(b > a * gap for a, b in zip(s, s[1:]))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("cells", nargs="+", help="TASK:IMPL, e.g. single_layer:tensorflow/session")
    p.add_argument("--procs", type=int, default=6, help="fresh processes per placement (default 6)")
    p.add_argument("--out", help="append one JSON line per cell to this file")
    args = p.parse_args(argv)
    for spec in args.cells:
        task, impl = spec.split(":")
        got = {"all": [], "cpu0": []}
        for k in range(args.procs):
            for placement in ("all", "cpu0") if k % 2 == 0 else ("cpu0", "all"):
                t = one(task, impl, placement == "cpu0")
                if t is not None:
                    got[placement].append(t)
        row = {"task": task, "impl": impl, "cpus": len(os.sched_getaffinity(0)), "per_process_s": got,
               "median_s": {k: statistics.median(v) for k, v in got.items() if v},
               "spread": {k: max(v) / min(v) for k, v in got.items() if v},
               "clusters": {k: clusters(v) for k, v in got.items() if v}}
        print(f"{task:13s} {impl:22s} " + "  ".join(
            f"{k}: {' '.join(f'{t * 1e6:.1f}' for t in sorted(v))} µs (max/min {row['spread'][k]:.2f}, "
            f"{row['clusters'][k]} cluster(s))" for k, v in got.items() if v), flush=True)
        if args.out:
            with open(args.out, "a") as f:
                f.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
