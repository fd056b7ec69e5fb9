"""`fwbench run`: time cells in isolated worker processes, steady-state blocks interleaved round-robin.

The main process imports no framework. `run_cells` is the scheduler (also used by the A/B gate); `run`
builds the cells of a profile, writes the results file after every finished cell, and sets the exit code.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from bench.errors import UsageError
from bench.run.timing import MIN_BLOCK_S
from bench.run.worker import PROTOCOL, Proc, WorkerError

ROOT = Path(__file__).resolve().parents[2]
WARM_FRACTION = 2          # before each timed block, n // 2 (>= 1) untimed steps: it starts hot, as in a user's loop
WARM_S = 0.1               # ... and at least this long: a worker that sat idle while the others ran is slow when it
                           # resumes (jax/jit single_layer 1.58x its steady step after 20 ms of warm steps, 1.22x after
                           # 100 ms; docs/measuring.md, reports/evidence/warmup/)
SALVAGE_MIN_BLOCKS = 3     # an interrupted cell with at least this many blocks is kept (status ok, reason says so)
IMPORT_TIMEOUT_S = 120.0   # a framework import may take this long even when --cell-timeout is shorter
FINISH_S = 0.08            # finishing a record after the rounds (trace count, statistics, freeing it): ~75 ms here
QUIT_S = 0.2               # stopping the workers at the end (Proc.stop), reserved before --max-time
PENDING = "not finished: the run was still going, or was stopped, when this file was written"


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during `run_cells`: `records` holds what was finished, the rest marked."""

    def __init__(self, records):
        super().__init__("interrupted")
        self.records = records


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


def _label(rec) -> str:
    from bench.results import size_label
    side = f" [{rec['side']}]" if rec.get("side") not in (None, "main") else ""
    variant = f" ({rec['variant']})" if rec.get("variant") else ""
    return f"{rec['task']} {size_label(rec['size'])} {rec['impl']} {rec['device']}{variant}{side}"


