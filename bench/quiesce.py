"""Waiting for a worker process to go idle before another one is timed.

After a call, thread pools keep spinning for a while before they sleep: OpenBLAS for ~2^28 cycles (~0.1 s),
libgomp (torch) for ~300,000 spins, Eigen (TensorFlow, XLA) briefly. A worker that has just finished its
blocks would steal a core from the next worker's timed block on a 2-core machine. Changing the frameworks'
wait policy would keep them quiet but retunes what is measured, so the runner waits instead: it polls the
worker's CPU time (all threads) until it stops growing.
"""
from __future__ import annotations

import os
import time

WINDOW_S = 0.005   # poll interval
BUSY = 0.05        # idle: the process used less than this fraction of one core over a window
CAP_S = 1.0        # never wait longer than this (a worker with a busy background thread)


def cpu_ns(pid: int) -> int | None:
    """CPU time of every thread of `pid`, nanoseconds (Linux schedstat; psutil elsewhere); None if it is gone."""
    task = f"/proc/{pid}/task"
    if os.path.isdir(task):
        total = 0
        for tid in os.listdir(task):
            try:
                with open(f"{task}/{tid}/schedstat") as f:
                    total += int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                continue              # a thread that ended between listdir and open
        return total
    try:
        import psutil
        t = psutil.Process(pid).cpu_times()
        return int((t.user + t.system) * 1e9)
    except Exception:
        return None


def wait_idle(pid: int, window: float = WINDOW_S, busy: float = BUSY, cap: float = CAP_S) -> tuple[float, bool]:
    """Block until `pid` uses < `busy` of a core over one `window`; (seconds waited, whether `cap` cut it short)."""
    t0 = time.perf_counter()
    last = cpu_ns(pid)
    while last is not None:
        time.sleep(window)
        now = cpu_ns(pid)
        if now is None or now - last < busy * window * 1e9:
            return time.perf_counter() - t0, False
        if time.perf_counter() - t0 >= cap:
            return time.perf_counter() - t0, True
        last = now
    return time.perf_counter() - t0, False
