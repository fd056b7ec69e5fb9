"""How long must a cell warm up before its timed block, after its worker sat idle while another one ran?

  python reports/evidence/warmup/warm_evidence.py mlp:keras-jax/jit --after cnn:numpy/manual --rounds 30 [--out warm.jsonl]

Two harness workers: W holds the TARGET cell, O (optional) holds another cell. Each round, for every warm-up
length in --warm-ms (order rotating from round to round): O times one block of its cell, the runner waits until O
is idle (as `fwbench run` does at a switch of worker), then (--sibling) W times a block of another of its cells
after the full warm-up, then W times one block of TARGET after that much untimed warm-up. The output is TARGET's
median per-step time for each warm-up length and its ratio to the longest one.
A measurement, not a test; it is the evidence for bench.run.runner.WARM_S.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]   # reports/evidence/<topic>/ -> the repository


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("target", help="TASK:IMPL, e.g. mlp:keras-jax/jit")
    p.add_argument("--after", default=None, help="TASK:IMPL that another worker runs before each block (default none)")
    p.add_argument("--sibling", default=None,
                   help="TASK:IMPL in TARGET's own worker that times a block (after WARM_S) just before TARGET's")
    p.add_argument("--rounds", type=int, default=30)
    p.add_argument("--warm-ms", default="5,20,40,100", help="untimed warm-up lengths before a block, ms")
    p.add_argument("--out", help="append the result as a JSON line to this file")
    args = p.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from bench import environment, registry
    from bench.run import runner
    from bench.run.quiesce import wait_idle
    from bench.run.worker import Proc

    env = {**environment.thread_env(environment.physical_cores()), **environment.device_env("cpu")}

    def cell(spec):
        task, impl = spec.split(":")
        return runner.make_cells("quick", [task], [impl], ["cpu"])[0]

    def prepare(proc, c, i=0):
        return proc.call({"op": "prepare", "cell": i, "task": c["task"], "impl": c["impl"], "size": c["size"],
                          "seed": 0, "warmup_s": 0.1, "min_block_s": 0.01}, 300)

    def start(fw, c):
        proc = Proc(sys.executable, str(ROOT), fw, "cpu", environment.physical_cores(), env, 300)
        return proc, prepare(proc, c)["block"]

    worker = lambda spec: registry.worker_of(spec.split(":")[1].split("/")[0])
    target, n = start(worker(args.target), cell(args.target))
    if args.sibling:
        if worker(args.sibling) != worker(args.target):
            p.error(f"--sibling {args.sibling} does not run in {args.target}'s worker")
        sib = prepare(target, cell(args.sibling), 1)
    other = start(worker(args.after), cell(args.after)) if args.after else None
    warms = [float(w) / 1000 for w in args.warm_ms.split(",")]
    got = {w: [] for w in warms}
    try:
        for r in range(args.rounds):
            for w in warms[r % len(warms):] + warms[:r % len(warms)]:
                if other:
                    other[0].call({"op": "block", "cell": 0, "warm": max(1, other[1] // 2)}, 300)
                    wait_idle(other[0].p.pid)
                if args.sibling:
                    target.call({"op": "block", "cell": 1, "warm": runner.warm_steps(sib["block"], sib["block_s"])}, 300)
                got[w].append(target.call({"op": "block", "cell": 0, "warm": 1, "warm_s": w}, 300)["t"] / n)
                wait_idle(target.p.pid)
    finally:
        target.close()
        if other:
            other[0].close()
    base = statistics.median(got[max(warms)])
    out = {"target": args.target, "after": args.after, "sibling": args.sibling, "rounds": args.rounds, "block_steps": n,
           "cpu": environment.cpu().get("model"),
           "median_s": {f"{w * 1000:g} ms": statistics.median(v) for w, v in got.items()},
           "ratio_to_longest": {f"{w * 1000:g} ms": statistics.median(v) / base for w, v in got.items()}}
    print(f"{args.target} after {args.after or 'nothing'}" + (f", then {args.sibling}" if args.sibling else "") + ": " + ", ".join(
        f"warm {k}: {out['median_s'][k] * 1e6:.1f} µs ({v:.3f})" for k, v in out["ratio_to_longest"].items()))
    if args.out:
        with open(args.out, "a") as f:
            f.write(json.dumps(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
