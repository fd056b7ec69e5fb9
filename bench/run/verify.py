"""`fwbench verify`: does the harness report what a user of the framework sees? Harness runs against referees.

For each pair, `fwbench run`'s scheduler times the chosen cells (all of them together, as a run does), and
every cell is timed again by a referee in a fresh Python process with the user's own, untouched environment
(only PYTHONPATH points at this checkout): a plain `perf_counter` loop around the same `bench.api` workload
(warm-up, blocks calibrated to >= 10 ms, median of 7 to 150 of them within its time budget), and the framework's own timer where it has one
(`torch.utils.benchmark.Timer.blocked_autorange`; `timeit` otherwise, each call `step(); sync()`, as a user
writes it). Pairs alternate which goes first. The referee shares nothing with the harness but the workload:
not its timing code, its worker, its environment or its scheduling. With --processes K each side of a pair is K
processes: the harness run with K workers per framework (`fwbench run --processes K`) and K referee processes per
cell, their median.

A referee is itself a measurement: on a shared machine the same cell in another fresh process, minutes later,
can differ by more than the tolerance. Each cell therefore also gets the referee's own spread (the median of
|P_i / P_j - 1| over its pairs' plain loops). Verdict per cell, from the median over pairs of harness /
plain loop: *ok* within the tolerance; *FAIL* outside it when every pair lies beyond the tolerance on the same
side, or when the referee agrees with itself within the tolerance; otherwise *unresolved* (the pairs disagree
and so does the referee with itself: more --pairs or a quieter machine). Exit 1 on any FAIL; unresolved cells
are counted and named, not gated (as compare's inconclusive).
"""
from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.errors import UsageError

# The referee: its own loop, its own calibration, nothing from bench but the workload (bench.api).
REFEREE = r"""
import json, os, statistics, sys, time
from bench import api
task, impl, device, size = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
size = {k: tuple(v) if isinstance(v, list) else v for k, v in size.items()}
budget = float(sys.argv[5])
w = api.make(task, impl, device=device, **size)
step, sync = w.step, w.sync

def loop(n):
    t0 = time.perf_counter()
    for _ in range(n):
        step()
    sync()
    return time.perf_counter() - t0

t_end = time.perf_counter() + 0.2              # warm-up: 0.2 s of steps, at least 3
k = 0
while k < 3 or time.perf_counter() < t_end:
    step(); sync(); k += 1
n = 1
while True:                                    # smallest doubling of n whose loop lasts >= 10 ms
    t = loop(n)
    if t >= 0.01:
        break
    n *= 2
blocks = max(7, min(150, int(budget / t)))
plain = statistics.median(loop(n) / n for _ in range(blocks))
out = {"plain_s": plain, "n": n, "blocks": blocks}
fw = impl.split("/")[0]
if fw == "torch":
    import torch
    from torch.utils import benchmark              # its default num_threads is 1; the loop above ran with torch's own
    m = benchmark.Timer("step(); sync()", globals={"step": step, "sync": sync},
                        num_threads=torch.get_num_threads()).blocked_autorange(min_run_time=budget)
    out.update(timer="torch.utils.benchmark.Timer.blocked_autorange", timer_s=m.median,
               threads={"loop": torch.get_num_threads(), "timer": m.task_spec.num_threads})
else:
    import timeit
    timer = timeit.Timer("step(); sync()", globals={"step": step, "sync": sync})
    number, _ = timer.autorange()
    reps = max(5, min(30, int(budget / max(timer.timeit(number), 1e-9))))
    out.update(timer="timeit (autorange, median of repeats)",
               timer_s=statistics.median(t / number for t in timer.repeat(reps, number)))
out["bench_modules"] = sorted(m for m in sys.modules if m.startswith("bench."))
out["cpus"] = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
print("FWBENCH-REFEREE " + json.dumps(out), flush=True)
"""


