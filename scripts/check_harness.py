#!/usr/bin/env python3
"""Does the harness time what a plain loop times? Harness blocks and plain perf_counter loops, interleaved.

For each cell, a harness worker (bench.worker, prepared exactly as `fwbench run` prepares a cell) and a
plain script (bench.api.make, a few warm-up steps, then `for _ in range(n): w.step()` + `w.sync()` timed with
time.perf_counter) run side by side, one block each in turn (H P P', then P' P H, ...), so machine noise hits both
alike. P' syncs after every step (what a hurried user writes): for asynchronous frameworks it forgoes the
overlap of dispatch and compute, so it may be slower; it is shown for information. The verdict is the
median of the per-round ratios harness/plain, pooled over several fresh process pairs (one process
can run a few % faster or slower than another for its whole life), with a 95% bootstrap CI: a missing
sync, a per-step conversion or setup inside the timed loop would push it away from 1.

    .venv/bin/python scripts/check_harness.py [--rounds 15] [--cells elementwise:numpy/manual,cnn:torch/eager]
"""
import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import environment, timing  # noqa: E402
from bench.worker import Proc  # noqa: E402

CELLS = "elementwise:numpy/manual,single_layer:torch/eager,mlp:jax/jit,mlp:tensorflow/function,cnn:torch/eager," \
        "cnn:numpy/manual"
PLAIN = r"""
import sys, time
from bench import api
w = api.make(sys.argv[1], sys.argv[2])
for _ in range(3):
    w.step()
    w.sync()
print("ready", flush=True)
for line in sys.stdin:
    n, every = map(int, line.split())
    t0 = time.perf_counter()
    for _ in range(n):
        w.step()
        if every:
            w.sync()
    w.sync()
    print((time.perf_counter() - t0) / n, flush=True)
"""


def plain_process(task, impl, env):
    """The plain script for one cell, warmed up and waiting for `n every` lines."""
    p = subprocess.Popen([sys.executable, "-c", PLAIN, task, impl], cwd=ROOT, env=env, text=True,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    while p.stdout.readline().strip() != "ready":
        if p.poll() is not None:
            raise RuntimeError(f"plain loop for {task} {impl} did not start")
    return p


def plain_block(p, n, every) -> float:
    p.stdin.write(f"{n} {every}\n")
    p.stdin.flush()
    return float(p.stdout.readline())


def check(task, impl, rounds, threads, processes):
    """`processes` fresh (worker, plain script) pairs of one cell, blocks interleaved; pooled medians and ratio."""
    import numpy as np
    from scipy.stats import bootstrap
    runs = [pair(task, impl, rounds, threads) for _ in range(processes)]
    h, p, p_every = (np.concatenate([r[k] for r in runs]) for k in range(3))
    ratios = h / p
    ci = bootstrap((ratios,), np.median, n_resamples=2000, method="percentile", rng=np.random.default_rng(0))
    return {"n": runs[0][3], "harness": np.median(h), "plain": np.median(p), "plain_every": np.median(p_every),
            "ratio": float(np.median(ratios)), "ci": (ci.confidence_interval.low, ci.confidence_interval.high),
            "per_pair": [float(np.median(r[0] / r[1])) for r in runs]}


def pair(task, impl, rounds, threads):
    """One worker and one plain script, `rounds` rounds: per-step samples (harness, plain, plain synced), n."""
    import os

    import numpy as np
    env = {**os.environ, **environment.thread_env(threads), "PYTHONPATH": str(ROOT)}
    fw = impl.split("/")[0]
    worker = Proc(sys.executable, str(ROOT), fw, "cpu", threads, environment.thread_env(threads), 600)
    size = __import__("bench.runner", fromlist=["canonical"]).canonical(task, {})
    prep = worker.call({"op": "prepare", "cell": 0, "task": task, "impl": impl, "size": size, "warmup_s": 0.1,
                        "min_block_s": timing.MIN_BLOCK_S["cpu"]}, 600)
    n = prep["block"]
    plain = plain_process(task, impl, env)
    h, p, p_every = [], [], []
    for r in range(rounds):                      # H P P' then P' P H: no one always goes first
        order = ("h", "p", "e") if r % 2 == 0 else ("e", "p", "h")
        for who in order:
            if who == "h":
                h.append(worker.call({"op": "block", "cell": 0}, 600)["t"] / n)
            else:
                (p if who == "p" else p_every).append(plain_block(plain, n, int(who == "e")))
    worker.close()
    plain.stdin.close()
    plain.wait()
    return np.array(h), np.array(p), np.array(p_every), n


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cells", default=CELLS, help="task:impl,... (default: %(default)s)")
    ap.add_argument("--rounds", type=int, default=16)
    ap.add_argument("--processes", type=int, default=3,
                    help="fresh process pairs per cell: a process's own speed varies by several %% (layout, "
                         "placement), so one pair cannot tell a bias from luck (default 3)")
    ap.add_argument("--threads", type=int, default=environment.physical_cores())
    args = ap.parse_args()
    print(f"{'cell':34} {'steps/block':>11} {'harness':>11} {'plain':>11} {'ratio':>7} {'95% CI':>15}   "
          f"{'plain, sync every step':>22}   per process pair")
    worst = 0.0
    for item in args.cells.split(","):
        task, impl = item.split(":")
        r = check(task, impl, args.rounds, args.threads, args.processes)
        worst = max(worst, abs(r["ratio"] - 1))
        print(f"{task + ' ' + impl:34} {r['n']:>11} {r['harness'] * 1e6:>9.1f}us {r['plain'] * 1e6:>9.1f}us "
              f"{r['ratio']:>7.3f} {r['ci'][0]:>7.3f}-{r['ci'][1]:<7.3f}   {r['plain_every'] * 1e6:>20.1f}us   "
              + " ".join(f"{x:.3f}" for x in r["per_pair"]),
              flush=True)
    print(f"largest |median ratio - 1|: {worst:.1%}")


if __name__ == "__main__":
    main()
