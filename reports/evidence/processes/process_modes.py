"""How a cell's step time differs between fresh processes, and moves inside one: plain loops, nothing from bench
but the workload.

Usage: python reports/evidence/processes/process_modes.py OUT.jsonl TASK/IMPL [TASK/IMPL ...] [--processes 6] [--windows]

Each process builds the cell with `bench.api`, warms up 0.2 s and calibrates a block to >= 10 ms. Then:
- by default, it times 100 blocks. A line per process: the median step, minor page faults and context switches
  per step (getrusage), CPU use (process time / wall time: ~2 when two threads spin) and the CPU seconds of its
  busiest threads;
- with --windows, three times it sleeps 0.5 s (as a worker does while the others run) and loops for 1.5 s.
  A line per visit: the median step of each 100-ms window.
The processes run one after another, the cells interleaved, so the cells see the same minutes but a cell's
processes do not: their differences are the process's and the minute's together (`fwbench run --processes K`
separates them, its processes interleaved block by block). numpy/manual (one thread, no runtime) is the
control. Evidence for README, not a test.
"""
import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]   # reports/evidence/<topic>/ -> the repository
PRELUDE = r"""
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
"""
PER_PROCESS = PRELUDE + r"""
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
WINDOWS = PRELUDE + r"""
for visit in range(3):
    time.sleep(0.5)
    steps, t0 = [], time.perf_counter()
    while time.perf_counter() - t0 < 1.5:
        steps.append(loop(n))
    per = max(1, round(0.1 / (statistics.median(steps) * n)))
    windows = [statistics.median(steps[i:i + per]) * 1e6 for i in range(0, len(steps) - per + 1, per)]
    print(json.dumps({"visit": visit, "n": n, "windows_us": [round(x, 2) for x in windows]}), flush=True)
"""


def show(task, impl, rec) -> str:
    """One line of the console summary of a record."""
    if "windows_us" in rec:
        w = sorted(rec["windows_us"])
        return (f"{task} {impl} process {rec['process']} visit {rec['visit']}: windows {w[0]:.1f}–{w[-1]:.1f} µs, "
                f"median {w[len(w) // 2]:.1f}")
    return (f"{task} {impl} process {rec['process']}: {rec['median_us']:.1f} µs, {rec['minflt_per_step']:.2f} "
            f"faults/step, CPU/wall {rec['cpu_per_wall']:.2f}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out")
    p.add_argument("cells", nargs="+", metavar="TASK/IMPL", help="e.g. mlp/torch/eager")
    p.add_argument("--processes", type=int, default=6)
    p.add_argument("--windows", action="store_true", help="100-ms windows of three 1.5-s loops per process")
    args = p.parse_args()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with open(args.out, "a") as f:
        for k in range(args.processes):
            for cell in args.cells:
                task, impl = cell.split("/", 1)
                r = subprocess.run([sys.executable, "-c", WINDOWS if args.windows else PER_PROCESS, task, impl],
                                   cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
                if r.returncode:
                    print(f"{cell}: exited {r.returncode}: {r.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
                    continue
                for line in r.stdout.strip().splitlines():
                    rec = {"task": task, "impl": impl, "process": k, **json.loads(line)}
                    f.write(json.dumps(rec) + "\n")
                    print(show(task, impl, rec), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
