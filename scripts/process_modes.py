"""One speed per process: the same cell's plain loop in N fresh processes, with what the process did meanwhile.

Usage: python scripts/process_modes.py OUT.jsonl TASK/IMPL [TASK/IMPL ...] [--processes 6]

Each process builds the cell with `bench.api` (nothing else from bench), warms up 0.2 s, calibrates a block to
>= 10 ms and times 100 blocks. A line per process: the median step, minor page faults and context switches per
step (getrusage), CPU use (process time / wall time: ~2 when two threads spin) and the CPU seconds of its
busiest threads. The processes run one after another, the cells interleaved, so each cell sees the same minutes.
numpy/manual mlp (one thread, no runtime) is the control. Evidence for README, not a test.
"""
import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROBE = r"""
import json, os, resource, statistics, sys, time
from bench import api
w = api.make(sys.argv[1], sys.argv[2], device="cpu")
step, sync = w.step, w.sync
t_end = time.perf_counter() + 0.2
while time.perf_counter() < t_end:
    step(); sync()

def loop(n):
    t = time.perf_counter()
    for _ in range(n):
        step()
    sync()
    return (time.perf_counter() - t) / n

n = 1
while loop(n) * n < 0.01:
    n *= 2
r0, c0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.process_time(), time.perf_counter()
steps = [loop(n) for _ in range(100)]
r1, c1, t1 = resource.getrusage(resource.RUSAGE_SELF), time.process_time(), time.perf_counter()
k = 100 * n
busy = []
for tid in os.listdir("/proc/self/task"):
    with open(f"/proc/self/task/{tid}/schedstat") as f:
        busy.append(int(f.read().split()[0]) / 1e9)
print(json.dumps({"median_us": statistics.median(steps) * 1e6, "n": n,
                  "minflt_per_step": (r1.ru_minflt - r0.ru_minflt) / k, "nvcsw_per_step": (r1.ru_nvcsw - r0.ru_nvcsw) / k,
                  "nivcsw_per_step": (r1.ru_nivcsw - r0.ru_nivcsw) / k, "cpu_per_wall": (c1 - c0) / (t1 - t0),
                  "busiest_threads_s": sorted(busy)[-3:]}))
"""


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out")
    p.add_argument("cells", nargs="+", metavar="TASK/IMPL", help="e.g. mlp/torch/eager")
    p.add_argument("--processes", type=int, default=6)
    args = p.parse_args()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with open(args.out, "a") as f:
        for k in range(args.processes):
            for cell in args.cells:
                task, impl = cell.split("/", 1)
                r = subprocess.run([sys.executable, "-c", PROBE, task, impl], cwd=ROOT, env=env, capture_output=True,
                                   text=True, timeout=300)
                if r.returncode:
                    print(f"{cell}: exited {r.returncode}: {r.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
                    continue
                rec = {"task": task, "impl": impl, "process": k, **json.loads(r.stdout.strip().splitlines()[-1])}
                f.write(json.dumps(rec) + "\n")
                print(f"{task} {impl} process {k}: {rec['median_us']:.1f} µs, {rec['minflt_per_step']:.2f} faults/step, "
                      f"CPU/wall {rec['cpu_per_wall']:.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
