"""Does a shorter warm-up for a block that follows another block of the same worker change what is measured?

  python reports/evidence/warmup/warm_rule_ab.py --rounds 32 [--sibling-ms 50] [--out rule.json]

One run of the quick cells through the harness's own scheduler (bench.run.runner.run_cells), with two warm-up rules
alternating by pairs of rounds (A B B A A B ...: each rule sees both round directions equally often):
  A  every block follows >= WARM_S (100 ms) of untimed steps (the harness's rule);
  B  as A after a switch of worker, but >= --sibling-ms when the worker has just timed another of its cells.
Both rules see the same minutes of the machine and the same processes, so per cell B/A isolates the rule. Output:
per cell the median of each rule's blocks, B/A with a bootstrap 95% CI, and the wall time of each rule's rounds.
A measurement, not a test; the evidence for or against bench.run.runner.SIBLING_WARM_S.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]   # reports/evidence/<topic>/ -> the repository


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=32, help="rounds in all, a multiple of 4 (default 32)")
    p.add_argument("--sibling-ms", type=float, default=50.0, help="rule B's warm-up after a sibling block, ms")
    p.add_argument("--tasks", default="elementwise,single_layer,mlp,cnn")
    p.add_argument("--impls", default=None, help="comma-separated (default: the quick profile's)")
    p.add_argument("--out", help="write the table as JSON to this file")
    args = p.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    import numpy as np
    from scipy.stats import bootstrap

    from bench import environment
    from bench.run import runner

    rule_of = lambda r: "AB"[((r + 1) // 2) % 2]          # rounds 0..: A B B A A B B A ...
    walls = {"A": 0.0, "B": 0.0}
    block, warm_s = runner._Scheduler.block, runner.WARM_S

    def ruled_block(self, i, r):                        # runner.warm_steps reads WARM_S when called
        if rule_of(r) == "B" and self.last == self.state[i]["key"]:
            runner.WARM_S = args.sibling_ms / 1000
        t0 = time.perf_counter()
        try:
            return block(self, i, r)
        finally:
            runner.WARM_S = warm_s
            walls[rule_of(r)] += time.perf_counter() - t0

    runner._Scheduler.block = ruled_block
    cells = runner.make_cells("quick", args.tasks.split(","), args.impls and args.impls.split(","), ["cpu"])
    threads = environment.physical_cores()
    records = runner.run_cells(cells, threads=threads, blocks=args.rounds)
    rows = []
    for rec in records:
        if rec["status"] != "ok":
            continue
        s = rec["step"]["samples_s"]
        a = [t for r, t in enumerate(s) if rule_of(r) == "A"]
        b = [t for r, t in enumerate(s) if rule_of(r) == "B"]
        pairs = np.array([(x, y) for x, y in zip(a, b)])
        ci = bootstrap((pairs[:, 0], pairs[:, 1]), lambda x, y, axis=-1: np.median(y, axis=axis) / np.median(x, axis=axis),
                       paired=True, vectorized=True, n_resamples=2000, method="percentile",
                       rng=np.random.default_rng(0)).confidence_interval
        rows.append({"task": rec["task"], "impl": rec["impl"], "a_s": statistics.median(a), "b_s": statistics.median(b),
                     "ratio": statistics.median(b) / statistics.median(a), "ci95": [ci.low, ci.high]})
        print(f"{rec['task']:13s} {rec['impl']:22s} A {rows[-1]['a_s'] * 1e6:10.1f} µs  B {rows[-1]['b_s'] * 1e6:10.1f} µs"
              f"  B/A {rows[-1]['ratio']:.3f} [{ci.low:.3f}, {ci.high:.3f}]", flush=True)
    ratios = [r["ratio"] for r in rows]
    summary = {"rounds": args.rounds, "impls": args.impls, "sibling_ms": args.sibling_ms, "warm_s": runner.WARM_S,
               "wall_per_round_s": {k: v / (args.rounds / 2) for k, v in walls.items()},
               "median_ratio": statistics.median(ratios),
               "cis_excluding_1": sum(1 for r in rows if r["ci95"][0] > 1 or r["ci95"][1] < 1),
               "beyond_2pct": sum(1 for x in ratios if abs(x - 1) > 0.02)}
    print(json.dumps(summary))
    if args.out:
        Path(args.out).write_text(json.dumps({"summary": summary, "cells": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
