"""Measuring frameworks as users run them: the worker environment, the idle wait, the warm block, the referee.

Known truths instead of real timings where possible: a process that spins for a known time, a workload that
counts its steps, a harness made 20x slow on purpose that `fwbench verify` must fail.
"""
import argparse
import contextlib
import importlib.util
import json
import os
import subprocess
import sys
import time

import pytest

from bench import environment, options
from bench.run import quiesce, runner, verify
from bench.cli import main

SPIN = """
import sys, time
print("ready", flush=True)
sys.stdin.readline()
end = time.perf_counter() + float(sys.argv[1])
while time.perf_counter() < end:
    pass
print("done", flush=True)
sys.stdin.readline()
"""


def test_thread_env_sets_the_thread_count_and_nothing_else():
    env = environment.thread_env(2)
    assert {k: env[k] for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")} == dict.fromkeys(
        ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
         "TF_NUM_INTEROP_THREADS"), "2")
    allowed = {"OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TF_NUM_INTRAOP_THREADS",
               "TF_NUM_INTEROP_THREADS", "XLA_FLAGS", "FWBENCH_CPUS"}
    assert set(env) <= allowed, set(env) - allowed
    assert not set(env) & set(environment.RUNTIME_TUNING)


def test_worker_env_is_parsed_and_bad_ones_are_usage_errors(tmp_path):
    assert options.key_value("OMP_WAIT_POLICY=PASSIVE") == ("OMP_WAIT_POLICY", "PASSIVE")
    assert options.key_value("X=a=b") == ("X", "a=b")
    for bad in ("NOVALUE", "=x", "A B=1"):
        with pytest.raises(argparse.ArgumentTypeError, match="KEY=VALUE"):
            options.key_value(bad)
    out = subprocess.run([sys.executable, "-m", "bench", "run", "--worker-env", "oops", "--out",
                          str(tmp_path / "r.json")], capture_output=True, text=True)
    assert out.returncode == 2 and "KEY=VALUE" in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_runtime_tuning_is_recorded_and_shown_as_a_caveat(monkeypatch):
    from bench.report.render import caveat
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    assert environment.runtime_tuning({"OMP_WAIT_POLICY": "PASSIVE", "FOO": "1"}) == {"OMP_WAIT_POLICY": "PASSIVE"}
    plain = {"environment": {"thread_env": environment.thread_env(2), "worker_env_extra": {}}}
    assert caveat(plain) is None
    tuned = {"environment": {"thread_env": environment.thread_env(2), "worker_env_extra": {"KMP_BLOCKTIME": "0"}}}
    assert "KMP_BLOCKTIME=0" in caveat(tuned)
    old = {"environment": {"thread_env": {"OMP_NUM_THREADS": "2", "OMP_WAIT_POLICY": "PASSIVE"}}}
    assert "OMP_WAIT_POLICY=PASSIVE" in caveat(old)             # results of the old harness are marked