def referee(cell: dict, root: str, budget: float, timeout: float, cpus: set | None = None) -> dict:
    """Time one cell in a fresh process with the user's environment; {"plain_s", "timer_s", ...} or {"error"}.
    `cpus`: pin the process to these CPUs (reports/evidence/processes/regimes.py; verify leaves the placement to the system)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
    args = [sys.executable, "-c", REFEREE, cell["task"], cell["impl"], cell["device"], json.dumps(cell["size"]),
            str(budget)]
    try:
        r = subprocess.run(args, cwd=root, env=env, capture_output=True, text=True, timeout=timeout,
                           preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None)
    except subprocess.TimeoutExpired:
        return {"error": f"referee timed out after {timeout:g} s"}
    for line in r.stdout.splitlines()[::-1]:
        if line.startswith("FWBENCH-REFEREE "):
            return json.loads(line.split(" ", 1)[1])
    tail = [s for s in r.stderr.splitlines() if s.strip()]
    return {"error": f"referee exited {r.returncode}" + (f": {tail[-1][:300]}" if tail else "")}


def add_arguments(p):
    from bench import registry, tasks
    from bench.options import csv_list, key_value
    p.add_argument("--tasks", type=csv_list(tuple(tasks.TASKS)), help="comma-separated (default: all)")
    p.add_argument("--impls", type=csv_list(registry.IMPLS),
                   help="comma-separated (default: the profile's: quick leaves out torch/compile)")
    p.add_argument("--devices", type=csv_list(registry.DEVICES), default=["cpu"], help="comma-separated (default: cpu)")
    p.add_argument("--profile", choices=("quick",), default="quick", help="the cells' sizes and blocks (default sizes)")
    p.add_argument("--pairs", type=int, default=3, help="harness runs, each paired with a referee per cell (default 3)")
    p.add_argument("--processes", type=int, default=1, metavar="K",
                   help="K processes a side in every pair: the harness run with --processes K, and K fresh referee "
                        "processes per cell, their median (default 1)")
    p.add_argument("--tolerance", type=float, default=10.0, metavar="PCT",
                   help="largest allowed |harness/referee - 1| in %% (default 10)")
    p.add_argument("--referee-budget", type=float, default=1.5, metavar="S",
                   help="seconds each referee method times a cell after warm-up (default 1.5)")
    p.add_argument("--worker-env", action="append", type=key_value, default=[], metavar="KEY=VALUE",
                   help="extra environment for the harness's workers (not the referee's), as in fwbench run")
    p.add_argument("--no-idle-wait", action="store_true",
                   help="harness without its wait for idle workers at switches (to measure that mechanism)")
    p.add_argument("--out", help="also write the table as JSON to this file")
    p.add_argument("--markdown", help="also write the table as Markdown to this file")
    p.add_argument("--rejudge", metavar="TABLE",
                   help="measure nothing: judge the pairs of an earlier --out TABLE by today's rule (with --tolerance)")


def run(args) -> int:
    from bench import environment, registry, tasks
    from bench.run import runner
    from bench.run.progress import Progress
    if args.pairs < 1:
        raise UsageError(f"--pairs must be a positive integer, got {args.pairs}")
    if args.processes < 1:
        raise UsageError(f"--processes must be a positive integer, got {args.processes}")
    if not args.tolerance > 0:
        raise UsageError(f"--tolerance must be a positive percentage, got {args.tolerance:g}")
    if args.rejudge:
        return finish(rejudge(args.rejudge, args.tolerance / 100), args)
    task_names = args.tasks or list(tasks.TASKS)
    grid = runner.make_cells(args.profile, task_names, args.impls, args.devices)
    cells = [c for c in grid if registry.skip_reason(c["impl"], c["device"]) is None
             and registry.task_skip_reason(c["impl"], c["task"]) is None]
    skipped = len(grid) - len(cells)
    if not cells:
        raise UsageError("no cell of that choice can run here (see fwbench list)")
    threads, blocks, k = environment.physical_cores(), runner.PROFILES[args.profile]["blocks"], args.processes
    root = str(runner.ROOT)
    harness = {i: [] for i in range(len(cells))}
    refs = {i: [] for i in range(len(cells))}
    progress = Progress()
    progress.note(f"fwbench verify: {len(cells)} cells x {args.pairs} pairs (harness run + fresh-process referees)"
                  + (f"; {skipped} cells cannot run here" if skipped else ""))
    t0 = time.perf_counter()
    for p in range(args.pairs):
        order = ("harness", "referee") if p % 2 == 0 else ("referee", "harness")
        for what in order:
            if what == "harness":
                records = runner.run_cells(cells, runner.process_sides(k), threads=threads, blocks=blocks,
                                           warmup_s=runner.PROFILES[args.profile]["warmup_s"],
                                           worker_env=dict(args.worker_env), quiesce=not args.no_idle_wait,
                                           progress=Progress())
                for i, rec in enumerate(runner.merge_processes(records, k)):
                    harness[i].append(rec["step"]["median_s"] if rec["status"] == "ok" else None)
            else:
                idx = range(len(cells)) if p % 2 == 0 else range(len(cells) - 1, -1, -1)
                runs = {i: [] for i in idx}
                for j in range(k):                      # the cells interleaved: each process sees other minutes
                    for i in idx:
                        c = cells[i]
                        progress.phase(f"pair {p + 1}/{args.pairs}", f"referee {c['task']} {c['impl']} {c['device']}"
                                       + (f" (process {j + 1}/{k})" if k > 1 else ""))
                        runs[i].append(referee(c, root, args.referee_budget, timeout=600))
                for i in idx:
                    refs[i].append(combined(runs[i]))
        progress.note(f"pair {p + 1}/{args.pairs} done ({time.perf_counter() - t0:.0f} s)")
    progress.stop()
    rows = [summarise(c, harness[i], refs[i], args.tolerance / 100) for i, c in enumerate(cells)]
    table = {"tolerance": args.tolerance / 100, "pairs": args.pairs, "processes": k,
             "wall_s": round(time.perf_counter() - t0, 1),
             "threads": threads, "worker_env": dict(args.worker_env), "idle_wait": not args.no_idle_wait,
             "environment": {k: v for k, v in environment.collect(threads, environment.thread_env(threads)).items()
                             if k in ("machine", "cpu", "frameworks", "python", "git")},
             "cells": rows}
    return finish(table, args)


def combined(runs: list) -> dict:
    """The referee of one pair from its fresh processes: the median plain loop and timer, each process's plain loop
    in "processes"; the first error if any failed."""
    errors = [r for r in runs if "error" in r]
    if errors or len(runs) == 1:
        return (errors or runs)[0]
    timers = [r["timer_s"] for r in runs if r.get("timer_s")]
    return {**runs[0], "plain_s": statistics.median(r["plain_s"] for r in runs),
            "timer_s": statistics.median(timers) if timers else None, "processes": [r["plain_s"] for r in runs]}


def finish(table, args) -> int:
    """Print the table, write --out and --markdown; 1 on any FAIL."""
    print_table(table)
    if args.out:
        from bench.results import write_atomic
        write_atomic(args.out, table)
    if args.markdown:
        Path(args.markdown).write_text(markdown(table))
    return 1 if any(r["verdict"] == FAIL for r in table["cells"]) else 0


def rejudge(path, tol) -> dict:
    """An earlier --out table with every cell judged again from its stored pairs (UsageError if unreadable)."""
    try:
        table = json.loads(Path(path).read_text())
        cells = table["cells"]
        refs = [[{"plain_s": p, "timer_s": t, "timer": r.get("timer")} for p, t in zip(r["plain_s"], r["timer_s"])]
                + [{"error": e} for e in r["errors"]] for r in cells]
        rows = [summarise(r, r["harness_s"], ref, tol) for r, ref in zip(cells, refs)]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise UsageError(f"--rejudge {path}: not a table that fwbench verify --out wrote ({e})") from None
    return {**table, "tolerance": tol, "cells": rows, "rejudged": True}


def summarise(cell, harness, refs, tol) -> dict:
    """One cell's pairs: medians, harness/referee ratios per pair, their median and spread, the verdict."""
    pairs = [(h, r) for h, r in zip(harness, refs) if h is not None and "plain_s" in r]
    errors = sorted({r["error"] for r in refs if "error" in r} | ({"harness cell failed"} if None in harness else set()))
    out = {"task": cell["task"], "impl": cell["impl"], "device": cell["device"], "size": cell["size"],
           "harness_s": [h for h, _ in pairs], "plain_s": [r["plain_s"] for _, r in pairs],
           "timer_s": [r.get("timer_s") for _, r in pairs], "timer": next((r.get("timer") for _, r in pairs), None),
           "errors": errors}
    if not pairs:
        return {**out, "ratio": None, "ratio_range": None, "timer_ratio": None, "ok": False}
    ratios = [h / r["plain_s"] for h, r in pairs]
    t_ratios = [h / r["timer_s"] for h, r in pairs if r.get("timer_s")]
    ratio, spread = statistics.median(ratios), referee_spread(out["plain_s"])
    verdict = judge(ratio, ratios, spread, tol) if not errors else FAIL
    return {**out, "ratio": ratio, "ratio_range": [min(ratios), max(ratios)],
            "timer_ratio": statistics.median(t_ratios) if t_ratios else None,
            "referee_spread": spread, "verdict": verdict, "ok": verdict == OK}


