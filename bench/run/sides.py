"""The sides and rounds of a run: where workers come from, when rounds to a precision stop, and how the records
of one cell timed in several processes merge into one."""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[2]
FINISH_S = 0.08            # finishing a record after the rounds (trace count, statistics, freeing it): ~75 ms here
PENDING = "not finished: the run was still going, or was stopped, when this file was written"


@dataclass(frozen=True)
class Until:
    """Rounds to a precision: after `min_blocks` (even), every second round drops the cells for which
    `done({side label: samples})` holds; no new pair of rounds starts when it would end past `deadline`
    (a time.perf_counter() value). `target_pct`: the CI half-width asked of each record (recorded with it)."""

    done: Callable[[dict], bool]
    min_blocks: int
    deadline: float
    target_pct: float | None = None
    about: str = ""
    finish_s: float = FINISH_S     # per record, reserved before the deadline for finishing it after the rounds
    keep_all: bool = False         # --all-rounds: no cell drops out; every cell takes every round until all are done


def precise(target_pct: float, merged: bool = False) -> Callable[[dict], bool]:
    """The `Until.done` of `fwbench run --precision`: every side's 95% CI half-width <= target_pct of its median;
    `merged` (--processes): that of the per-round medians over the sides, the figure the record will carry."""
    from bench.run import timing
    if merged:
        return lambda samples: timing.precision_pct(timing.stats(per_round_median([*samples.values()]))) <= target_pct
    return lambda samples: all(timing.precision_pct(timing.stats(s)) <= target_pct for s in samples.values())


def precision_of(step: dict, target_pct: float | None) -> dict:
    """step.precision of a `timing.stats` dict: the 95% CI half-width reached (% of the median), the target, met."""
    from bench.run import timing
    reached = timing.precision_pct(step)
    return {"reached_pct": round(reached, 3) if reached != float("inf") else None, "target_pct": target_pct,
            "met": None if target_pct is None else reached <= target_pct}


def process_sides(k: int) -> tuple:
    """The sides of `fwbench run --processes K`: K sets of workers of the same Python and checkout."""
    return (Side(),) + tuple(Side(f"process{j}") for j in range(2, k + 1))


def per_round_median(samples: list) -> list:
    """Round r of one cell timed in several processes: the median of their round-r samples (the middle process of
    three; the mean of two). Rounds pair by index, and an interrupted process may have one round fewer."""
    import statistics
    return [statistics.median(s[r] for s in samples) for r in range(min(len(s) for s in samples))]


def merge_processes(records: list, k: int) -> list:
    """One record per cell from the records of its `k` processes (consecutive, as run_cells returns them): failed if
    any failed, skipped if all were; else step from the per-round medians, with each process's median, block and
    IQR in step.processes and max/min of their medians in step.process_spread, the most short blocks of one
    process; the phases' medians; the first process's gradient check, memory and build traces, the steady-state
    traces of all. With one process: the records as they are."""
    import statistics
    from bench.run import timing
    if k == 1:
        return list(records)
    out = []
    for j in range(0, len(records), k):
        group = records[j:j + k]
        rec = dict(group[0])
        bad = [(n, r) for n, r in enumerate(group, 1) if r["status"] == "failed"]
        if bad:
            rec.update(status="failed", reason="; ".join(dict.fromkeys(
                r["reason"] if r["reason"] == PENDING else f"process {n}: {r['reason']}" for n, r in bad)))
            out.append(rec)
            continue
        if any(r["status"] != "ok" for r in group):
            out.append(rec)
            continue
        steps = [r["step"] for r in group]
        step = {**timing.stats(per_round_median([s["samples_s"] for s in steps])), "block": steps[0]["block"],
                "min_block_s": steps[0]["min_block_s"], "short_blocks": max(s["short_blocks"] for s in steps),
                "processes": [{"median_s": s["median_s"], "block": s["block"], "iqr_s": s["iqr_s"]} for s in steps]}
        medians = [s["median_s"] for s in steps]
        step["process_spread"] = max(medians) / min(medians)
        step["precision"] = precision_of(step, steps[0]["precision"]["target_pct"])
        phases = {key: statistics.median(r["phases"][key] for r in group) for key in group[0]["phases"]}
        reasons = [r["reason"] for r in group if r.get("reason")]
        rec.update(step=step, phases=phases, gflops=rec["flops"] / step["median_s"] / 1e9 if rec["flops"] else None,
                   traces={**rec["traces"], "steady": sum(r["traces"]["steady"] for r in group)},
                   reason=reasons[0] if reasons else None)
        out.append(rec)
    return out


@dataclass(frozen=True)
class Side:
    """Where workers come from: a label, the Python that runs them, the project root they import from."""

    label: str = "main"
    python: str = sys.executable
    root: str = str(ROOT)