@contextlib.contextmanager
def spinner(seconds):
    """A process that says "ready", then spins for `seconds` after go(p); killed on the way out."""
    p = subprocess.Popen([sys.executable, "-c", SPIN, str(seconds)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         text=True)
    try:
        assert p.stdout.readline().strip() == "ready"
        yield p
    finally:
        p.kill()
        p.wait()


def go(p, settle_s):
    """Start `spinner`'s spin and give it `settle_s` seconds to get going."""
    p.stdin.write("go\n")
    p.stdin.flush()
    time.sleep(settle_s)


def test_a_busy_machine_is_measured_warned_about_and_marked_in_the_report():
    from bench.report.render import caveat
    with spinner(3) as p:
        go(p, 0.05)
        state = environment.busy()                       # one process spinning: at least one CPU's worth busy
        assert state["cpu_pct"] >= 0.7 * 100 / state["cpus"] and state["cpus"] >= 1
    loaded = {"cpu_pct": 60.0, "load_1m": 1.4, "cpus": 2}
    assert "60% of the 2 CPUs busy" in environment.busy_warning(loaded)
    assert environment.busy_warning({**loaded, "cpu_pct": environment.BUSY_PCT}) is None     # at the limit: quiet
    assert environment.busy_warning(None) is None
    run = {"environment": {"thread_env": environment.thread_env(2), "busy_at_start": loaded}}
    assert "busy" in caveat(run) and caveat({"environment": {"busy_at_start": {**loaded, "cpu_pct": 3.0}}}) is None


def test_wait_idle_waits_while_a_process_spins_and_not_after():
    with spinner(0.4) as p:
        time.sleep(0.3)                                  # idle, waiting on stdin
        waited, capped = quiesce.wait_idle(p.pid)
        assert waited < 0.1 and not capped
        go(p, 0.02)
        waited, capped = quiesce.wait_idle(p.pid)
        assert waited >= 0.2 and not capped               # it spun ~0.38 s more; the wait saw it
        assert p.stdout.readline().strip() == "done"


def test_a_spinning_thread_counts_as_runnable_and_a_sleeping_one_does_not():
    with spinner(30) as p:
        end = time.time() + 5                            # it prints "ready", then blocks on stdin
        while quiesce.usage(p.pid)[1] and time.time() < end:
            time.sleep(0.01)
        assert quiesce.usage(p.pid)[1] == 0
        go(p, 0.05)
        assert quiesce.usage(p.pid)[1] >= 1              # spinning: running or waiting for a CPU, never asleep


def test_wait_idle_gives_up_at_its_cap():
    with spinner(30) as p:
        go(p, 0.02)
        waited, capped = quiesce.wait_idle(p.pid, cap=0.15)
        assert capped and 0.15 <= waited < 1.0


class Counting:
    """A workload that counts its steps and syncs."""

    def __init__(self):
        self.steps, self.syncs = 0, 0

    def step(self):
        self.steps += 1

    def sync(self):
        self.syncs += 1

    def traces(self):
        return 0


def test_a_block_runs_its_warm_steps_untimed_then_n_timed():
    from bench.run.worker import Worker
    w = Worker("numpy", "cpu", 1)
    cell = Counting()
    w.cells[0] = {"w": cell, "n": 50, "traces": 0}
    reply = w.block({"op": "block", "cell": 0, "warm": 5})
    assert cell.steps == 55 and reply["t"] > 0
    assert cell.syncs == 6                                # one per warm step, one for the block


def test_a_block_warms_for_at_least_warm_s_and_the_runner_asks_for_it(monkeypatch):
    from bench.run.worker import Worker
    w = Worker("numpy", "cpu", 1)
    cell = Counting()
    cell.step = lambda: (time.sleep(0.002), setattr(cell, "steps", cell.steps + 1))    # a step of >= 2 ms
    w.cells[0] = {"w": cell, "n": 1, "traces": 0}
    t0 = time.perf_counter()
    w.block({"op": "block", "cell": 0, "warm": 1, "warm_s": 0.03})
    assert time.perf_counter() - t0 >= 0.03 and 3 <= cell.steps <= 1 + 0.03 / 0.002 + 1   # >= 30 ms, then the block
    sent = []
    sched = runner._Scheduler([], [runner.Side()], 1, 1, 0.0, 10, 0, None, None, None)
    sched.state, sched.records = [{"n": 10, "block_s": 0.01, "samples": []}], [{"task": "mlp", "size": {}, "impl": "x",
                                                                            "device": "cpu"}]
    monkeypatch.setattr(sched, "call", lambda st, req, timeout: sent.append(req) or {"t": 0.01})
    sched.state[0]["key"] = ("main", "numpy", "cpu")
    sched.block(0, 0)
    assert runner.WARM_S >= 0.1 and sent == [{"op": "block", "cell": 0, "warm": 100}]   # 1 ms steps: 100 ms of them
    sched.last = ("main", "numpy", "cpu")                   # the same worker timed the block before: the same warm-up
    sched.block(0, 1)                                       # (50-75 ms there moved single cells 5-19%; README)
    assert sent[1] == {"op": "block", "cell": 0, "warm": 100}
    assert runner.warm_steps(1000, 0.5) == 500 and runner.warm_steps(1, 0.5) == 1              # n // 2; one long step
    assert runner.warm_steps(3, 0.012) == 25                                                    # 4 ms steps


def test_rounds_are_grouped_by_worker_with_sides_of_a_framework_adjacent():
    cells = runner.make_cells("quick", ["elementwise", "mlp"], ["numpy/manual", "torch/eager", "jax/jit"], ["cpu"])
    sides = (runner.Side("A"), runner.Side("B"))
    s = runner._Scheduler(cells, sides, 1, 2, 0.1, 60, 0, None, None, None)
    order = s.round_order(list(range(len(s.records))))
    keys = [s.state[i]["key"] for i in order]
    runs = [k for n, k in enumerate(keys) if n == 0 or keys[n - 1] != k]
    assert len(runs) == len(set(keys)) == 6              # each worker's blocks are contiguous
    assert [k[1] for k in runs] == ["numpy", "numpy", "torch", "torch", "jax", "jax"]
    assert sorted(order) == list(range(len(s.records)))


def test_run_cells_waits_for_the_last_worker_at_each_switch(monkeypatch):
    calls = []
    monkeypatch.setattr(quiesce, "wait_idle", lambda pid, **kw: calls.append(pid) or (0.001, False))
    cells = runner.make_cells("quick", ["elementwise"], ["numpy/manual"], ["cpu"])
    sides = (runner.Side("A"), runner.Side("B"))
    stats = {}
    records = runner.run_cells(cells, sides, threads=1, blocks=4, stats=stats)
    assert all(r["status"] == "ok" for r in records)
    # A and B alternate every block (one cell each), and prepare/finish switch too
    assert stats["quiesce"]["switches"] == len(calls) >= 4 * 2 - 1
    calls.clear()
    runner.run_cells(cells, sides, threads=1, blocks=4, stats=stats, quiesce=False)
    assert calls == [] and stats["quiesce"]["switches"] == 0


def test_flop_per_cycle_knows_zen4_halves_avx512():
    avx512 = ["avx", "avx2", "fma", "avx512f"]
    assert environment.flop_per_cycle("AuthenticAMD", 0x19, avx512)[0] == 32       # Zen 4
    assert environment.flop_per_cycle("AuthenticAMD", 0x1A, avx512)[0] == 64       # Zen 5
    assert environment.flop_per_cycle("AuthenticAMD", 0x19, ["avx", "avx2", "fma"])[0] == 32
    assert environment.flop_per_cycle("GenuineIntel", 6, avx512)[0] == 64
    assert "assumed" in environment.flop_per_cycle("GenuineIntel", 6, avx512)[1]
    assert environment.flop_per_cycle("GenuineIntel", 6, ["avx"])[0] == 16


def test_measured_peak_is_a_real_sgemm():
    m = environment.measured_peak(environment.thread_env(1))
    assert m is not None and m["gflops"] > 1 and str(m["size"]) in m["basis"] and "numpy" in m["basis"]
    assert environment.measured_peak({"PYTHONPATH": "", "PYTHONHOME": "/nonexistent"}) is None


def test_summarise_takes_the_median_ratio_and_the_tolerance():
    cell = {"task": "mlp", "impl": "torch/eager", "device": "cpu", "size": {}}
    refs = [{"plain_s": 1.0, "timer_s": 1.1}, {"plain_s": 2.0, "timer_s": 2.0}, {"plain_s": 1.0, "timer_s": 1.0}]
    r = verify.summarise(cell, [1.05, 2.4, 0.95], refs, 0.10)
    assert r["ratio"] == pytest.approx(1.05) and r["ratio_range"] == [0.95, 1.2] and r["ok"]
    assert not verify.summarise(cell, [1.2, 2.4, 1.15], refs, 0.10)["ok"]         # median 1.2
    assert not verify.summarise(cell, [0.85, 1.7, 0.8], refs, 0.10)["ok"]         # median 0.85
    failed = verify.summarise(cell, [1.0, 1.0, 1.0], refs[:2] + [{"error": "referee exited 1"}], 0.10)
    assert not failed["ok"] and failed["errors"] == ["referee exited 1"]


def test_a_miss_is_a_failure_when_consistent_or_when_the_referee_agrees_with_itself():
    cell = {"task": "mlp", "impl": "keras-jax/jit", "device": "cpu", "size": {}}
    refs = lambda *ps: [{"plain_s": p, "timer_s": p} for p in ps]
    steady, noisy = refs(1.0, 1.02, 0.99), refs(1.0, 1.5, 0.8)
    assert verify.referee_spread([1.0, 1.02, 0.99]) == pytest.approx(0.02)
    assert verify.referee_spread([1.0]) is None
    consistent = verify.summarise(cell, [1.25, 1.9, 1.0], noisy, 0.10)          # every pair 1.25
    assert consistent["verdict"] == "FAIL" and not consistent["ok"]
    straddles = verify.summarise(cell, [1.3, 1.5, 0.8], noisy, 0.10)            # 1.3, 1.0, 1.0 ... median 1.0: ok
    assert straddles["verdict"] == "ok"
    unresolved = verify.summarise(cell, [1.3, 1.8, 0.8], noisy, 0.10)           # 1.3, 1.2, 1.0: median 1.2
    assert unresolved["verdict"] == "unresolved" and unresolved["referee_spread"] > 0.10
    quiet = verify.summarise(cell, [1.3, 1.224, 0.99], steady, 0.10)            # 1.3, 1.2, 1.0 with a steady referee
    assert quiet["verdict"] == "FAIL"
    low = verify.summarise(cell, [0.7, 1.2, 0.76], noisy, 0.10)                 # 0.7, 0.8, 0.95: median 0.8
    assert low["verdict"] == "unresolved"
    assert verify.summarise(cell, [0.7, 1.2, 0.64], noisy, 0.10)["verdict"] == "FAIL"    # 0.7, 0.8, 0.8


def test_the_summary_counts_verdicts_and_sets_the_harness_beside_the_referees_own_spread():
    cell = {"task": "mlp", "impl": "torch/eager", "device": "cpu", "size": {}}
    refs = [{"plain_s": p, "timer_s": p} for p in (1.0, 1.5, 0.8)]
    rows = [verify.summarise(cell, h, refs, 0.10) for h in ([1.0, 1.5, 0.8], [1.3, 1.8, 0.8], [1.25, 1.9, 1.0])]
    text = verify.summary({"cells": rows, "tolerance": 0.10, "wall_s": 1.0})
    assert "1 of 3 cells within ±10%, 1 FAIL, 1 unresolved" in text
    assert "harness vs referee 5 of 9" in text and "the referee vs itself (another fresh process, minutes later) 9 of 9" in text
    assert "unresolved: mlp torch/eager" in text


def test_rejudge_judges_a_stored_table_again_and_exits_by_it(tmp_path, capsys):
    cell = {"task": "mlp", "impl": "torch/eager", "device": "cpu", "size": {}}
    refs = [{"plain_s": p, "timer_s": p} for p in (1.0, 1.0, 1.0)]
    table = {"tolerance": 0.5, "pairs": 3, "wall_s": 1.0, "cells": [verify.summarise(cell, [1.3, 1.3, 1.3], refs, 0.5)]}
    (tmp_path / "t.json").write_text(json.dumps(table))
    assert table["cells"][0]["verdict"] == "ok"
    assert main(["verify", "--rejudge", str(tmp_path / "t.json"), "--out", str(tmp_path / "r.json")]) == 1
    again = json.loads((tmp_path / "r.json").read_text())
    assert again["rejudged"] and again["tolerance"] == 0.1 and again["cells"][0]["verdict"] == "FAIL"
    assert main(["verify", "--rejudge", str(tmp_path / "t.json"), "--tolerance", "40"]) == 0
    (tmp_path / "bad.json").write_text("{}")
    assert main(["verify", "--rejudge", str(tmp_path / "bad.json")]) == 2
    assert "not a table that fwbench verify --out wrote" in capsys.readouterr().err


def test_the_referee_shares_no_timing_code_and_no_environment_with_the_harness(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    seen = {}
    real = subprocess.run

    def spy(args, **kw):
        seen["env"] = kw["env"]
        return real(args, **kw)
    monkeypatch.setattr(verify.subprocess, "run", spy)
    cell = runner.make_cells("quick", ["elementwise"], ["numpy/manual"], ["cpu"])[0]
    out = verify.referee(cell, str(runner.ROOT), budget=0.05, timeout=120)
    assert out["plain_s"] > 0 and out["timer_s"] > 0 and out["blocks"] >= 7
    assert "OMP_NUM_THREADS" not in seen["env"] and "FWBENCH_CPUS" not in seen["env"]
    assert not {"bench.run.timing", "bench.run.runner", "bench.run.worker", "bench.run.quiesce"} & set(out["bench_modules"])


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch is not installed")
def test_torchs_timer_times_with_the_threads_of_the_plain_loop():
    """torch.utils.benchmark.Timer runs on 1 thread unless told: the referee tells it the loop's count."""
    cell = runner.make_cells("quick", ["elementwise"], ["torch/eager"], ["cpu"])[0]
    out = verify.referee(cell, str(runner.ROOT), budget=0.05, timeout=120)
    assert out["threads"]["timer"] == out["threads"]["loop"] >= 1


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="no CPU affinity on this platform")
def test_a_pinned_referee_runs_on_the_cpus_it_was_given_and_an_unpinned_one_on_all():
    """reports/evidence/processes/regimes.py pins the referee to one CPU; verify leaves it where the system puts it."""
    cell = runner.make_cells("quick", ["elementwise"], ["numpy/manual"], ["cpu"])[0]
    first = min(os.sched_getaffinity(0))
    assert verify.referee(cell, str(runner.ROOT), budget=0.05, timeout=120, cpus={first})["cpus"] == [first]
    assert verify.referee(cell, str(runner.ROOT), budget=0.05, timeout=120)["cpus"] == sorted(os.sched_getaffinity(0))


def test_verify_fails_a_harness_that_is_20x_off(monkeypatch, tmp_path, capsys):
    real = runner.run_cells

    def slow(*a, **kw):
        records = real(*a, **kw)
        for r in records:
            r["step"]["median_s"] *= 20          # far beyond what a loaded machine does to the referee
        return records
    args = ["verify", "--tasks", "elementwise", "--impls", "numpy/manual", "--pairs", "1",
            "--referee-budget", "0.05", "--tolerance", "150", "--out", str(tmp_path / "v.json")]
    assert main(args) == 0                                # an honest harness is within 150% of the referee
    table = json.loads((tmp_path / "v.json").read_text())
    assert table["cells"][0]["ok"] and table["cells"][0]["ratio"] < 2.5
    monkeypatch.setattr(runner, "run_cells", slow)
    assert main(args) == 1
    assert "FAIL" in capsys.readouterr().out


def test_verify_with_processes_runs_k_workers_and_the_median_of_k_referees(monkeypatch, tmp_path):
    sides, plain, real = [], iter([1.0, 2.0, 9.0] * 2), runner.run_cells

    def spy(cells, sides_, **kw):
        sides.append(len(sides_))
        return real(cells, sides_, **kw)
    monkeypatch.setattr(runner, "run_cells", spy)
    monkeypatch.setattr(verify, "referee", lambda *a, **kw: {"plain_s": next(plain) * 1e-6, "timer_s": None})
    main(["verify", "--tasks", "elementwise", "--impls", "numpy/manual", "--pairs", "2", "--processes", "3",
          "--out", str(tmp_path / "v.json")])
    table = json.loads((tmp_path / "v.json").read_text())
    assert table["processes"] == 3 and sides == [3, 3] and table["cells"][0]["plain_s"] == [2e-6, 2e-6]
    assert verify.combined([{"plain_s": 1.0}, {"error": "referee timed out"}]) == {"error": "referee timed out"}


@pytest.mark.parametrize("args", [["--pairs", "0"], ["--tolerance", "0"], ["--impls", "torch/nope"],
                                  ["--processes", "0"]])
def test_verify_bad_usage_is_one_line_and_exit_2(args):
    out = subprocess.run([sys.executable, "-m", "bench", "verify", *args], capture_output=True, text=True)
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr


def test_a_changed_results_file_does_not_make_the_code_dirty(tmp_path):
    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)
    git("init", "-q")
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "r.json").write_text("{}")
    (tmp_path / "code.py").write_text("x = 1\n")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    assert environment.git(tmp_path)["dirty"] is False
    (tmp_path / "results" / "r.json").write_text('{"new": 1}')
    assert environment.git(tmp_path)["dirty"] is False
    (tmp_path / "code.py").write_text("x = 2\n")
    assert environment.git(tmp_path)["dirty"] is True


