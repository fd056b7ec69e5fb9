"""`pytest --benchmark` on fakes of known cost and one real cell, in a fresh pytest process: the cells are timed by
fwbench run's workers (that process imports no framework), selected with -k, failed or skipped with their reason,
and handed to pytest-benchmark (--benchmark-json, `pytest-benchmark compare`) and to a results file (--fwbench-out)."""
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from bench import api, fakes, registry, results
from bench.run import pytest_grid

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.xdist_group("pytest-benchmark")   # one xdist worker: its module fixture runs once
# the pytest process of `pytest --benchmark`: what it has imported once its session is over (beyond the test hook,
# bench.fakes, whose numpy/manual base is imported here by the hook itself, not by the grid)
SESSION = """
import json, sys
import bench.fakes, pytest
from bench.run.pytest_grid import framework_modules
before = set(sys.modules)
rc = pytest.main(sys.argv[1:])
print("FRAMEWORKS=" + json.dumps([m for m in framework_modules(sys.modules) if m not in before]))
sys.exit(rc)
"""
IMPLS = ["numpy/fake-async", "numpy/fake-grad", "numpy/fake-retrace", "torch/eager"]
BLOCKS = 4


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    """One `pytest --benchmark` over elementwise x IMPLS x {cpu, gpu}, -k leaving out three GPU cells."""
    tmp = tmp_path_factory.mktemp("pytest-benchmark")
    paths = {"json": tmp / "P.json", "out": tmp / "results.json", "junit": tmp / "junit.xml"}
    argv = ["--benchmark", "tests/test_benchmark.py", "-q", "-p", "no:cacheprovider",
            "--fwbench-tasks", "elementwise", "--fwbench-impls", ",".join(IMPLS), "--fwbench-devices", "cpu,gpu",
            "--fwbench-blocks", str(BLOCKS), "-k", "cpu or fake-async-gpu", f"--benchmark-json={paths['json']}",
            "--fwbench-out", str(paths["out"]), f"--junitxml={paths['junit']}"]
    # a fresh session, not an xdist worker: pytest-benchmark reads PYTEST_XDIST_WORKER and then writes no JSON
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST")}
    env[registry.EXTRA_IMPLS_ENV] = "bench.fakes"
    p = subprocess.run([sys.executable, "-c", SESSION, *argv], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=600)
    line = [s for s in p.stdout.splitlines() if s.startswith("FRAMEWORKS=")]
    assert line, p.stdout[-3000:] + p.stderr[-3000:]
    outcomes = {}
    for case in ET.parse(paths["junit"]).getroot().iter("testcase"):
        bad = case.find("failure") if case.find("failure") is not None else case.find("skipped")
        outcomes[case.get("name")] = ("passed", "") if bad is None else (bad.tag, bad.get("message") or "")
    return {"rc": p.returncode, "log": p.stdout + p.stderr, "imported": json.loads(line[0].split("=", 1)[1]),
            "outcomes": outcomes, **paths}


def test_the_pytest_process_imports_no_framework(session):
    assert session["outcomes"]["test_step[elementwise-torch/eager-cpu]"][0] == "passed", session["log"][-3000:]
    assert session["imported"] == []


def test_framework_modules_names_frameworks_and_implementation_code_not_declarations():
    assert pytest_grid.framework_modules(["torch._C", "jax", "implementations.torch.core", "implementations.torch",
                                          "implementations", "implementations.numpy.cnn", "numpy", "bench.run"]) == [
        "implementations.torch.core", "jax", "torch._C"]


def test_cell_ids_are_task_impl_device_and_unique_in_the_full_profile():
    quick = [pytest_grid.cell_id(c) for c in pytest_grid.cells(pytest_grid.run_args({"profile": "quick", "blocks": None}))]
    assert "cnn-torch/eager-cpu" in quick and len(quick) == len(set(quick))
    full = [pytest_grid.cell_id(c) for c in pytest_grid.cells(pytest_grid.run_args({"profile": "full", "blocks": None,
                                                                                    "devices": "cpu"}))]
    assert "cnn-batch=4-torch/eager-cpu" in full and "cnn-torch/eager-cpu" in full and len(full) == len(set(full))


def test_minus_k_selects_the_cells_that_are_timed(session):
    timed = {(r["impl"], r["device"]) for r in results.load(session["out"])["results"]}
    assert timed == {(impl, "cpu") for impl in IMPLS} | {("numpy/fake-async", "gpu")}
    assert len(session["outcomes"]) == 5


