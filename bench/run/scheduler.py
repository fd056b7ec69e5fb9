"""The scheduler of `fwbench run` and `fwbench ab`: time cells in isolated worker processes, steady-state blocks
interleaved round-robin (`run_cells`). The main process imports no framework."""
from __future__ import annotations

import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench.run.sides import PENDING, ROOT, Side, Until, precision_of
from bench.run.timing import MIN_BLOCK_S
from bench.run.worker import PROTOCOL, Proc, WorkerError

WARM_FRACTION = 2          # before each timed block, n // 2 (>= 1) untimed steps: it starts hot, as in a user's loop
WARM_S = 0.1               # ... and at least this long: a worker that sat idle while the others ran is slow when it
                           # resumes (jax/jit single_layer 1.58x its steady step after 20 ms of warm steps, 1.22x after
                           # 100 ms; docs/measuring.md, reports/evidence/warmup/)
SALVAGE_MIN_BLOCKS = 3     # an interrupted cell with at least this many blocks is kept (status ok, reason says so)
IMPORT_TIMEOUT_S = 120.0   # a framework import may take this long even when --cell-timeout is shorter
QUIT_S = 0.2               # stopping the workers at the end (Proc.stop), reserved before --max-time


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during `run_cells`: `records` holds what was finished, the rest marked."""

    def __init__(self, records):
        super().__init__("interrupted")
        self.records = records


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