def test_the_worker_leaves_the_float64_reference_to_the_runner(monkeypatch):
    """A worker runs only the framework's work before its blocks: the float64 reference, whose freed temporaries
    would retune glibc's malloc for the rest of its process (torch/eager cnn ~20% faster than a user's fresh
    process), is computed by the runner, and its verdict is the one gradcheck.check gives in a user's process."""
    from bench import api, gradcheck
    from bench.run.worker import Worker

    def not_here(*a, **k):
        raise AssertionError("the float64 reference was computed in the worker")

    cell = {"task": "mlp", "impl": "numpy/manual", "device": "cpu", "size": {"n": 16}}
    monkeypatch.setattr(gradcheck, "reference", not_here)
    reply = Worker("numpy", "cpu", 1).prepare({"op": "prepare", "cell": 0, **cell, "seed": 3, "warmup_s": 0.0,
                                               "min_block_s": 0.001})
    monkeypatch.undo()
    assert "error" not in reply and "gradcheck" not in reply
    got = runner.judged(cell, 3, reply["measured"])
    w = api.make("mlp", "numpy/manual", seed=3, n=16)
    w.step()                                             # the worker checks after the first step
    want = gradcheck.check(w)
    assert got["ok"] and got == pytest.approx(want, rel=1e-9)
    wrong = {**reply["measured"], "loss": reply["measured"]["loss"] * 1.01}
    assert not runner.judged(cell, 3, wrong)["ok"]       # the runner's verdict reads what the worker sent