OK, FAIL, UNRESOLVED = "ok", "FAIL", "unresolved"


def self_changes(plain) -> list[float]:
    """|P_i / P_j - 1| of the referee's plain loops over every two of its pairs: fresh processes minutes apart;
    the larger of each two on top, so the order does not matter."""
    return [max(a, b) / min(a, b) - 1 for k, a in enumerate(plain) for b in plain[k + 1:]]


def referee_spread(plain) -> float | None:
    """How far the referee is from itself: the median of `self_changes` (None with one pair)."""
    two = self_changes(plain)
    return statistics.median(two) if two else None


def judge(ratio, ratios, spread, tol) -> str:
    """ok / FAIL / unresolved of a cell's median ratio, its pairs' ratios and the referee's own spread."""
    if abs(ratio - 1) <= tol:
        return OK
    beyond = [r > 1 + tol if ratio > 1 else r < 1 - tol for r in ratios]
    if all(beyond) or spread is None or spread <= tol:
        return FAIL
    return UNRESOLVED


def _fmt(s):
    from bench.run.summary import _fmt_s
    return _fmt_s(s)


def rows_of(table):
    """The printed rows: cell, harness, plain loop, ratio [range], framework timer, its ratio, verdict."""
    out = []
    for r in table["cells"]:
        med = lambda xs: statistics.median(xs) if xs else None
        rng = r["ratio_range"]
        out.append([r["task"], r["impl"], r["device"], _fmt(med(r["harness_s"])), _fmt(med(r["plain_s"])),
                    f"{r['ratio']:.3f}" if r["ratio"] else "–", f"{rng[0]:.2f}–{rng[1]:.2f}" if rng else "–",
                    f"±{r['referee_spread']:.0%}" if r.get("referee_spread") is not None else "–",
                    _fmt(med([t for t in r["timer_s"] if t])), f"{r['timer_ratio']:.3f}" if r["timer_ratio"] else "–",
                    r["verdict"] + (f" ({'; '.join(r['errors'])})" if r["errors"] else "")])
    return out


