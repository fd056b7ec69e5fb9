"""The worker process (one per framework, device and side) and `Proc`, the runner's handle on one.

The worker imports its framework and times its cells. bench.run.runner starts it as
`python -m bench.run.worker FRAMEWORK DEVICE THREADS [GUEST,...]` (GUEST: a framework that runs in this worker,
imported at start) with the thread settings already in its environment, in its own session (a terminal's
Ctrl-C reaches only the runner), and it exits when its stdin closes. It talks JSON lines: requests on stdin,
replies on the pipe that was its stdout (fd 1 is then pointed at stderr, so framework chatter never reaches the
protocol). Requests:
  {"op": "prepare", "cell": id, "task", "impl", "size", "seed", "warmup_s", "min_block_s"}
      -> phases, traces during build, loss/gradients/params for the gradient check (judged by the runner),
         calibrated block size (or "skip" / "error")
  {"op": "block", "cell": id, "warm": k, "warm_s": s} -> {"t": seconds of one [step() x n; sync()] block after
      at least k untimed steps and s seconds of them}
  {"op": "finish", "cell": id, "retrace": size|null} -> steady-state traces, memory, retrace; frees the cell
  {"op": "examples", "impls": [...]}     -> bench.examples.compute(impl) for each
"""
import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

PROTOCOL = 1


class WorkerError(RuntimeError):
    """A worker died, hung past its timeout, or spoke another protocol; the message says which."""


def worker_module(root) -> str:
    """The worker's module in the checkout at `root`: bench.run.worker, or bench.worker in a checkout from before
    bench/ had subpackages (the base side of `fwbench ab --base-rev` with an older revision)."""
    return "bench.run.worker" if (Path(root) / "bench" / "run" / "worker.py").is_file() else "bench.worker"


