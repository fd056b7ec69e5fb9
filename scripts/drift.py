"""How one cell's step time moves inside one continuous loop: a plain loop, in a fresh process, 100-ms windows.

Usage: python scripts/drift.py OUT.jsonl TASK/IMPL [TASK/IMPL ...] [--processes 2] [--seconds 1.5] [--visits 3]

Each process builds the cell with `bench.api` (nothing else from bench), runs 200 steps, then `--visits` times
sleeps 0.5 s (as a worker does while the others run) and loops for `--seconds`, timing chunks of ~10 ms. A line
per visit: the median step of each 100-ms window, in µs. numpy/manual elementwise (one thread, no runtime) is the
control: its windows move only with the machine. Evidence for README's *regimes* paragraph, not a test.
"""
import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROBE = r"""
import json, statistics, sys, time
from bench import api
task, impl, seconds, visits = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
w = api.make(task, impl, device="cpu")
step, sync = w.step, w.sync
for _ in range(200):
    step(); sync()

def chunk(n):
    t = time.perf_counter()
    for _ in range(n):
        step()
    sync()
    return (time.perf_counter() - t) / n

n = 1
while chunk(n) * n < 0.01:
    n *= 2
for visit in range(visits):
    time.sleep(0.5)
    steps, t0 = [], time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        steps.append(chunk(n))
    per = max(1, round(0.1 / (statistics.median(steps) * n)))
    windows = [statistics.median(steps[i:i + per]) * 1e6 for i in range(0, len(steps) - per + 1, per)]
    print(json.dumps({"visit": visit, "n": n, "windows_us": [round(x, 2) for x in windows]}), flush=True)
"""


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out")
    p.add_argument("cells", nargs="+", metavar="TASK/IMPL", help="e.g. single_layer/tensorflow/session")
    p.add_argument("--processes", type=int, default=2)
    p.add_argument("--seconds", type=float, default=1.5)
    p.add_argument("--visits", type=int, default=3)
    args = p.parse_args()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with open(args.out, "a") as f:
        for k in range(args.processes):
            for cell in args.cells:
                task, impl = cell.split("/", 1)
                r = subprocess.run([sys.executable, "-c", PROBE, task, impl, str(args.seconds), str(args.visits)],
                                   cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
                for line in r.stdout.splitlines():
                    rec = {"task": task, "impl": impl, "process": k, **json.loads(line)}
                    f.write(json.dumps(rec) + "\n")
                    w = sorted(rec["windows_us"])
                    print(f"{task} {impl} process {k} visit {rec['visit']}: windows {w[0]:.1f}–{w[-1]:.1f} µs, "
                          f"median {w[len(w) // 2]:.1f}, max/min {w[-1] / w[0]:.2f}", flush=True)
                if r.returncode:
                    print(f"{cell}: exited {r.returncode}: {r.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