HEAD = ["task", "impl", "device", "harness", "plain loop", "ratio", "range", "referee vs itself", "fw timer", "ratio",
        "verdict"]


def print_table(table) -> None:
    from rich.console import Console
    from rich.table import Table
    k = table.get("processes", 1)
    t = Table(title=f"fwbench verify: harness vs fresh-process referees, median of {table['pairs']} pairs "
                    + (f"of {k} processes a side " if k > 1 else "") + f"(tolerance ±{table['tolerance']:.0%})")
    for col in HEAD:
        t.add_column(col, justify="left" if col in ("task", "impl", "device", "verdict") else "right")
    for row in rows_of(table):
        t.add_row(*row)
    Console(highlight=False, width=None if sys.stdout.isatty() else 150).print(t)
    print(summary(table))


def summary(table) -> str:
    """The lines under the table: the counts of each verdict, the overall bias, and how far the referee is from
    itself across the whole table against how far the harness is from it."""
    cells, tol = table["cells"], table["tolerance"]
    count = lambda v: sum(r["verdict"] == v for r in cells)
    lines = [f"{count(OK)} of {len(cells)} cells within ±{tol:.0%}, {count(FAIL)} FAIL, {count(UNRESOLVED)} unresolved; "
             f"wall {table['wall_s']:.0f} s"]
    logs = [math.log(r["ratio"]) for r in cells if r["ratio"]]
    if logs:
        lines.append(f"harness / referee over all cells (median): {math.exp(statistics.median(logs)):.3f}")
    ratios = [h / p for r in cells for h, p in zip(r["harness_s"], r["plain_s"])]
    selves = [x for r in cells for x in self_changes(r["plain_s"])]
    if selves:
        lines.append(f"single measurements beyond ±{tol:.0%}: harness vs referee {sum(abs(q - 1) > tol for q in ratios)} "
                     f"of {len(ratios)}; the referee vs itself (another fresh process, minutes later) "
                     f"{sum(x > tol for x in selves)} of {len(selves)}")
    if count(UNRESOLVED):
        lines.append(f"unresolved: {', '.join(r['task'] + ' ' + r['impl'] for r in cells if r['verdict'] == UNRESOLVED)}"
                     " (their pairs disagree, and the referee with itself by more than the tolerance: more --pairs, or "
                     "a quieter machine)")
    return "\n".join(lines)


def markdown(table) -> str:
    """The table as Markdown (README)."""
    lines = ["| " + " | ".join(HEAD) + " |", "|" + "---|" * len(HEAD)]
    lines += ["| " + " | ".join(row) + " |" for row in rows_of(table)]
    return "\n".join(lines) + "\n\n" + "\n".join(f"- {line}" for line in summary(table).splitlines()) + "\n"
