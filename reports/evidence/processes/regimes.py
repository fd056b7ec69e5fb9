"""How much does a cell's step time vary from one fresh process to the next, and does the CPU placement explain it?

  python reports/evidence/processes/regimes.py single_layer:tensorflow/session single_layer:jax/jit ... --procs 4 [--out regimes.jsonl]

For each TASK:IMPL, --procs fresh processes per placement, each `fwbench verify`'s own referee (bench.run.verify:
the user's untouched environment, a plain loop's median and the framework's timer): `all` lets the process use
every CPU it was given, `cpu0` pins it to the first one. Placements alternate process by process, so both see the
same minutes. The output is each placement's per-process plain-loop medians, their spread (max / min) and how
many clusters they form (split at a gap of > 25% between neighbouring sorted values). A measurement, not a test:
the evidence for what README says about cells with two speeds.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]   # reports/evidence/<topic>/ -> the repository


def clusters(values: list[float], gap: float = 1.25) -> int:
    """Groups among sorted values, split wherever a value exceeds its predecessor by more than `gap`x."""
    s = sorted(values)
    return 1 + sum(b > a * gap for a, b in zip(s, s[1:]))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("cells", nargs="+", help="TASK:IMPL, e.g. single_layer:tensorflow/session")
    p.add_argument("--procs", type=int, default=4, help="fresh processes per placement (default 4)")
    p.add_argument("--budget", type=float, default=1.0, help="seconds each referee method times (default 1.0)")
    p.add_argument("--out", help="append one JSON line per cell to this file")
    args = p.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from bench.run import runner, verify
    first = {min(os.sched_getaffinity(0))}
    for spec in args.cells:
        task, impl = spec.split(":")
        cell = runner.make_cells("quick", [task], [impl], ["cpu"])[0]
        got = {"all": [], "cpu0": []}
        for k in range(args.procs):
            for placement in ("all", "cpu0") if k % 2 == 0 else ("cpu0", "all"):
                out = verify.referee(cell, str(ROOT), args.budget, 600, cpus=first if placement == "cpu0" else None)
                if "plain_s" in out:
                    got[placement].append(out["plain_s"])
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