def test_broken_cells_fail_with_their_reason_and_absent_ones_skip(session, monkeypatch):
    out = session["outcomes"]
    assert out["test_step[elementwise-numpy/fake-async-cpu]"] == ("passed", "")
    kind, why = out["test_step[elementwise-numpy/fake-grad-cpu]"]
    assert kind == "failure" and "gradient check failed" in why
    kind, why = out["test_step[elementwise-numpy/fake-retrace-cpu]"]
    assert kind == "failure" and "recompilation" in why
    monkeypatch.setenv(registry.EXTRA_IMPLS_ENV, "bench.fakes")
    reason = api.skip_reason("numpy/fake-async", "gpu", "elementwise")
    if reason:
        assert out["test_step[elementwise-numpy/fake-async-gpu]"] == ("skipped", reason)
    assert session["rc"] == 1


def test_benchmark_json_holds_each_block_of_the_workers(session):
    data = json.loads(session["json"].read_text())
    cells = {(r["impl"], r["device"]): r for r in results.load(session["out"])["results"]}
    bench = {b["name"]: b for b in data["benchmarks"]}
    assert set(bench) == {"test_step[elementwise-numpy/fake-async-cpu]", "test_step[elementwise-torch/eager-cpu]"}
    for b in bench.values():
        rec = cells[(b["extra_info"]["impl"], "cpu")]
        assert b["group"] == "elementwise" and b["options"]["timer"] == "block_clock"
        assert b["extra_info"] == pytest_grid.extra_info(rec)
        assert b["stats"]["rounds"] == BLOCKS and b["stats"]["iterations"] == rec["step"]["block"]
        assert b["stats"]["data"] == pytest.approx(rec["step"]["samples_s"], rel=1e-9)   # round r = block r
        assert b["stats"]["median"] == pytest.approx(rec["step"]["median_s"], rel=1e-9)
    fake = bench["test_step[elementwise-numpy/fake-async-cpu]"]["stats"]
    assert fakes.STEP_S <= fake["min"] and fake["median"] < 1.5 * fakes.STEP_S     # the sync is inside each block


def test_pytest_benchmark_compare_reads_the_json(session):
    p = subprocess.run([sys.executable, "-m", "pytest_benchmark", "compare", str(session["json"])],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "test_step[elementwise-numpy/fake-async-cpu]" in p.stdout and "Median" in p.stdout


def test_fwbench_out_is_a_results_file_of_the_session(session):
    data = results.load(session["out"])         # validated against the results schema
    assert data["command"].startswith("pytest --benchmark tests/test_benchmark.py")
    assert data["harness"]["blocks"] == BLOCKS and data["harness"]["order"] == "interleaved"
    assert {r["status"] for r in data["results"]} == {"ok", "failed", "skipped"}


def test_plain_pytest_deselects_the_grid_and_benchmark_only_the_grid():
    p = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                        "tests/test_benchmark.py", "tests/test_pytest_benchmark.py"], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert "test_step[" not in p.stdout and "test_minus_k" in p.stdout
    p = subprocess.run([sys.executable, "-m", "pytest", "--benchmark", "--collect-only", "-q", "-p", "no:cacheprovider",
                        "tests/test_benchmark.py", "tests/test_pytest_benchmark.py"], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert "test_step[cnn-torch/eager-cpu]" in p.stdout and "test_minus_k" not in p.stdout


@pytest.mark.parametrize("order,expected", [("interleaved", ["elementwise", "single_layer", "single_layer", "elementwise"]),
                                            ("sequential", ["elementwise", "elementwise", "single_layer", "single_layer"])])
def test_run_cells_orders_the_blocks(order, expected):
    """--fwbench-order: fwbench run's rounds (in order, then reversed), or all blocks of one cell, then the next."""
    import io
    from bench.run import runner
    from bench.run.progress import Progress
    seen = []

    class Log(Progress):
        def phase(self, cell, what):
            if what.startswith("steady block"):
                seen.append(cell.split()[0])

    cells = runner.make_cells("quick", ["elementwise", "single_layer"], ["numpy/manual"], ["cpu"])
    records = runner.run_cells(cells, threads=1, blocks=2, progress=Log(io.StringIO(), live=False), order=order)
    assert seen == expected and all(len(r["step"]["samples_s"]) == 2 for r in records)
    with pytest.raises(ValueError, match="sequential"):
        runner.run_cells(cells, threads=1, blocks=2, order="sequential", until=runner.Until(lambda s: True, 2, 0.0))


def test_an_unknown_fwbench_option_value_is_a_one_line_usage_error():
    p = subprocess.run([sys.executable, "-m", "pytest", "--benchmark", "tests/test_benchmark.py", "-q",
                        "-p", "no:cacheprovider", "--fwbench-impls", "torch/nope"], cwd=ROOT, capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 4, p.stdout + p.stderr          # pytest's exit code for a usage error
    assert "unknown implementation 'torch/nope'; valid implementations:" in p.stderr
    assert "Traceback" not in p.stderr