class _Scheduler:
    """The state of one `run_cells` call: records, per-record progress, the live workers."""

    def __init__(self, cells, sides, threads, blocks, warmup_s, cell_timeout, seed, progress, on_update, workers,
                 worker_env=None, quiesce=True, until=None, at_once=1, order="interleaved"):
        from bench import environment, registry, tasks
        from bench.run.progress import Progress
        self.sides, self.threads, self.blocks, self.warmup_s = sides, threads, blocks, warmup_s
        self.timeout, self.seed, self.workers = cell_timeout, seed, workers
        self.progress, self.update = progress or Progress(), on_update or (lambda records: None)
        self.env = {**environment.thread_env(threads), **(worker_env or {})}
        self.quiesce, self.last, self.waits, self.at_once, self.starting = quiesce, None, [], max(1, at_once), []
        self.until, self.clock, self.stopped = until, time.perf_counter, None
        self.order = order
        self.cache = None if "TORCHINDUCTOR_CACHE_DIR" in os.environ else tempfile.mkdtemp(prefix="fwbench-cache-")
        self.records, self.state, self.procs, self.broken = [], [], {}, {}
        for c in cells:
            for side in sides:
                self.records.append({
                    "task": c["task"], "impl": c["impl"], "device": c["device"], "size": c["size"],
                    "variant": c.get("variant"), "side": side.label, "status": "failed", "reason": PENDING,
                    "phases": None, "step": None, "traces": None, "retrace": None, "gradcheck": None,
                    "memory": None, "harness_s": None, "flops": tasks.get(c["task"]).flops(c["size"]), "gflops": None})
                self.state.append({"cell": c, "side": side, "key": (side.label, registry.worker_of(c["impl"].split("/")[0]), c["device"]),
                                   "phase": "pending", "samples": []})

    def fail(self, i, reason):
        """Record `i` failed for `reason`."""
        self.records[i].update(status="failed", reason=reason)
        self.state[i]["phase"] = "done"
        self.progress.note(f"{_label(self.records[i])}: FAILED: {reason}")

    def lost(self, key, reason):
        """Worker `key` is gone: fail its cells that were past prepare; a later cell starts a fresh one."""
        proc = self.procs.pop(key, None)
        if proc is not None:
            proc.kill()
        for i, st in enumerate(self.state):
            if st["key"] == key and st["phase"] in ("steady", "finish"):
                self.fail(i, reason)

    def switch_to(self, key):
        """Before worker `key` runs: if another worker ran last, wait until it is idle (its threads stop
        spinning), so that it does not steal a core from this one. Nothing of either runtime is changed."""
        last, self.last = self.last, key
        if self.quiesce and last not in (None, key) and last in self.procs:
            from bench.run.quiesce import wait_idle
            self.waits.append(wait_idle(self.procs[last].p.pid))

    def call(self, st, req, timeout):
        """Send `req` to this record's worker, after the previous worker went idle."""
        self.switch_to(st["key"])
        return st["proc"].call(req, timeout)

    def launch(self, key, side, guests=()):
        """A new worker process for `key` that also imports `guests` (its hello not awaited), or None: key broken."""
        from bench import environment
        env = {**self.env, **environment.device_env(key[2])}    # the worker sees its own device only
        if self.cache:                    # cold compile caches, one folder per side
            env["TORCHINDUCTOR_CACHE_DIR"] = os.path.join(self.cache, f"side{self.sides.index(side)}")
        try:
            proc = Proc(side.python, side.root, key[1], key[2], self.threads, env,
                        max(self.timeout, IMPORT_TIMEOUT_S), guests, wait=False)
        except WorkerError as e:          # a worker that cannot even import will not do better next time
            self.broken[key] = str(e)
            return None
        self.starting.append(proc)
        return proc

    def adopt(self, key, proc):
        """Wait for `proc`'s hello; keep it as worker `key` if it is ready (or says why its framework is skipped)
        and speaks this protocol, else mark `key` broken."""
        try:
            hello = proc.wait_hello()
        except WorkerError as e:
            self.broken[key] = str(e)
            return
        finally:
            self.starting.remove(proc)
        if hello.get("ready") and hello.get("protocol") != PROTOCOL:
            self.broken[key] = f"{key[1]} worker of side {key[0]} speaks another protocol (an older fwbench?)"
        elif not hello.get("ready") and not hello.get("skip"):
            self.broken[key] = f"{key[1]} worker did not start: {hello.get('error')}"
        if key in self.broken:
            proc.close()
            return
        self.procs[key] = proc
        if self.workers is not None and hello.get("ready"):
            name = "/".join(key[1:]) + ("" if key[0] == self.sides[0].label else f"@{key[0]}")
            self.workers.setdefault(name, {k: hello.get(k) for k in ("version", "import_s", "blas")})

    def start_workers(self):
        """Start every worker the records need before the first cell is prepared, `at_once` of them importing at
        a time, each importing the guest frameworks that will run in it: the imports (one thread each, mostly)
        overlap instead of adding up, and nothing is timed meanwhile but the imports themselves."""
        need = {}
        for st in self.state:
            key = st["key"]
            if key in self.procs or key in self.broken or self.skip_reason(st) is not None:
                continue
            guests = need.setdefault(key, (st["side"], []))[1]
            fw = st["cell"]["impl"].split("/")[0]
            if fw != key[1] and fw not in guests:
                guests.append(fw)
        if not need:
            return
        t0 = time.perf_counter()
        self.progress.phase(f"{len(need)} workers", f"starting, importing the frameworks ({self.at_once} at a time)")
        waiting = []
        for key, (side, guests) in need.items():
            while len(waiting) >= self.at_once:
                self.adopt(*waiting.pop(0))
            proc = self.launch(key, side, guests)
            if proc is not None:
                waiting.append((key, proc))
        for key, proc in waiting:
            self.adopt(key, proc)
        if self.quiesce:                  # the last imports' threads settle before the first cell is prepared
            from bench.run.quiesce import wait_idle
            for key in need:
                if key in self.procs:
                    self.waits.append(wait_idle(self.procs[key].p.pid))
        self.progress.note(f"{len(need)} workers started in {time.perf_counter() - t0:.1f} s, {self.at_once} at a "
                           "time: " + ", ".join(f"{'/'.join(k[1:])} {self.procs[k].hello.get('import_s') or 0:.2f} s"
                                                for k in need if k in self.procs))

    def worker(self, st):
        """The live worker for this record's (side, framework, device), started if needed (after a lost one)."""
        key = st["key"]
        if key not in self.procs and key not in self.broken:
            self.switch_to(key)
            self.progress.phase(f"{key[1]} worker ({key[2]}, side {key[0]})", "starting, importing the framework")
            proc = self.launch(key, st["side"])
            if proc is not None:
                self.adopt(key, proc)
        if key in self.broken:
            raise WorkerError(self.broken[key])
        return self.procs[key]

    def skip_reason(self, st):
        """Why this record cannot run, known without a worker (this interpreter: bench.api.skip_reason)."""
        from bench import registry
        c, side = st["cell"], st["side"]
        if side.python == sys.executable and Path(side.root).resolve() == ROOT:
            return registry.skip_reason(c["impl"], c["device"]) or registry.task_skip_reason(c["impl"], c["task"])
        if c["device"] == "gpu" and not registry.nvidia_gpu_present():
            return "no GPU on this machine (no NVIDIA driver found)"
        return None

    def prepare(self, i):
        """Setup, build, first step, gradcheck, warm-up and calibration of record `i`, in its worker."""
        rec, st = self.records[i], self.state[i]
        c, t0 = st["cell"], time.perf_counter()
        reason = self.skip_reason(st)
        try:
            if reason is None:
                proc = self.worker(st)
                reason = proc.hello.get("skip")       # the framework cannot be imported by this side
            if reason is None:
                self.progress.phase(_label(rec), "setup, build, first step, gradcheck, calibration")
                st["proc"] = proc
                reply = self.call(st, {"op": "prepare", "cell": i, "task": c["task"], "impl": c["impl"],
                                   "size": c["size"], "seed": self.seed, "warmup_s": self.warmup_s,
                                   "min_block_s": MIN_BLOCK_S[c["device"]]}, self.timeout)
                reason = reply.get("skip")
        except WorkerError as e:
            self.lost(st["key"], str(e))
            return self.fail(i, str(e))
        seconds = time.perf_counter() - t0
        if reason is not None:
            rec.update(status="skipped", reason=reason)
            st["phase"] = "done"
            return self.progress.prepared(_label(rec), seconds, f"skipped: {reason}")
        if "error" in reply:
            return self.fail(i, reply["error"])
        ph, hs = reply["phases"], reply["harness_s"]
        if "measured" in reply:                   # else a worker of an older revision judged its gradients itself
            t = time.perf_counter()
            reply["gradcheck"] = judged(c, self.seed, reply["measured"])
            hs["gradcheck_s"] += time.perf_counter() - t
        rec.update(phases={"import_s": proc.hello["import_s"], **ph}, gradcheck=reply["gradcheck"],
                   traces={"build": reply["traces_build"], "steady": None}, memory=reply["memory"], harness_s=hs)
        st.update(phase="steady", n=reply["block"], block_s=reply["block_s"], proc=proc)
        self.progress.prepared(_label(rec), seconds, f"{seconds:.2f} s: setup {ph['setup_s']:.3g} s, build "
                               f"{ph['build_s']:.3g} s, first step {ph['first_step_s']:.3g} s, gradcheck "
                               f"{hs['gradcheck_s']:.3g} s, calibration {hs['calibrate_s']:.3g} s: "
                               f"{reply['block']} steps per block")

    def block(self, i, r):
        """One steady-state block of record `i` (round `r`)."""
        st = self.state[i]
        of = f"/{self.blocks}" if self.until is None else ""
        self.progress.phase(_label(self.records[i]), f"steady block {r + 1}{of}")
        try:
            reply = self.call(st, {"op": "block", "cell": i, "warm": warm_steps(st["n"], st["block_s"])},
                              min(self.timeout, max(30.0, 50 * st["block_s"])))
        except WorkerError as e:
            return self.lost(st["key"], str(e))
        if "error" in reply:
            return self.fail(i, f"during steady state: {reply['error']}")
        st["samples"].append(reply["t"] / st["n"])

    def finish(self, i):
        """Steady-state trace count, the retrace measurement if asked, statistics: record `i` is ok."""
        rec, st = self.records[i], self.state[i]
        c = st["cell"]
        self.progress.phase(_label(rec), "finish" + (" and retrace at a new size" if c.get("retrace") else ""))
        st["phase"] = "finish"
        try:
            reply = self.call(st, {"op": "finish", "cell": i, "task": c["task"], "impl": c["impl"],
                                     "seed": self.seed, "retrace": c.get("retrace")}, self.timeout)
        except WorkerError as e:
            return self.lost(st["key"], str(e))
        if "error" in reply:
            return self.fail(i, f"after steady state: {reply['error']}")
        rec["traces"]["steady"] = reply["traces_steady"]
        if reply.get("retrace"):
            from bench import registry
            rec["retrace"] = {**reply["retrace"], "how": registry.retrace_how(c["impl"])}
        self.ok(i)

    def ok(self, i, reason=None):
        """Statistics of record `i`'s samples; status ok, unless it broke a promise (`broken`): then failed."""
        from bench.run import timing
        rec, st = self.records[i], self.state[i]
        minimum = MIN_BLOCK_S[rec["device"]]
        rec["step"] = {**timing.stats(st["samples"]), "block": st["n"], "min_block_s": minimum,
                       "short_blocks": sum(s * st["n"] < minimum for s in st["samples"])}
        rec["step"]["precision"] = precision_of(rec["step"], self.until.target_pct if self.until else None)
        rec["gflops"] = rec["flops"] / rec["step"]["median_s"] / 1e9 if rec["flops"] else None
        why = broken(rec)
        rec.update(status="failed" if why else "ok", reason="; ".join(filter(None, [why, reason])) or None)
        st["phase"] = "done"
        if why:
            self.progress.note(f"{_label(rec)}: FAILED: {why}")

    def examples(self, cells, into):
        """The worked examples from the first side's CPU workers, into the dict `into`."""
        from bench.registry import worker_of
        for (label, fw, device), proc in list(self.procs.items()):
            impls = sorted({c["impl"] for c in cells if worker_of(c["impl"].split("/")[0]) == fw})
            if label == self.sides[0].label and device == "cpu":
                self.progress.phase(f"{fw} worker", "worked examples")
                try:
                    self.switch_to((label, fw, device))
                    into.update(proc.call({"op": "examples", "impls": impls}, self.timeout).get("examples", {}))
                except WorkerError as e:
                    self.progress.note(f"worked examples of {fw}: {e}")

    def interrupted(self):
        """Ctrl-C: keep cells with enough blocks, mark the rest, stop the workers."""
        for i, st in enumerate(self.state):
            if st["phase"] in ("steady", "finish") and len(st["samples"]) >= SALVAGE_MIN_BLOCKS:
                of = f" of {self.blocks}" if self.until is None else ""
                self.ok(i, reason=f"interrupted after {len(st['samples'])}{of} blocks")
            elif st["phase"] != "done":
                self.records[i].update(status="failed", reason="interrupted before this cell finished")
        for proc in [*self.procs.values(), *self.starting]:
            proc.kill()

    def round_order(self, active):
        """The records of a round grouped by worker (a switch of worker costs a wait for the last one to go
        idle): framework and device in order of first appearance, the sides of one framework next to each
        other, records in cell order inside a group."""
        first = {}
        for i in active:
            key = self.state[i]["key"]
            first.setdefault(key[1:], len(first))
        side = {s.label: k for k, s in enumerate(self.sides)}
        return sorted(active, key=lambda i: (first[self.state[i]["key"][1:]], side[self.state[i]["key"][0]], i))

    def quiesce_summary(self) -> dict:
        """How long the runner waited for idle workers at switches."""
        waited = [w for w, _ in self.waits]
        return {"switches": len(waited), "total_s": round(sum(waited), 3),
                "max_s": round(max(waited, default=0.0), 4), "capped": sum(c for _, c in self.waits)}

    def needed(self, active) -> list:
        """The records of `active` whose cell is not done yet (Until.done over the cell's live sides)."""
        k, groups = len(self.sides), {}
        for i in active:
            groups.setdefault(i // k, []).append(i)
        out = []
        for group in groups.values():
            if not self.until.done({self.state[i]["side"].label: self.state[i]["samples"] for i in group}):
                out += group
        return [i for i in active if i in set(out)]

    def more(self, r, active) -> list:
        """The records that get round `r`: all of `active` (fixed count, or inside a pair of rounds), those
        still short of the target, or none (count reached, all done, or the next pair would pass the deadline)."""
        if self.until is None:
            return active if r < self.blocks else []
        if r < self.until.min_blocks or r % 2:
            return active
        left = self.needed(active)
        if not left:
            self.stopped = "every cell reached its target"
            return []
        going = active if self.until.keep_all else left
        per_block = [self.state[i]["wall"] / max(1, len(self.state[i]["samples"])) for i in going]
        if self.clock() + 2 * sum(per_block) + self.until.finish_s * len(active) > self.until.deadline:
            self.stopped = f"time budget: {len(left)} record(s) still short of the target"
            return []
        return going

    def rounds(self):
        """The steady-state rounds, interleaved: every live record of `more(r)`, grouped by worker, in order
        when r is even and reversed when odd."""
        active, r = self.round_order([i for i, st in enumerate(self.state) if st["phase"] == "steady"]), 0
        for i in active:
            self.state[i]["wall"] = 0.0
        if self.order == "sequential":    # every block of one record, then the next (pytest's own order)
            for i in active:
                for r in range(self.blocks):
                    if self.state[i]["phase"] == "steady":
                        self.block(i, r)
                self.update(self.records)
            return
        while True:
            active = self.more(r, [i for i in active if self.state[i]["phase"] == "steady"])
            if not active:
                return
            t0 = self.clock()
            for i in (active if r % 2 == 0 else active[::-1]):
                if self.state[i]["phase"] == "steady":
                    t = self.clock()
                    self.block(i, r)
                    self.state[i]["wall"] += self.clock() - t
            total = self.blocks if self.until is None else None
            self.progress.round(r + 1, total, self.clock() - t0,
                                "" if total else f"{len(active)} record(s) in this round, {self.until.about}")
            self.update(self.records)
            r += 1

    def run(self, cells, examples):
        """Prepare every record, interleave the steady-state rounds, finish; the records."""
        until = self.until
        self.progress.start(len(self.records), self.blocks if until is None else until.min_blocks,
                            deadline=None if until is None else until.deadline)
        try:
            self.start_workers()
            for i in range(len(self.records)):
                self.prepare(i)
                self.update(self.records)
            self.rounds()
            for i in self.round_order(list(range(len(self.records)))):
                if self.state[i]["phase"] == "steady":
                    self.finish(i)
                    self.update(self.records)
            if examples is not None:
                self.examples(cells, examples)
        except KeyboardInterrupt:
            self.interrupted()
            self.update(self.records)
            raise Interrupted(self.records) from None
        finally:
            self.progress.stop()
            for proc in [*self.procs.values(), *self.starting]:   # at once: every result is in; a framework's
                proc.stop()                                          # teardown takes ~1 s
            if self.cache:
                shutil.rmtree(self.cache, ignore_errors=True)
        return self.records


def judged(cell: dict, seed: int, measured: dict) -> dict:
    """The gradient check of a worker's `measured` loss, gradients and params, against the float64 reference
    computed here (on the cell's inputs, drawn again from the seed), not in the worker (see worker._measured)."""
    from bench import gradcheck, tasks
    from bench.run.worker import api_size, unpack
    _, size, inputs, _ = tasks.resolve(cell["task"], seed=seed, **api_size(cell["size"]))
    return gradcheck.judge(cell["task"], size, inputs, unpack(measured["params"]), measured["loss"],
                           unpack(measured["grads"]))


def warm_steps(n: int, block_s: float) -> int:
    """Untimed steps before a timed block of `n` steps that took `block_s` at calibration: n // WARM_FRACTION, and
    at least WARM_S of them. Counted in steps, so that a worker of an older revision (fwbench ab --base-rev), which
    knows only a step count, warms up exactly as long."""
    return max(1, n // WARM_FRACTION, math.ceil(WARM_S * n / block_s - 1e-9) if block_s > 0 else 1)


def broken(rec) -> str | None:
    """Why a measured record breaks what README promises (gradients agree, no steady-state recompile), or None."""
    grad, traces = rec.get("gradcheck"), rec.get("traces") or {}
    why = []
    if grad is not None and not grad["ok"]:
        why.append(f"gradient check failed: max relative error {grad['max_rel_err']:.2g}, loss "
                   f"{grad.get('loss_rel_err', 0):.2g} (tolerance {grad['tol']:.2g})")
    if traces.get("steady"):
        why.append(f"{traces['steady']} recompilation(s) during the steady state (must be 0)")
    return "; ".join(why) or None


def run_cells(cells, sides=(Side(),), *, threads: int, blocks: int, warmup_s: float = 0.1,
              cell_timeout: float = 600.0, seed: int = 0, examples: dict | None = None,
              workers: dict | None = None, progress=None, on_update=None, worker_env: dict | None = None,
              quiesce: bool = True, stats: dict | None = None, until: Until | None = None,
              at_once: int | None = None, order: str = "interleaved") -> list[dict]:
    """Time `cells` on every side, steady-state blocks interleaved round-robin; one record per (cell, side).

    cells:    dicts {"task", "impl", "device", "size": {every knob, JSON types}, "variant": None | str,
              "retrace": {size} | None (graph modes: build + first step at this new size, same worker)}
    sides:    Side(label, python, root) each. A side's workers run `python -m bench.run.worker` with that
              Python, cwd and PYTHONPATH = root; one worker per (side, framework, device), kept for the run.
    threads:  the thread count of every framework (environment before import, then core.set_threads); the
              only thing of the frameworks' runtime the harness sets.
    worker_env: extra environment for every worker (the user's --worker-env; recorded by the caller).
    at_once:  workers started (importing their framework) at the same time, before any cell is prepared (default:
              the physical cores); a worker also imports at start the frameworks that declare they run in it
              (registry.worker_of). A worker started again after a lost one starts alone, when its next cell needs it.
    blocks:   steady-state blocks per cell. Every record is first prepared, one at a time (setup, build,
              first step, gradcheck, warm-up, calibration to MIN_BLOCK_S); then round r times one block of
              every record, grouped by worker, in order when r is even and reversed when odd; each block
              follows n // WARM_FRACTION untimed steps, and at least WARM_S of them. Whenever the next request
              goes to another worker than the last one, the runner first waits until the last one is idle
              (quiesce=True; see bench.run.quiesce), so its spinning thread pools cannot steal a core. samples_s[r] of every record
              comes from round r: pair records (A/A copies, A/B sides) by index for per-round ratios.
    until:    None (exactly `blocks` rounds), or an Until: rounds to a precision. Every record gets at least
              until.min_blocks; then, every second round, a cell (all its sides together) for which
              until.done holds drops out of later rounds, and no new pair of rounds starts that would end
              past until.deadline (estimated from each record's mean wall time per block, plus the time per
              record (until.finish_s) for finishing them: the whole run stays in its budget). The records of
              one cell stay in the same rounds, so samples_s[k] of a cell's sides still pair by index
              (not across cells once some have dropped out). step.precision records the CI half-width
              reached, the target and whether it was met.
              Use an even count: of two adjacent blocks the second tends to run a few % faster here,
              and alternating directions cancels that only when each goes first equally often.
    order:    "interleaved" (the rounds above) or "sequential": with a fixed count, every block of one record, then
              the next record's (records grouped by worker as in a round).
    examples: a dict to fill with bench.examples.compute(impl) from the first side's CPU workers, or None.
    workers:  a dict to fill with each worker's framework version, import_s and threadpoolctl (BLAS) info,
              keyed "torch/cpu" (first side) or "torch/cpu@label" (other sides), or None.
    progress: a bench.run.progress.Progress; on_update(records) is called after every change worth saving.
    stats:    a dict to fill with the runner's own bookkeeping ("quiesce": waits at switches of worker).
    Returns the records, in cell order and side order within a cell; each has the results-file cell fields
    plus "side" (the side's label). A worker that dies or exceeds cell_timeout (per request; its import
    gets at least IMPORT_TIMEOUT_S) fails only its own unfinished cells, with the reason; a later cell of
    that framework gets a fresh worker (not after a failed import). Ctrl-C raises Interrupted
    (a KeyboardInterrupt) carrying the records: cells with >= 3 blocks kept (ok, the reason says how many
    blocks), the rest failed with the reason "interrupted".
    """
    if order not in ("interleaved", "sequential") or (order == "sequential" and until is not None):
        raise ValueError(f"order must be 'interleaved', or 'sequential' with a fixed block count, got {order!r}")
    labels = [side.label for side in sides]
    if not labels or len(set(labels)) != len(labels):
        raise ValueError(f"sides need distinct labels, got {labels}")
    if at_once is None:
        from bench import environment
        at_once = environment.physical_cores()
    sched = _Scheduler(cells, sides, threads, blocks, warmup_s, cell_timeout, seed, progress, on_update, workers,
                       worker_env, quiesce, until, at_once, order)
    try:
        return sched.run(cells, examples)
    finally:
        if stats is not None:
            stats["quiesce"] = sched.quiesce_summary()
            if until is not None:
                stats["stopped"] = sched.stopped or "interrupted or failed before the target"


# ---------------------------------------------------------------- profiles and the `run` subcommand
# blocks: the fixed count (--precision 0, verify, pytest --benchmark); otherwise rounds go on from min_blocks until
# every cell's 95% CI is within ±precision_pct of its median or the run's wall time reaches max_time_s (ab: its own)
PROFILES = {
    "quick": {"blocks": 12, "min_blocks": 6, "precision_pct": 5.0, "max_time_s": 60.0, "ab_max_time_s": 300.0,
              "warmup_s": 0.1, "retrace": False, "sweep": False, "examples": False,
              "about": "default sizes, the implementations and tasks their folders declare quick (not torch/compile); "
                       "rounds until each cell's 95% CI is within ±5% or the run reaches 60 s (at least 6 blocks per cell)"},
    "full": {"blocks": 16, "min_blocks": 16, "precision_pct": 2.0, "max_time_s": 900.0, "ab_max_time_s": 1800.0,
             "warmup_s": 0.2, "retrace": True, "sweep": True, "examples": True,
             "about": "every implementation, size sweeps, retrace cost of the graph modes, the worked examples; "
                      "rounds until each cell's 95% CI is within ±2% or the run reaches 15 min (at least 16 blocks)"},
    "smoke": {"blocks": 4, "min_blocks": 4, "precision_pct": 50.0, "max_time_s": 20.0, "ab_max_time_s": 60.0,
              "warmup_s": 0.02, "retrace": False, "sweep": False, "examples": False,
              "about": "a check that everything runs, not a measurement (CI runs the lecture notebook with it): "
                       "the quick cells, at least 4 blocks, rounds until ±50% or 20 s"},
}
SWEEPS = {"elementwise": [{"shape": (3, 4 ** k)} for k in range(1, 7)],          # 3x4 ... 3x4096
          "single_layer": [{"n": 64 * 4 ** k} for k in range(6)],               # 64 ... 65536
          "mlp": [{}],
          "cnn": [{"batch": 4 ** k} for k in range(5)]}                         # 1 ... 256
RETRACE = {"elementwise": {"shape": (3, 2)}, "single_layer": {"n": 32}, "mlp": {"n": 250}, "cnn": {"batch": 32}}


def canonical(task: str, size: dict) -> dict:
    """Every knob of `task` at `size` (defaults filled in), as JSON types."""
    from bench import tasks
    full = {**tasks.get(task).defaults, **size}
    return {k: list(v) if isinstance(v, tuple) else v for k, v in full.items()}


def make_cells(profile: str, task_names, impls, devices, sweep: bool | None = None) -> list[dict]:
    """The cells of a run: task x size x implementation x device, in that order. `impls` None: the profile's own
    (quick: those whose folders declare them quick enough, on the tasks they declare); `sweep`: the SWEEPS sizes
    (None: as the profile says)."""
    from bench import registry
    spec = PROFILES[profile]
    if impls is None:
        impls = list(registry.IMPLS) if profile == "full" else registry.quick_impls()
        return [c for c in make_cells(profile, task_names, impls, devices, sweep)
                if profile == "full" or registry.in_quick(c["impl"], c["task"])]
    cells = []
    for task in task_names:
        default = canonical(task, {})
        for size in (SWEEPS[task] if (spec["sweep"] if sweep is None else sweep) else [{}]):
            size = canonical(task, size)
            for impl in impls:
                if impl in registry.IMPLS and registry.task_skip_reason(impl, task):
                    continue        # a task its folder declares it does not do: not a cell (fwbench list says so)
                for device in devices:
                    retrace = spec["retrace"] and registry.retrace_how(impl) is not None and size == default
                    cell = {"task": task, "impl": impl, "device": device, "size": size, "variant": None,
                            "retrace": canonical(task, RETRACE[task]) if retrace else None}
                    cells.append(cell)
    if not cells and task_names and impls:
        raise UsageError(f"{', '.join(impls)} do not do {', '.join(task_names)} (see fwbench list)")
    return cells


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


def print_summary(data: dict, out) -> None:
    """A table of the cells, the A/A agreement when there are copies, and where the file went."""
    import statistics
    from rich.console import Console
    from rich.table import Table
    from bench.results import size_label
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 150)
    table = Table(title=f"fwbench run {data['run_id']} ({data['profile']}): per-step medians")
    for col in ("task", "size", "impl", "device", "median", "95% CI", "±CI", "IQR/med", "blocks", "build",
                "first step"):
        table.add_column(col, justify="right" if col not in ("task", "size", "impl", "device") else "left")
    pairs, bad_grads, other, missed = {}, [], {}, []
    for r in data["results"]:
        name = r["impl"] + (f" ({r['variant']})" if r.get("variant") else "")
        head = (r["task"], size_label(r["size"]), name, r["device"])
        if r["status"] != "ok":
            other.setdefault((r["status"], r["reason"]), []).append(" ".join(head[::2]))
            if r["status"] == "failed":
                table.add_row(*head, "FAILED", "", "", "", "", "", "")
            continue
        s, ph = r["step"], r["phases"]
        prec = precision_text(s)
        if prec.endswith("MISSED"):
            missed.append(" ".join(head[::2]))
        table.add_row(*head, _fmt_s(s["median_s"]), f"{_fmt_s(s['ci95_s'][0])}–{_fmt_s(s['ci95_s'][1])}", prec,
                      f"{s['iqr_s'] / s['median_s']:.0%}" + (" noisy" if s["noisy"] else ""),
                      f"{len(s['samples_s'])}×{s['block']}", _fmt_s(ph["build_s"]), _fmt_s(ph["first_step_s"]))
        pairs.setdefault((r["task"], json.dumps(r["size"]), r["impl"], r["device"]), []).append(s["samples_s"])
        if r.get("gradcheck") and not r["gradcheck"]["ok"]:
            bad_grads.append(f"{r['task']} {r['impl']}")
    console.print(table)
    for (status, reason), names in other.items():
        console.print(f"{status} ({len(names)}): {reason} [{', '.join(names[:4])}{', ...' if len(names) > 4 else ''}]")
    aa = aa_ratios(pairs.values())
    if aa:
        paired, of_medians = zip(*aa)
        within = sum(abs(x - 1) <= 0.02 for x in paired)
        console.print(f"A/A (aa-copy / cell, {len(aa)} pairs): median of per-round ratios {statistics.median(paired):.4f}"
                      f" (range {min(paired):.3f}–{max(paired):.3f}, {within} of {len(aa)} within ±2%); ratio of "
                      f"medians {statistics.median(of_medians):.4f} (range {min(of_medians):.3f}–{max(of_medians):.3f})")
    spread = sorted(((r["step"]["process_spread"], f"{r['task']} {r['impl']}") for r in data["results"]
                     if r["status"] == "ok" and r["step"].get("process_spread")), reverse=True)
    if spread:
        console.print(f"processes: {data['harness']['processes']} per cell; slowest/fastest process median: "
                      f"{statistics.median(x for x, _ in spread):.3f} (median over cells), widest "
                      + ", ".join(f"{name} {x:.2f}" for x, name in spread[:3]))
    if bad_grads:
        console.print(f"gradcheck disagreement in: {', '.join(bad_grads)}")
    short = [r for r in data["results"] if (r.get("step") or {}).get("short_blocks")]
    if short:
        console.print(f"{len(short)} cell(s) had steady-state blocks shorter than the minimum (step.short_blocks): "
                      + ", ".join(f"{r['task']} {r['impl']} ({r['step']['short_blocks']} of "
                                  f"{len(r['step']['samples_s'])})" for r in short[:6]) + (", ..." if len(short) > 6 else ""))
    h = data["harness"]
    if h.get("precision"):
        pr, ok = h["precision"], sum(r["status"] == "ok" for r in data["results"])
        console.print(f"precision: {ok - len(missed)} of {ok} cells within ±{pr['target_pct']:g}% (95% CI half-width "
                      f"/ median), budget {pr['max_time_s']:g} s; stopped: {h.get('stopped', '?')}"
                      + (f"; MISSED the target: {', '.join(missed[:6])}{', ...' if len(missed) > 6 else ''}"
                         if missed else ""))
    counts = {s: sum(r["status"] == s for r in data["results"]) for s in ("ok", "skipped", "failed")}
    console.print(f"{counts['ok']} ok, {counts['skipped']} skipped, {counts['failed']} failed; wall {h['wall_s']:.1f} s; "
                  f"harness overhead {h['overhead_s'] * 1e9:.0f} ns/step; results: {out}")


def precision_text(step: dict) -> str:
    """'±3.1%' (the 95% CI half-width reached), '±7.2% > 5% MISSED' when it missed its target."""
    pr = step.get("precision") or {}
    if pr.get("reached_pct") is None:
        return "–"
    x = pr["reached_pct"]
    return (f"±{x:.0f}%" if x >= 10 else f"±{x:.2g}%") + (f" > {pr['target_pct']:g}% MISSED"
                                                         if pr.get("met") is False else "")


def aa_ratios(pairs) -> list[tuple[float, float]]:
    """Per A/A pair [samples of the cell, samples of its copy]: (median of the per-round ratios copy/cell,
    ratio of the two medians). Rounds pair by index: both blocks of round r ran back to back."""
    import statistics
    out = []
    for pair in pairs:
        if len(pair) == 2 and len(pair[0]) == len(pair[1]) and pair[0]:
            a, b = pair
            out.append((statistics.median(y / x for x, y in zip(a, b)), statistics.median(b) / statistics.median(a)))
    return out


def _fmt_s(s) -> str:
    """Seconds with a unit that fits: 6.1 µs, 46.2 ms, 3.51 s."""
    if s is None:
        return "–"
    for unit, scale in (("s", 1), ("ms", 1e-3), ("µs", 1e-6)):
        if s >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s * 1e9:.3g} ns"
