"""`fwbench run` on fakes whose truth is known (bench.fakes): what it measures and what it refuses.

One small run (numpy only, seconds) of: an asynchronous step of known cost that only its sync() completes, a
gradient 0.1% off, a steady-state recompile, and plain numpy/manual.
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench import fakes, registry, results

pytestmark = pytest.mark.xdist_group("fakes")   # one xdist worker: its module fixture runs once

ROOT = Path(__file__).resolve().parent.parent
IMPLS = ("numpy/fake-async", "numpy/fake-grad", "numpy/fake-retrace", "numpy/manual")


@pytest.fixture(scope="module")
def fake_run(tmp_path_factory):
    """(exit code, {impl: cell}) of `fwbench run` over the fakes."""
    out = tmp_path_factory.mktemp("fakes") / "r.json"
    env = {**os.environ, registry.EXTRA_IMPLS_ENV: "bench.fakes"}
    r = subprocess.run([sys.executable, "-m", "bench", "run", "--tasks", "elementwise", "--impls", ",".join(IMPLS),
                        "--devices", "cpu", "--blocks", "4", "--threads", "1", "--out", str(out)],
                       capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert out.exists(), r.stderr
    return r.returncode, {c["impl"]: c for c in results.load(out)["results"]}


def test_a_block_waits_for_sync_and_samples_are_per_step(fake_run):
    _, cells = fake_run
    cell = cells["numpy/fake-async"]
    assert cell["status"] == "ok", cell["reason"]
    step = cell["step"]
    assert step["block"] >= 10                 # >= 10 ms blocks of 0.5 ms steps: a block time is no step time
    assert all(s >= fakes.STEP_S for s in step["samples_s"])        # time.sleep never returns early
    assert fakes.STEP_S <= step["median_s"] < 1.5 * fakes.STEP_S
    # calibrated to >= 10 ms blocks; a loaded machine can fool one calibration reading, and then the short blocks
    # are counted, never hidden
    assert step["block"] * step["median_s"] >= 0.01 or step["short_blocks"] > 0
    assert step["short_blocks"] == sum(s * step["block"] < step["min_block_s"] for s in step["samples_s"])


def test_a_wrong_gradient_fails_the_cell_and_the_run(fake_run):
    rc, cells = fake_run
    assert rc == 1
    cell = cells["numpy/fake-grad"]
    assert cell["status"] == "failed" and "gradient check failed" in cell["reason"]
    assert cell["gradcheck"]["ok"] is False
    assert cell["gradcheck"]["max_rel_err"] == pytest.approx(fakes.GRAD_ERR, rel=1e-3)
    assert cell["step"]["median_s"] > 0             # the numbers are kept, the status says they are wrong


def test_a_steady_state_recompile_fails_the_cell(fake_run):
    _, cells = fake_run
    cell = cells["numpy/fake-retrace"]
    assert cell["traces"]["build"] == 1 and cell["traces"]["steady"] > 0
    assert cell["status"] == "failed" and "recompilation" in cell["reason"]
    good = cells["numpy/manual"]
    assert good["status"] == "ok" and good["reason"] is None and good["gradcheck"]["ok"]


def test_fakes_stay_out_of_the_user_facing_lists(monkeypatch):
    monkeypatch.delenv(registry.EXTRA_IMPLS_ENV, raising=False)
    assert not any("fake" in i for i in registry.known())
    with pytest.raises(ValueError, match="valid implementations"):
        registry.check_impl("numpy/fake-async")
    monkeypatch.setenv(registry.EXTRA_IMPLS_ENV, "bench.fakes")
    assert registry.workload_class("numpy/fake-grad") is fakes.WrongGrad
    assert not any("fake" in i for i in registry.IMPLS)
    out = subprocess.run([sys.executable, "-m", "bench", "list", "--devices", "cpu"], capture_output=True, text=True,
                         cwd=ROOT, env={k: v for k, v in os.environ.items() if k != registry.EXTRA_IMPLS_ENV})
    assert out.returncode == 0 and "numpy/manual" in out.stdout and "fake" not in out.stdout
    assert len(registry.IMPLS) == sum(len(decl["modes"]) for decl in registry.FRAMEWORKS.values())


def test_dev_py_test_keeps_this_module_on_one_xdist_worker(request):
    """`dev.py test` (-n 2 --dist loadgroup) runs this module's real-run fixture once, on one worker; pytest 9.2
    silently dropped the xdist_group (pytest-xdist#1386: the node id no longer takes the group's suffix)."""
    if not getattr(request.config.option, "loadgroup", False):
        pytest.skip("not under pytest-xdist --dist loadgroup")
    assert request.node.nodeid.endswith("@fakes")
