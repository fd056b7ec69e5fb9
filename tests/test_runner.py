"""`fwbench run`: exit codes, the results file against the schema, skips, crashes, hangs and Ctrl-C.

Tiny runs of the fastest cells (elementwise with numpy/manual, torch/eager where installed), a few blocks each.
"""
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from bench import registry, results
from bench.run import runner, scheduler, timing

HAS_TORCH = importlib.util.find_spec("torch") is not None
needs_torch = pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
NO_GPU = not registry.nvidia_gpu_present()
FRAMEWORKS = ("torch", "tensorflow", "jax", "cupy")
# runs `fwbench run ...` and reports, on its last line, the exit code and the frameworks this process imported
MAIN = ("import json, sys; from bench.cli import main; rc = main(sys.argv[1:]); "
        f"print(json.dumps({{'rc': rc, 'imported': [m for m in {FRAMEWORKS!r} if m in sys.modules]}}))")


def fwbench(*args, **kw):
    return subprocess.run([sys.executable, "-m", "bench", *args], capture_output=True, text=True, **kw)


def start(*args):
    """`fwbench run` in the background, progress lines (stderr) readable as they come."""
    return subprocess.Popen([sys.executable, "-m", "bench", "run", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def wait_for(proc, text, timeout=120):
    """Read the run's progress until a line contains `text`."""
    end = time.time() + timeout
    for line in proc.stderr:
        if text in line:
            return line
        assert time.time() < end, f"no {text!r} in the progress within {timeout} s"
    raise AssertionError(f"the run ended before {text!r} (exit code {proc.wait()})")


def worker_pid(proc, fw, timeout=60):
    """The pid of the run's worker process for framework `fw`, once it exists."""
    import psutil
    end = time.time() + timeout
    while time.time() < end:
        for child in psutil.Process(proc.pid).children(recursive=True):
            try:
                if "bench.run.worker" in child.cmdline() and fw in child.cmdline():
                    return child.pid
            except psutil.Error:
                continue
        time.sleep(0.02)
    raise AssertionError(f"no {fw} worker appeared")


@pytest.mark.parametrize("args, names", [
    (["--tasks", "nope"], "elementwise"), (["--impls", "torch/nope"], "numpy/manual"),
    (["--profile", "slow"], "quick"), (["--devices", "tpu"], "cpu"), (["--threads", "0"], "--threads"),
    (["--blocks", "-1"], "--blocks"), (["--processes", "0"], "--processes"), (["--processes", "2", "--aa"], "--aa")])
def test_bad_usage_is_one_line_and_exit_2(args, names, tmp_path):
    out = fwbench("run", *args, "--out", str(tmp_path / "r.json"))
    assert out.returncode == 2
    assert len(out.stderr.strip().splitlines()) == 1 and names in out.stderr
    assert "Traceback" not in out.stderr and not (tmp_path / "r.json").exists()


def test_run_writes_the_schema_and_imports_no_framework(tmp_path):
    impls = "numpy/manual,torch/eager" if HAS_TORCH else "numpy/manual"
    out_file = tmp_path / "r.json"
    out = subprocess.run([sys.executable, "-c", MAIN, "run", "--tasks", "elementwise,single_layer", "--impls", impls,
                          "--devices", "cpu,gpu", "--blocks", "3", "--aa", "--threads", "1", "--out", str(out_file)],
                         capture_output=True, text=True)
    last = json.loads(out.stdout.strip().splitlines()[-1])
    assert last == {"rc": 0, "imported": []}, out.stderr
    data = results.load(out_file)
    env, harness = data["environment"], data["harness"]
    assert data["profile"] == "quick" and data["command"].startswith("fwbench run")
    for key in ("machine", "python", "os", "cpu", "gpus", "frameworks", "threads", "thread_env", "git", "blas"):
        assert key in env
    assert env["threads"] == 1 and env["thread_env"]["OMP_NUM_THREADS"] == "1"
    assert "OMP_WAIT_POLICY" not in env["thread_env"] and "numpy/cpu" in env["workers"]
    assert env["cpu"]["peak_gflops"] is None or env["cpu"]["peak_gflops"] > 0
    assert env["cpu"]["peak_measured_gflops"] > 0 and "matmul" in env["cpu"]["peak_measured_basis"]
    assert harness["quiesce"]["switches"] >= 1 and harness["quiesce"]["total_s"] >= 0
    assert 0 <= env["busy_at_start"]["cpu_pct"] <= 100 and env["busy_at_start"]["cpus"] >= 1
    assert 0 < harness["overhead_s"] and harness["blocks"] == 3 and not harness["interrupted"]
    n_impls = len(impls.split(","))
    assert len(data["results"]) == 2 * n_impls * 2 * 2            # tasks x impls x devices x (cell, A/A copy)
    for cell in data["results"]:
        if cell["device"] == "gpu" and NO_GPU:
            assert cell["status"] == "skipped" and cell["reason"]
            continue
        assert cell["status"] == "ok", cell["reason"]
        assert set(cell["phases"]) == {"import_s", "setup_s", "build_s", "first_step_s"}
        assert all(v >= 0 for v in cell["phases"].values())
        step = cell["step"]
        assert len(step["samples_s"]) == 3 and step["block"] >= 1
        assert step["min_s"] <= step["median_s"] and step["ci95_s"][0] <= step["median_s"] <= step["ci95_s"][1]
        assert cell["traces"] == {"build": 0, "steady": 0} and cell["gradcheck"]["ok"]
        assert cell["memory"]["peak_rss_bytes"] > 0 and cell["flops"] > 0 and cell["gflops"] > 0
    variants = [(c["task"], c["impl"], c["device"], c["variant"]) for c in data["results"]]
    assert len(set(variants)) == len(variants) and sum(v[3] == "aa-copy" for v in variants) == len(variants) // 2
    assert "numpy/cpu@aa-copy" in env["workers"]
    started = [line for line in out.stderr.splitlines() if "workers started in" in line]
    assert len(started) == 1 and f"{2 * n_impls} workers" in started[0], out.stderr   # all before the first cell
    assert out.stderr.index("workers started in") < out.stderr.index("elementwise shape=3x4")


@pytest.mark.skipif(not NO_GPU, reason="this machine has a GPU")
def test_gpu_cells_are_skipped_never_run_on_the_cpu(tmp_path):
    out = fwbench("run", "--tasks", "elementwise", "--impls", "numpy/manual,torch/eager,jax/jit", "--devices", "gpu",
                  "--out", str(tmp_path / "r.json"))
    assert out.returncode == 0, out.stderr
    cells = results.load(tmp_path / "r.json")["results"]
    assert [c["status"] for c in cells] == ["skipped"] * 3 and all(c["reason"] for c in cells)
    assert "numpy" not in json.dumps(results.load(tmp_path / "r.json")["environment"]["workers"])


@needs_torch
@pytest.mark.parametrize("how", ["kill", "hang"])
def test_a_dead_or_hung_worker_fails_only_its_own_cells(how, tmp_path):
    out_file = tmp_path / "r.json"
    # one thread: two OpenMP threads spinning on a 2-CPU machine that CI's other test process keeps busy can take
    # seconds per block, and time out by themselves before the test kills or stops the worker
    proc = start("--tasks", "elementwise,single_layer", "--impls", "numpy/manual,torch/eager", "--devices", "cpu",
                 "--blocks", "40", "--cell-timeout", "3", "--threads", "1", "--out", str(out_file))
    pid = worker_pid(proc, "torch")
    wait_for(proc, "round 1/")
    os.kill(pid, signal.SIGKILL if how == "kill" else signal.SIGSTOP)
    proc.stderr.read()
    assert proc.wait(timeout=120) == 1
    cells = {(c["task"], c["impl"]): c for c in results.load(out_file)["results"]}
    for task in ("elementwise", "single_layer"):
        assert cells[task, "numpy/manual"]["status"] == "ok"
        assert len(cells[task, "numpy/manual"]["step"]["samples_s"]) == 40
        bad = cells[task, "torch/eager"]
        assert bad["status"] == "failed"
        assert ("killed by signal 9" if how == "kill" else "timed out after 3 s") in bad["reason"]


def test_ctrl_c_keeps_finished_cells_and_marks_the_rest(tmp_path):
    out_file = tmp_path / "r.json"
    proc = start("--tasks", "elementwise,single_layer", "--impls", "numpy/manual", "--devices", "cpu,gpu",
                 "--blocks", "1000", "--out", str(out_file))
    wait_for(proc, "round 4/")
    proc.send_signal(signal.SIGINT)
    proc.stderr.read()
    assert proc.wait(timeout=60) == 130
    data = results.load(out_file)
    assert data["harness"]["interrupted"]
    for cell in data["results"]:
        if cell["device"] == "gpu" and NO_GPU:
            assert cell["status"] == "skipped"
        else:                                    # >= 4 blocks: kept, and the reason says it was cut short
            assert cell["status"] == "ok" and "interrupted after" in cell["reason"]
            assert 4 <= len(cell["step"]["samples_s"]) < 1000


@needs_torch
def test_ctrl_c_before_the_steady_state_marks_unfinished_cells(tmp_path):
    out_file = tmp_path / "r.json"
    proc = start("--tasks", "elementwise", "--impls", "numpy/manual,torch/eager", "--devices", "cpu",
                 "--out", str(out_file))
    wait_for(proc, "numpy/manual cpu:")          # numpy prepared; torch not yet, or not its blocks
    proc.send_signal(signal.SIGINT)
    proc.stderr.read()
    assert proc.wait(timeout=60) == 130
    cells = results.load(out_file)["results"]
    assert [c["status"] for c in cells] == ["failed", "failed"]
    assert all("interrupted" in c["reason"] for c in cells)


def test_run_cells_interleaves_sides_round_by_round():
    cells = runner.make_cells("quick", ["elementwise", "single_layer"], ["numpy/manual"], ["cpu"])
    sides = (runner.Side("A"), runner.Side("B"))
    workers = {}
    records = runner.run_cells(cells, sides, threads=1, blocks=3, workers=workers)
    assert [(r["task"], r["side"]) for r in records] == [("elementwise", "A"), ("elementwise", "B"),
                                                          ("single_layer", "A"), ("single_layer", "B")]
    assert all(r["status"] == "ok" and len(r["step"]["samples_s"]) == 3 for r in records)
    assert set(workers) == {"numpy/cpu", "numpy/cpu@B"}
    with pytest.raises(ValueError, match="distinct labels"):
        runner.run_cells(cells, (runner.Side("A"), runner.Side("A")), threads=1, blocks=3)


def test_profiles_pick_their_cells():
    quick = runner.make_cells("quick", ["cnn"], list(registry.IMPLS), ["cpu"])
    assert [c["size"] for c in quick] == [{"batch": 64}] * len(registry.IMPLS)
    assert all(c["retrace"] is None for c in quick)
    full = runner.make_cells("full", ["cnn", "elementwise"], ["numpy/manual", "jax/jit"], ["cpu"])
    assert sorted({c["size"].get("batch", 0) for c in full}) == [0, 1, 4, 16, 64, 256]
    assert {tuple(c["size"]["shape"]) for c in full if c["task"] == "elementwise"} >= {(3, 4), (3, 4096)}
    retraced = [(c["task"], c["impl"], c["retrace"]) for c in full if c["retrace"]]
    assert retraced == [("cnn", "jax/jit", {"batch": 32}), ("elementwise", "jax/jit", {"shape": [3, 2], "op": "mul"})]


def test_statistics_of_samples():
    s = timing.stats([1.0, 1.02, 0.9, 1.0, 5.0, 1.01, 0.99])
    assert s["median_s"] == 1.0 and s["min_s"] == 0.9 and len(s["samples_s"]) == 7
    assert s["ci95_s"][0] <= 1.0 <= s["ci95_s"][1] and not s["noisy"]
    assert timing.stats([1.0, 2.0, 3.0])["noisy"]
    calls = []
    n, seconds = timing.calibrate(lambda: calls.append(1), lambda: None, 0.001)
    assert n >= 1 and seconds >= 0.001 and timing.overhead(blocks=3) > 0


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")
def test_a_graph_mode_counts_its_build_trace_and_none_in_steady_state(tmp_path):
    out = fwbench("run", "--tasks", "elementwise", "--impls", "jax/jit", "--devices", "cpu", "--blocks", "3",
                  "--threads", "1", "--out", str(tmp_path / "r.json"))
    assert out.returncode == 0, out.stderr
    (cell,) = results.load(tmp_path / "r.json")["results"]
    assert cell["status"] == "ok" and cell["traces"]["build"] >= 1 and cell["traces"]["steady"] == 0
    assert cell["step"]["block"] * cell["step"]["median_s"] >= timing.MIN_BLOCK_S["cpu"] / 2


def test_stopping_a_worker_ends_its_whole_session_at_once(tmp_path):
    """Proc.stop: the worker and what it started (torch.compile's compile workers) end, without waiting for a
    framework's teardown."""
    from types import SimpleNamespace

    from bench.run.worker import Proc
    p = subprocess.Popen(["sh", "-c", "trap '' TERM; sleep 300 & echo $!; wait"], stdout=subprocess.PIPE, text=True,
                         start_new_session=True)
    child = int(p.stdout.readline())
    proc = SimpleNamespace(p=p, err=open(tmp_path / "err", "wb"))
    Proc.stop(proc)
    assert p.returncode is not None and proc.err.closed
    for _ in range(100):                              # the killed child is reaped by init: wait until it is gone
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.02)
    else:
        pytest.fail("the worker's child outlived stop()")


def test_workers_start_together_with_their_guests_before_the_first_cell(monkeypatch):
    """Every worker a run needs is launched before any cell is prepared, `at_once` importing at a time, each told
    which guest frameworks (keras-jax in jax's worker) to import at start."""
    from bench.run import worker
    log = []

    class FakeProc:
        def __init__(self, python, root, fw, device, threads, env, timeout, guests=(), wait=True):
            self.fw, self.hello, self.p = fw, None, None
            log.append(("launch", fw, tuple(guests)))

        def wait_hello(self):
            log.append(("hello", self.fw))
            self.hello = {"ready": True, "protocol": worker.PROTOCOL, "import_s": 0.5}
            return self.hello

    monkeypatch.setattr(scheduler, "Proc", FakeProc)
    monkeypatch.setattr(runner._Scheduler, "skip_reason", lambda self, st: None)
    cells = runner.make_cells("quick", ["mlp"], ["numpy/manual", "torch/eager", "keras-jax/jit", "jax/jit",
                                                 "keras-torch/eager"], ["cpu"])
    sched = runner._Scheduler(cells, (runner.Side(),), 1, 3, 0.1, 60, 0, None, None, {}, quiesce=False, at_once=2)
    sched.start_workers()
    assert log == [("launch", "numpy", ()), ("launch", "torch", ("keras-torch",)), ("hello", "numpy"),
                   ("launch", "jax", ("keras-jax",)), ("hello", "torch"), ("hello", "jax")]
    assert sorted(k[1] for k in sched.procs) == ["jax", "numpy", "torch"] and sched.starting == []
    assert sched.worker(sched.state[2]) is sched.procs[("main", "jax", "cpu")]     # no second start
    assert len(log) == 6


@pytest.mark.skipif(importlib.util.find_spec("keras") is None or importlib.util.find_spec("jax") is None,
                    reason="keras or jax is not installed")
def test_a_guest_imported_at_start_is_not_imported_again_by_its_cell():
    from bench.run.worker import Proc
    proc = Proc(sys.executable, str(runner.ROOT), "jax", "cpu", 1, {}, 120, guests=["keras-jax"])
    try:
        hello = proc.hello
        assert hello["ready"] and hello["guests"]["keras-jax"]["import_s"] > hello["import_s"] > 0
        reply = proc.call({"op": "prepare", "cell": 0, "task": "mlp", "impl": "keras-jax/jit",
                           "size": {}, "seed": 0, "warmup_s": 0.0, "min_block_s": 0.001}, 120)
        assert reply["phases"]["import_s"] == hello["guests"]["keras-jax"]["import_s"]
    finally:
        proc.stop()


def _process_record(samples, status="ok", reason=None, target=5.0):
    """A record of run_cells for one process of a cell, with `samples` as its blocks."""
    step = {**timing.stats(samples), "block": 10, "min_block_s": 0.01, "short_blocks": 1,
            "precision": {"target_pct": target}} if status == "ok" else None
    return {"task": "mlp", "impl": "numpy/manual", "device": "cpu", "size": {}, "variant": None, "side": "main",
            "status": status, "reason": reason, "step": step, "flops": 1e6, "gflops": None,
            "phases": {"import_s": 1.0, "setup_s": 0.1, "build_s": 0.0, "first_step_s": 0.2} if step else None,
            "traces": {"build": 0, "steady": 0} if step else None}


def test_processes_merge_into_one_record_per_cell_from_per_round_medians():
    """Three processes at 1, 2 and 9 (one far off): each round's sample is the middle one, the record keeps each
    process's median and their spread; a failed or pending process fails the cell with its reason."""
    slow = _process_record([9.0, 9.0, 9.0, 9.0])
    slow["phases"]["import_s"] = 3.0
    merged, = runner.merge_processes([_process_record([1.0, 1.0, 1.1, 1.0]), _process_record([2.0, 2.2, 2.0, 2.0]),
                                      slow], 3)
    step = merged["step"]
    assert merged["status"] == "ok" and step["samples_s"] == [2.0, 2.2, 2.0, 2.0] and step["median_s"] == 2.0
    assert [p["median_s"] for p in step["processes"]] == [1.0, 2.0, 9.0] and step["process_spread"] == 9.0
    assert merged["phases"]["import_s"] == 1.0 and merged["gflops"] == 1e6 / 2.0 / 1e9
    assert step["precision"]["target_pct"] == 5.0 and step["short_blocks"] == 1
    assert runner.per_round_median([[1.0, 3.0], [2.0, 5.0, 7.0]]) == [1.5, 4.0]      # two: the mean; rounds by index
    cells = [_process_record([1.0] * 4), _process_record(None, "failed", "worker died"),
             _process_record(None, "failed", runner.PENDING), _process_record(None, "failed", runner.PENDING)]
    died, pending = runner.merge_processes(cells, 2)
    assert died["status"] == "failed" and died["reason"] == "process 2: worker died"
    assert pending["status"] == "failed" and pending["reason"] == runner.PENDING


def test_rounds_to_a_precision_over_processes_judge_the_merged_figure():
    alternating = {"main": [1.0, 2.0] * 4, "process2": [2.0, 1.0] * 4}     # each noisy, their per-round median flat
    assert not runner.precise(5.0)(alternating) and runner.precise(5.0, merged=True)(alternating)


def test_run_with_processes_writes_one_record_per_cell_from_k_workers(tmp_path):
    out_file = tmp_path / "r.json"
    out = fwbench("run", "--tasks", "elementwise,mlp", "--impls", "numpy/manual", "--devices", "cpu", "--blocks", "3",
                  "--processes", "2", "--threads", "1", "--out", str(out_file))
    assert out.returncode == 0, out.stderr
    data = results.load(out_file)
    assert data["harness"]["processes"] == 2 and "--processes 2" in data["command"]
    assert set(data["environment"]["workers"]) == {"numpy/cpu", "numpy/cpu@process2"}
    assert [c["task"] for c in data["results"]] == ["elementwise", "mlp"]
    for cell in data["results"]:
        step = cell["status"] == "ok" and cell["step"]
        assert len(step["samples_s"]) == 3 and len(step["processes"]) == 2 and step["process_spread"] >= 1
        assert all(p["median_s"] > 0 and p["block"] >= 1 for p in step["processes"])
    assert "processes: 2 per cell" in out.stdout
