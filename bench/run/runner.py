"""`fwbench run`: the command. It builds the cells of a profile (bench.run.grid), times them with the scheduler
(bench.run.scheduler: isolated worker processes, steady-state blocks interleaved round-robin), writes the results
file after every finished cell, prints the summary (bench.run.summary) and sets the exit code. The main process
imports no framework. The names of those modules are re-exported here, where the rest of the project reads them.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from bench.errors import UsageError
from bench.run.grid import PROFILES, RETRACE, SWEEPS, canonical, make_cells  # noqa: F401
from bench.run.scheduler import (IMPORT_TIMEOUT_S, QUIT_S, SALVAGE_MIN_BLOCKS, WARM_FRACTION, WARM_S,  # noqa: F401
                                 Interrupted, _Scheduler, broken, judged, run_cells, warm_steps)
from bench.run.sides import (FINISH_S, PENDING, ROOT, Side, Until, merge_processes, per_round_median,  # noqa: F401
                             precise, precision_of, process_sides)
from bench.run.summary import aa_ratios, precision_text, print_summary  # noqa: F401
from bench.run.timing import MIN_BLOCK_S


def add_arguments(p):
    from bench import registry, tasks
    from bench.options import csv_list, key_value
    p.add_argument("--tasks", type=csv_list(tuple(tasks.TASKS)), help="comma-separated (default: all)")
    p.add_argument("--impls", type=csv_list(registry.known()),
                   help="comma-separated (default: the profile's: quick leaves out those with a long build)")
    p.add_argument("--devices", type=csv_list(registry.DEVICES),
                   help="comma-separated (default: cpu, plus gpu where an NVIDIA driver is present)")
    p.add_argument("--profile", choices=tuple(PROFILES), default="quick",
                   help="; ".join(f"{k}: {v['about']}" for k, v in PROFILES.items()).replace("%", "%%"))
    p.add_argument("--threads", type=int, help="threads for every framework (default: physical cores)")
    p.add_argument("--out", help="results file to write (default: runs/<run id>.json)")
    add_precision_arguments(p, "run")
    p.add_argument("--aa", action="store_true",
                   help="A/A check: time every cell twice, in a second set of workers (variant aa-copy)")
    p.add_argument("--processes", type=int, default=1, metavar="K",
                   help="time every cell in K worker processes of each framework, blocks alternating between them "
                        "round by round; a cell's sample of a round is the median of its K processes, and the record "
                        "keeps each process's median and the slowest over the fastest (a check of the cells you cite: "
                        "torch/eager cnn's processes differed by 14%% here). Default 1; K times the work")
    p.add_argument("--cell-timeout", type=float, default=600.0, metavar="S",
                   help="seconds one cell's phase may take before its worker is killed (default 600)")
    p.add_argument("--examples", action="store_true",
                   help="also record the slides' worked examples (the full profile always does)")
    p.add_argument("--sweep", action="store_true", help="also time every task at its sweep sizes (the full profile "
                   "always does)")
    p.add_argument("--machine", help="a short name for this machine in the results (default: CPU model x cores)")
    p.add_argument("--worker-env", action="append", type=key_value, default=[], metavar="KEY=VALUE",
                   help="an extra environment variable for every worker, e.g. OMP_WAIT_POLICY=PASSIVE (repeatable; "
                        "recorded, and shown as a caveat in the report: by default workers get only the thread count)")


def add_precision_arguments(p, command: str) -> None:
    """--precision, --max-time and --blocks (run and ab)."""
    budget = "ab_max_time_s" if command == "ab" else "max_time_s"
    what = ("each cell's new/base ratio CI is narrow enough to decide at the threshold" if command == "ab" else
            "every cell's 95%% CI of the median is within ±PCT%% of it")
    if command != "ab":
        p.add_argument("--precision", type=float, metavar="PCT",
                       help=f"add interleaved rounds until {what}, or --max-time is spent; cells that reached it "
                            "drop out unless --all-rounds (default: the profile's, " + ", ".join(
                                f"{k} {v['precision_pct']:g}" for k, v in PROFILES.items()) + "; 0: fixed --blocks)")
        p.add_argument("--all-rounds", action="store_true",
                       help="with --precision: no cell drops out; every cell takes every round until all reached the "
                            "target or the budget ends, so every cell sees the same minutes of the machine (use it for "
                            "runs that fwbench compare will set against each other: it halved the cells' run-to-run "
                            "scatter here)")
    p.add_argument("--max-time", type=float, metavar="S",
                   help=f"wall-clock budget of the whole {command} in seconds: no new round after it (default: the "
                        "profile's, " + ", ".join(f"{k} {v[budget]:g}" for k, v in PROFILES.items()) +
                        "); every cell still gets the profile's minimum blocks")
    p.add_argument("--blocks", type=int, help="exactly this many steady-state blocks per cell"
                   + (" and process" if command == "ab" else "") + ", instead of rounds to a precision")


def options(tasks=None, impls=None, devices=None, profile="quick", threads=None, out=None, blocks=None,
            precision=None, max_time=None, examples=False, sweep=False, cell_timeout=600.0) -> argparse.Namespace:
    """The options `fwbench run` would parse for these arguments (names checked: ValueError lists the valid ones)."""
    from bench import registry, tasks as _tasks
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; valid profiles: {', '.join(PROFILES)}")
    listed = lambda v: [v] if isinstance(v, str) else (list(v) if v is not None else None)  # noqa: E731
    tasks, impls, devices = listed(tasks), listed(impls), listed(devices)
    for t in tasks or []:
        _tasks.get(t)
    for i in impls or []:
        registry.check_impl(i)
    for d in devices or []:
        registry.check_device(d)
    p = argparse.ArgumentParser()
    add_arguments(p)
    args = p.parse_args([])
    args.__dict__.update(tasks=tasks, impls=impls, devices=devices, profile=profile, threads=threads,
                         out=None if out is None else str(out), blocks=blocks, precision=precision,
                         max_time=max_time, examples=examples, sweep=sweep, cell_timeout=cell_timeout)
    return args


def plan(args, spec: dict, command: str = "run") -> tuple[int, float | None, float | None]:
    """(blocks, precision %, time budget s) from the options: (N, None, None) for a fixed count, else
    (the profile's minimum blocks, target, budget). UsageError for contradictions."""
    precision = getattr(args, "precision", None)
    if args.blocks is not None and args.blocks < 1:
        raise UsageError(f"--blocks must be a positive integer, got {args.blocks}")
    if precision is not None and precision < 0:
        raise UsageError(f"--precision must be a percentage >= 0 (0: a fixed --blocks count), got {precision:g}")
    if args.max_time is not None and not args.max_time > 0:
        raise UsageError(f"--max-time must be a positive number of seconds, got {args.max_time:g}")
    if args.blocks is not None and precision:
        raise UsageError("give --blocks N (exactly N blocks) or --precision PCT (rounds to a precision), not both")
    if args.blocks is not None or precision == 0:
        if getattr(args, "all_rounds", False):
            raise UsageError("--all-rounds goes with rounds to a precision; --blocks N and --precision 0 already give "
                             "every cell every round")
        if args.max_time is not None:
            raise UsageError("--max-time bounds the rounds to a precision; --blocks N and --precision 0 run a fixed count")
        return args.blocks or spec["blocks"], None, None
    budget = spec["ab_max_time_s" if command == "ab" else "max_time_s"]
    return spec["min_blocks"], precision or spec["precision_pct"], args.max_time or budget


def run(args, progress=None, on_update=None, own_signals: bool = True) -> int:
    """`fwbench run`; from Python (bench.lab.measure): `progress` replaces the stderr Progress, `on_update(data)` is
    called after every save of the results file, and `own_signals=False` leaves SIGTERM as the host set it."""
    import secrets
    import signal
    from datetime import datetime, timezone

    from bench import environment, registry, results, tasks
    from bench.run import timing
    from bench.run.progress import Progress
    t0 = time.perf_counter()                    # --max-time counts from here, the machine's busy check included
    spec = PROFILES[args.profile]
    if args.threads is not None and args.threads < 1:
        raise UsageError(f"--threads must be a positive integer, got {args.threads}")
    blocks, precision, max_time = plan(args, spec)
    if args.cell_timeout <= 0:
        raise UsageError(f"--cell-timeout must be a positive number of seconds, got {args.cell_timeout:g}")
    processes = getattr(args, "processes", 1)
    if processes < 1:
        raise UsageError(f"--processes must be a positive integer, got {processes}")
    if processes > 1 and args.aa:
        raise UsageError("give --aa (every cell again in a second set of workers, a record each) or --processes K "
                         "(one record per cell from K processes), not both")
    task_names = args.tasks or list(tasks.TASKS)
    devices = args.devices or ["cpu"] + (["gpu"] if registry.nvidia_gpu_present() else [])
    threads = args.threads or environment.physical_cores()
    cells = getattr(args, "cells", None) or make_cells(   # args.cells: pytest --benchmark's selection
        args.profile, task_names, args.impls, devices, sweep=getattr(args, "sweep", False) or None)
    # --aa: the same cells again in a second set of workers (same Python, same checkout), blocks paired
    # round by round exactly as the A/B gate pairs two environments
    sides = (Side(), Side("aa-copy")) if args.aa else process_sides(processes)
    now = datetime.now(timezone.utc)
    run_id = f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}"
    out = Path(args.out or f"runs/{run_id}.json")
    worker_env = dict(args.worker_env)
    command = (f"fwbench run --profile {args.profile} --tasks {','.join(task_names)}"
               + (f" --impls {','.join(args.impls)}" if args.impls else "")
               + f" --devices {','.join(devices)} --threads {threads} "
               + (f"--blocks {blocks}" if precision is None else f"--precision {precision:g} --max-time {max_time:g}")
               + (" --all-rounds" if args.all_rounds and precision is not None else "")
               + (" --aa" if args.aa else "") + (f" --processes {processes}" if processes > 1 else "")
               + (" --examples" if args.examples else "") + (" --sweep" if getattr(args, "sweep", False) else "")
               + "".join(f" --worker-env {k}={v}" for k, v in worker_env.items()) + f" --out {out}")
    load = environment.busy()                   # before any work of ours: what else runs on the machine
    warning = environment.busy_warning(load)
    if warning:
        sys.stderr.write(f"fwbench run: warning: {warning}. Wait until the machine is idle, or use fewer --threads.\n")
    data = {"schema": results.SCHEMA, "run_id": run_id, "created": now.isoformat(timespec="seconds"),
            "profile": args.profile, "command": command,
            "environment": environment.collect(threads, environment.thread_env(threads), args.machine, worker_env),
            "harness": {"overhead_s": timing.overhead(), "timer": timing.TIMER, "min_block_s": MIN_BLOCK_S,
                        "blocks": blocks, "warmup_s": spec["warmup_s"], "wall_s": 0.0, "interrupted": False,
                        "precision": None if precision is None else {
                            "target_pct": precision, "max_time_s": max_time, "min_blocks": blocks,
                            "rule": "rounds until every cell's 95% CI half-width <= target % of its median, or "
                                    "no time for another pair of rounds; " + (
                                        "every cell takes every round (--all-rounds)" if args.all_rounds else
                                        "cells that reached it drop out")},
                        "block_warm": f"max(1, n // {WARM_FRACTION}) untimed steps, and at least {WARM_S:g} s of them at "
                                      "the calibrated step time, before each timed block",
                        "idle_wait": "at each switch of worker, the runner waits until the last one is idle",
                        "processes": processes,
                        "worker_start": f"every worker started before the first cell is prepared, "
                                        f"{environment.physical_cores()} importing at a time (with the frameworks that "
                                        "run in it): an import_s may have run beside another import, on another core",
                        "compile_cache": "user's TORCHINDUCTOR_CACHE_DIR" if "TORCHINDUCTOR_CACHE_DIR" in os.environ
                        else "cold: torch.compile (inductor) starts each run with an empty cache folder"},
            "examples": {}, "results": []}
    data["environment"]["workers"] = {}
    data["environment"]["busy_at_start"] = load
    data["environment"]["device_env"] = {device: environment.device_env(device) for device in devices}

    def save(records):
        if processes > 1:
            records = merge_processes(records, processes)
        data["results"] = [{**{k: v for k, v in r.items() if k != "side"},
                            "variant": "aa-copy" if r["side"] == "aa-copy" else r["variant"]} for r in records]
        data["harness"]["wall_s"] = round(time.perf_counter() - t0, 3)
        results.write_atomic(out, data)

    def saved(records):
        save(records)
        if on_update is not None:
            on_update(data)

    progress = progress or Progress()
    progress.note(f"fwbench run {run_id}: {len(cells)} cells ({args.profile}), {threads} threads -> {out}")
    old = signal.signal(signal.SIGTERM, _raise_interrupt) if own_signals and _main_thread() else None
    done = precise(precision or 0, merged=processes > 1)
    until = None if precision is None else Until(done, blocks, t0 + max_time - QUIT_S, precision,
                                                  f"to ±{precision:g}% by {max_time:g} s", keep_all=args.all_rounds)
    try:
        records = run_cells(cells, sides, threads=threads, blocks=blocks, warmup_s=spec["warmup_s"], until=until,
                            cell_timeout=args.cell_timeout,
                            examples=data["examples"] if spec["examples"] or args.examples else None,
                            workers=data["environment"]["workers"], progress=progress, on_update=saved,
                            worker_env=worker_env, stats=data["harness"], order=getattr(args, "order", "interleaved"))
    except Interrupted as e:
        data["harness"]["interrupted"] = True
        save(e.records)
        sys.stderr.write(f"fwbench run: interrupted; finished cells kept in {out}\n")
        return 130
    finally:
        if old is not None:
            signal.signal(signal.SIGTERM, old)
    save(records)
    print_summary(data, out)
    return 1 if any(r["status"] == "failed" for r in data["results"]) else 0


def _main_thread() -> bool:
    import threading
    return threading.current_thread() is threading.main_thread()


def _raise_interrupt(signum, frame):
    """SIGTERM (a cancelled CI job) ends the run like Ctrl-C: finished cells are kept."""
    raise KeyboardInterrupt
