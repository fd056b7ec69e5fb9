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
    return (usage(pid) or (None, 0))[0]


def usage(pid: int) -> tuple[int, int] | None:
    """(CPU nanoseconds of all threads, threads running or waiting for a CPU) of `pid`; None if it is gone.

    A spinning thread on a busy machine may get no CPU for a while, but it stays runnable ('R'): counting
    runnable threads tells it from a sleeping one whatever the load.
    """
    task = f"/proc/{pid}/task"
    if os.path.isdir(task):
        total = runnable = 0
        for tid in os.listdir(task):
            try:
                with open(f"{task}/{tid}/schedstat") as f:
                    total += int(f.read().split()[0])
                with open(f"{task}/{tid}/stat") as f:
                    runnable += f.read().rsplit(")", 1)[1].split()[0] == "R"
            except (OSError, ValueError, IndexError):
                continue              # a thread that ended between listdir and open
        return total, runnable
    try:
        import psutil
        p = psutil.Process(pid)
        t = p.cpu_times()
        return int((t.user + t.system) * 1e9), int(p.status() == psutil.STATUS_RUNNING)
    except Exception:
        return None


def wait_idle(pid: int, window: float = WINDOW_S, busy: float = BUSY, cap: float = CAP_S) -> tuple[float, bool]:
    """Block until no thread of `pid` is runnable and it used < `busy` of a core over one `window`;
    (seconds waited, whether `cap` cut it short)."""
    t0 = time.perf_counter()
    last = usage(pid)
    while last is not None:
        time.sleep(window)
        now = usage(pid)
        if now is None or (now[1] == 0 and now[0] - last[0] < busy * window * 1e9):
            return time.perf_counter() - t0, False
        if time.perf_counter() - t0 >= cap:
            return time.perf_counter() - t0, True
        last = now
    return time.perf_counter() - t0, False