class Proc:
    """One worker process (framework, device, side) and the JSON-lines pipe to it."""

    def __init__(self, python: str, root: str, fw: str, device: str, threads: int, env: dict, timeout: float,
                 guests=(), wait: bool = True):
        """Start `python -m bench.run.worker` in `root` (also its PYTHONPATH), which also imports the frameworks
        `guests` that run in it, and wait for its hello (import_s) unless `wait` is False (then `wait_hello`)."""
        self.fw, self.device, self.timeout = fw, device, timeout
        self.err = tempfile.TemporaryFile()      # the worker's stderr: its last line explains a crash
        full_env = {**os.environ, **env}
        full_env["PYTHONPATH"] = os.pathsep.join(p for p in (str(root), os.environ.get("PYTHONPATH")) if p)
        try:                                     # own session: a terminal's Ctrl-C reaches only the runner
            args = [fw, device, str(threads)] + ([",".join(guests)] if guests else [])  # older workers ignore it
            self.p = subprocess.Popen([python, "-m", worker_module(root), *args], cwd=root,
                                      env=full_env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=self.err, text=True, start_new_session=True)
        except OSError as e:
            raise WorkerError(f"cannot start {python}: {e}") from None
        self.q = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.hello = self.wait_hello() if wait else None

    def wait_hello(self) -> dict:
        """The worker's first line, once its imports are done (WorkerError if it dies or takes over `timeout`)."""
        self.hello = self._reply(self.timeout, "import")
        return self.hello

    def _read(self):
        for line in self.p.stdout:
            self.q.put(line)
        self.q.put(None)

    def _reply(self, timeout, what) -> dict:
        try:
            line = self.q.get(timeout=timeout)
        except queue.Empty:
            self.kill()
            raise WorkerError(f"{self.fw} worker timed out after {timeout:g} s ({what})") from None
        if line is None:
            raise WorkerError(self._death(what))
        try:
            return json.loads(line)
        except json.JSONDecodeError:
            self.kill()
            raise WorkerError(f"{self.fw} worker sent a garbled reply during {what}: {line[:200]!r}") from None

    def call(self, req: dict, timeout: float) -> dict:
        """Send one request and wait for its reply (WorkerError if the worker dies or exceeds `timeout`)."""
        try:
            self.p.stdin.write(json.dumps(req) + "\n")
            self.p.stdin.flush()
        except (BrokenPipeError, OSError):
            raise WorkerError(self._death(req["op"])) from None
        return self._reply(timeout, req["op"])

    def _death(self, what) -> str:
        try:
            rc = self.p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()
            rc = self.p.returncode
        self.err.seek(0)
        tail = [s for s in self.err.read().decode(errors="replace").splitlines() if s.strip()]
        how = f"killed by signal {-rc}" if rc is not None and rc < 0 else f"exited with code {rc}"
        return f"{self.fw} worker {how} during {what}" + (f": {tail[-1].strip()[:300]}" if tail else "")

    def kill(self):
        """Stop the worker now."""
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()

    def stop(self):
        """End the worker and what it started (its session: torch.compile's compile workers) at once: nothing it
        holds is needed, and a framework's own teardown takes up to a second (TensorFlow's, at exit)."""
        if self.p.poll() is None:
            try:
                os.killpg(self.p.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                self.p.kill()
        self.p.wait()
        self.err.close()

    def quit(self):
        """Ask the worker to exit (it also exits when its stdin closes); `close` then waits for it."""
        try:
            self.p.stdin.write('{"op": "quit"}\n')
            self.p.stdin.close()
        except (OSError, ValueError):
            pass

    def close(self, timeout: float = 10):
        """Ask the worker to quit, wait up to `timeout` seconds, then kill it."""
        self.quit()
        try:
            self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        self.err.close()


def _channel():
    """The protocol's write end (the original stdout); fd 1 now goes to stderr."""
    out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return out


def _rss_peak() -> int:
    """Peak resident memory of this process so far, bytes."""
    import resource
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def _gpu_memory(fw: str, reset: bool = False):
    """(bytes in use, peak bytes) of the framework's GPU allocator, the peak reset to the current use first when
    asked and possible; None where it reports nothing. JAX cannot reset its peak; CuPy keeps no peak, but its
    memory pool only grows until its cached blocks are freed, so with them freed at the reset the pool's size is
    its peak."""
    try:
        if fw == "torch":
            import torch
            if reset:
                torch.cuda.reset_peak_memory_stats()
            return torch.cuda.memory_allocated(), torch.cuda.max_memory_allocated()
        if fw == "jax":
            import jax
            stats = jax.devices("gpu")[0].memory_stats()
            return stats["bytes_in_use"], stats["peak_bytes_in_use"]
        if fw == "tensorflow":
            import tensorflow as tf
            if reset:
                tf.config.experimental.reset_memory_stats("GPU:0")
            info = tf.config.experimental.get_memory_info("GPU:0")
            return info["current"], info["peak"]
        if fw == "numpy":
            import cupy
            pool = cupy.get_default_memory_pool()
            if reset:
                pool.free_all_blocks()
            return pool.used_bytes(), pool.total_bytes()
    except Exception:
        return None
    return None


def cell_gpu_peak(start, end, resettable: bool):
    """The cell's own GPU peak: the allocator's peak during the cell above what was in use when it began (the
    worker's earlier cells are still held). `start` = (in use, peak) at the start, after the reset; `end` = the
    same at the end. None when unknown: nothing reported, or a peak that cannot be reset stayed at an earlier
    cell's high-water mark."""
    if start is None or end is None:
        return None
    (baseline, peak_before), (_, peak_after) = start, end
    if not resettable and peak_after <= peak_before:
        return None
    return int(peak_after - baseline)


class Worker:
    """The cells of one framework on one device, kept alive between the runner's requests; what it imports and the
    environment it sets first come from the framework's declaration in its implementations/ folder."""

    def __init__(self, fw, device, threads):
        from bench import registry
        fw = registry.worker_of(fw)              # a framework that runs in another's worker makes this one that
        self.fw, self.device, self.threads, self.cells = fw, device, threads, {}
        self.decl = registry.FRAMEWORKS.get(fw) or {"env": {}, "allocator": fw, "folder": fw}
        self.allocator = self.decl["allocator"]        # whose GPU allocator counts this framework's memory
        self.import_s, self.guests = None, {}

    def start(self, guests=()) -> dict:
        """Set the environment the framework's folder declares, import it (timed: import_s), give it the thread count;
        then import the `guests` that will run here (each timed as in `guest`), so that no cell waits for them."""
        import importlib
        from bench import registry
        os.environ.update(self.decl["env"])
        names = registry.modules(self.fw, self.device)
        t0 = time.perf_counter()
        mods = []
        for name in names:
            try:
                mods.append(importlib.import_module(name))
            except ImportError as e:
                return {"ready": False, "skip": f"{name} cannot be imported here ({e})"}
        import_s = self.import_s = time.perf_counter() - t0
        self.core = importlib.import_module(f"implementations.{self.decl['folder']}.core")
        self.core.set_threads(self.threads)
        from threadpoolctl import threadpool_info
        blas = [{k: lib.get(k) for k in ("internal_api", "version", "num_threads", "threading_layer")}
                for lib in threadpool_info()]
        return {"ready": True, "protocol": PROTOCOL, "pid": os.getpid(), "import_s": import_s,
                "version": getattr(mods[0], "__version__", None), "blas": blas,
                "guests": {fw: self.guest(fw) for fw in guests}}

    def guest(self, fw) -> dict:
        """A framework that runs in this worker (it declares `worker`: this one): its environment set and its own
        modules imported at its first cell. Its import_s is this worker's plus that import (what a fresh process
        would pay), or the skip reason when they cannot be imported."""
        if fw not in self.guests:
            import importlib
            from bench import registry
            decl = registry.FRAMEWORKS[fw]
            os.environ.update(decl["env"])
            t0 = time.perf_counter()
            try:
                for name in registry.modules(fw, self.device):
                    importlib.import_module(name)
                self.guests[fw] = {"import_s": self.import_s + time.perf_counter() - t0}
            except ImportError as e:
                self.guests[fw] = {"skip": f"{name} cannot be imported here ({e})"}
        return self.guests[fw]

    def prepare(self, req) -> dict:
        """setup, build, first step, gradcheck, warm-up and calibration of one cell."""
        from bench import api
        from bench.run import timing
        from bench.workload import SkipCell
        fw = req["impl"].split("/")[0]
        guest = self.guest(fw) if fw != self.fw else {}
        if "skip" in guest:
            return {"skip": guest["skip"]}
        gpu = self.device == "gpu"
        gpu_start = _gpu_memory(self.allocator, reset=True) if gpu else None
        clock = time.perf_counter
        try:
            t0 = clock()
            w = api.make(req["task"], req["impl"], device=self.device, seed=req.get("seed", 0), build=False,
                         **api_size(req["size"]))
            t1 = clock()
            w.fn = _fresh(w.fn, req["cell"])   # this cell's own copy: no cache keyed on the function is shared
            before = w.traces()
            t1b = clock()                      # the bookkeeping between t1 and t1b is in no phase
            w.build()
            t2 = clock()
            traces_build = w.traces() - before
            w.step()
            w.sync()
            t3 = clock()
        except SkipCell as e:
            return {"skip": str(e)}
        measured = _measured(w)
        t4 = clock()
        timing.warm_up(w.step, w.sync, req.get("warmup_s", 0.1))
        t5 = clock()
        n, block_s = timing.calibrate(w.step, w.sync, req["min_block_s"])
        t6 = clock()
        self.cells[req["cell"]] = {"w": w, "n": n, "traces": 0, "fn": w.fn}
        return {"phases": {**guest, "setup_s": t1 - t0, "build_s": t2 - t1b, "first_step_s": t3 - t2},
                "traces_build": traces_build, "measured": measured, "block": n, "block_s": block_s,
                "harness_s": {"gradcheck_s": t4 - t3, "warmup_s": t5 - t4, "calibrate_s": t6 - t5},
                "memory": {"peak_rss_bytes": _rss_peak(), **self._gpu_peak(gpu_start)}}

    def _gpu_peak(self, start) -> dict:
        """A cell's GPU memory: its own peak above the baseline it began at (the worker's earlier cells, still held)."""
        if self.device != "gpu":
            return {"gpu_peak_bytes": None}
        return {"gpu_peak_bytes": cell_gpu_peak(start, _gpu_memory(self.allocator), resettable=self.allocator != "jax"),
                "gpu_baseline_bytes": int(start[0]) if start else None}

    def block(self, req) -> dict:
        """One timed block of the cell, after `warm` untimed steps lasting at least `warm_s` (thread pools and
        caches were idle while other workers ran; a user's loop never starts cold, and a GPU's clocks ramp up)."""
        from bench.run.timing import run_block, warm_up
        c = self.cells[req["cell"]]
        w = c["w"]
        before = w.traces()
        warm_up(w.step, w.sync, req.get("warm_s", 0.0), min_steps=req.get("warm", 1))
        t = run_block(w.step, w.sync, c["n"])
        c["traces"] += w.traces() - before       # counted per block: other cells' compiles are not ours
        return {"t": t}

    def finish(self, req) -> dict:
        """Steady-state trace count, then (if asked) the first step at a new size; frees the cell."""
        c = self.cells.pop(req["cell"])
        out = {"traces_steady": c["traces"], "retrace": None}
        if req.get("retrace"):
            try:
                out["retrace"] = self._retrace(req, c.pop("fn"))
            except Exception as e:       # the cell's own numbers stand; the retrace says what went wrong
                traceback.print_exc()
                out["retrace"] = {"size": req["retrace"], "error": f"{type(e).__name__}: {e}"}
        del c
        return out

    def _retrace(self, req, fn) -> dict:
        """Build and first step of the same task and loss function `fn` at a new size, in this warm process."""
        from bench import api
        clock = time.perf_counter
        t0 = clock()
        w = api.make(req["task"], req["impl"], device=self.device, seed=req.get("seed", 0), build=False,
                     **api_size(req["retrace"]))
        w.fn = fn                        # the cell's function: caches keyed on it see a new shape
        before = w.traces()
        t1 = clock()
        w.build()
        t2 = clock()
        w.step()
        w.sync()
        t3 = clock()
        return {"size": req["retrace"], "first_step_s": t3 - t1, "build_s": t2 - t1, "step_s": t3 - t2,
                "setup_s": t1 - t0, "traces": w.traces() - before}

    def examples(self, req) -> dict:
        """The slides' worked examples computed by each implementation of this framework."""
        from bench.examples import compute
        fws = {impl.split("/")[0] for impl in req["impls"]} - {self.fw}
        ready = {fw for fw in fws if "skip" not in self.guest(fw)} | {self.fw}
        return {"examples": {impl: compute(impl, self.device) for impl in req["impls"] if impl.split("/")[0] in ready}}


def api_size(size: dict) -> dict:
    """JSON size knobs back to what bench.api takes (lists -> tuples)."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in size.items()}


def _fresh(fn, tag):
    """A copy of `fn` with its own code object and code name (fn_<tag>), so that caches keyed on the code
    (torch.compile's guards, its automatic-dynamic-shape memory) start empty for every cell, as in a fresh
    program; the body is unchanged."""
    import types
    name = f"{fn.__code__.co_name}_{tag}"
    code = fn.__code__.replace(co_name=name, **({"co_qualname": name} if sys.version_info >= (3, 11) else {}))
    g = types.FunctionType(code, fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__)
    g.__kwdefaults__, g.__qualname__, g.__module__ = fn.__kwdefaults__, fn.__qualname__, fn.__module__
    return g


def _measured(w) -> dict:
    """Loss, gradients and params of `w` now, for the runner to judge against the float64 reference. Not judged
    here: the reference's float64 temporaries, once freed, raise glibc's malloc thresholds for the rest of this
    process, which a user's process never does (torch/eager cnn then stops faulting ~2,500 pages back in per step
    and steps ~20% faster than in a fresh process; README)."""
    loss, grads = w.grads()
    return {"loss": float(loss), "grads": pack(grads), "params": pack(w.params())}


def pack(arrays: dict) -> dict:
    """numpy arrays as JSON: dtype, shape and base64 bytes each."""
    import base64
    import numpy as np
    return {k: {"dtype": str(np.asarray(a).dtype), "shape": list(np.shape(a)),
                "b64": base64.b64encode(np.ascontiguousarray(a).tobytes()).decode()} for k, a in arrays.items()}


def unpack(packed: dict) -> dict:
    """The arrays of `pack`."""
    import base64
    import numpy as np
    return {k: np.frombuffer(base64.b64decode(v["b64"]), dtype=v["dtype"]).reshape(v["shape"]) for k, v in packed.items()}


def main(argv) -> int:
    fw, device, threads = argv[0], argv[1], int(argv[2])
    cpus = os.environ.get("FWBENCH_CPUS")
    if cpus and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(c) for c in cpus.split(",")})
    out = _channel()

    def send(msg):
        out.write(json.dumps(msg) + "\n")
        out.flush()

    worker = Worker(fw, device, threads)
    try:
        hello = worker.start([g for g in argv[3].split(",") if g] if len(argv) > 3 else [])
    except Exception as e:
        traceback.print_exc()
        hello = {"ready": False, "error": f"{type(e).__name__}: {e}"}
    send(hello)
    if not hello.get("ready"):
        return 0
    ops = {"prepare": worker.prepare, "block": worker.block, "finish": worker.finish, "examples": worker.examples}
    for line in sys.stdin:
        req = json.loads(line)
        if req["op"] == "quit":
            break
        try:
            send(ops[req["op"]](req))
        except Exception as e:
            traceback.print_exc()
            worker.cells.pop(req.get("cell"), None)
            send({"error": f"{type(e).__name__}: {e}"})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
