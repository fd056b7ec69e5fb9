"""`fwbench track`: change points over synthetic histories whose truth is known (no timing asserts)."""
from __future__ import annotations

import json
import re
import sys

import numpy as np
import pytest

import synth
from bench.gate import changes

otava = pytest.importorskip("otava.analysis", reason="needs Apache Otava: pip install --no-deps apache-otava==0.8.0")

CELLS = (("elementwise", "numpy/manual", 2e-5), ("mlp", "torch/eager", 3e-4), ("cnn", "jax/jit", 4e-2))
KEYS = {"cell", "task", "impl", "device", "size", "variant", "index", "run_before", "run_after", "commit_before",
        "commit_after", "ratio", "ci", "p", "new"}


def history(folder, n=16, step=None, at=None, cell=0, noise=0.02, failed=(), machine="synthetic 2-core", seed=0,
            cells=CELLS, shift=None):
    """`n` runs of CELLS on `machine`, each run's medians moved by lognormal run-to-run `noise`; from run `at` on,
    cell number `cell` is `step` times slower; `failed`: runs where that cell failed. Files are named in reverse
    order of creation (the order must come from `created`). `shift`: (factor, from run, to run) by which every
    numpy cell of a run is slower, as a busy machine makes a worker process."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        made = []
        for j, (task, impl, base) in enumerate(cells):
            level = base * float(np.exp(rng.normal(0.0, noise))) * (step if j == cell and at is not None
                                                                    and i >= at else 1.0)
            if shift and impl.startswith("numpy/") and shift[1] <= i < shift[2]:
                level *= shift[0]
            status = "failed" if j == cell and i in failed else "ok"
            made.append(synth.cell(task, impl, level, status=status, reason="boom" if status != "ok" else None,
                                    seed=seed * 1000 + i * 10 + j, rel_noise=0.02))
        synth.write(folder / f"{machine.split()[0]}-{n - i:02d}.json", made, run_id=f"run-{i:02d}",
                    created=f"2031-01-01T{i // 60:02d}:{i % 60:02d}:00+00:00", machine=machine,
                    git={"commit": f"{i:02d}" + "c" * 38, "dirty": False})
    return folder


def track(*args):
    return synth.fwbench("track", *args)


def report(tmp_path, *args):
    code, out, err = track(*args, "--json", tmp_path / "t.json", "--markdown", tmp_path / "t.md")
    assert code in (0, 1), err
    data = json.loads((tmp_path / "t.json").read_text())
    assert data["exit"] == code
    return data


def test_flat_noisy_history_has_no_change_point(tmp_path):
    data = report(tmp_path, history(tmp_path / "runs"))
    assert data["changes"] == [] and data["exit"] == 0
    assert set(data) == {"kind", "machine", "runs", "changes", "exit"} and data["kind"] == "track"
    assert [r["run_id"] for r in data["runs"]] == [f"run-{i:02d}" for i in range(16)]     # oldest first
    assert set(data["runs"][0]) == {"file", "run_id", "created", "commit"}
    assert data["runs"][3]["commit"] == "03" + "c" * 38
    assert ":white_check_mark:" in (tmp_path / "t.md").read_text()


def test_step_of_25_percent_is_found_where_it_starts(tmp_path):
    data = report(tmp_path, history(tmp_path / "runs", step=1.25, at=8, cell=1))
    assert len(data["changes"]) == 1, data["changes"]
    c = data["changes"][0]
    assert set(c) == KEYS
    assert (c["task"], c["impl"], c["index"]) == ("mlp", "torch/eager", 8)
    assert (c["run_before"], c["run_after"]) == ("run-07", "run-08")
    assert (c["commit_before"], c["commit_after"]) == ("07" + "c" * 38, "08" + "c" * 38)
    assert c["ci"][0] < 1.25 < c["ci"][1] and c["ci"][0] <= c["ratio"] <= c["ci"][1]
    assert c["p"] < changes.MAX_PVALUE and c["new"] is False and data["exit"] == 0
    assert c["cell"].startswith("mlp ") and "torch/eager" in c["cell"]


def test_a_step_in_the_newest_runs_is_new_and_exits_1(tmp_path):
    runs = history(tmp_path / "runs", step=1.25, at=14, cell=0)
    data = report(tmp_path, runs)
    assert [(c["index"], c["new"]) for c in data["changes"]] == [(14, True)] and data["exit"] == 1
    assert "NEW" in (tmp_path / "t.md").read_text() and ":x:" in (tmp_path / "t.md").read_text()
    data = report(tmp_path, runs, "--last", "2")
    assert data["exit"] == 1
    data = report(tmp_path, runs, "--last", "1")            # run 14 of 0..15 is not within the last one
    assert [(c["index"], c["new"]) for c in data["changes"]] == [(14, False)] and data["exit"] == 0


def test_failed_runs_are_gaps_not_points(tmp_path):
    data = report(tmp_path, history(tmp_path / "runs", step=1.25, at=8, cell=2, failed=(3, 8, 12)))
    assert len(data["changes"]) == 1
    c = data["changes"][0]
    assert (c["index"], c["run_before"], c["run_after"]) == (9, "run-07", "run-09")   # run 8 failed
    assert c["ci"][0] < 1.25 < c["ci"][1]


def test_improvement_is_a_change_point_too(tmp_path):
    data = report(tmp_path, history(tmp_path / "runs", step=0.8, at=6, cell=0))
    assert [(c["index"], round(c["ratio"], 1)) for c in data["changes"]] == [(6, 0.8)]


def test_ratio_ci_from_segment_medians():
    ratio, lo, hi = changes.ratio_ci([1.0, 1.02, 0.98], [1.5, 1.53, 1.47])
    assert ratio == pytest.approx(1.5) and lo < 1.5 < hi and hi / lo < 1.1
    ratio, lo, hi = changes.ratio_ci([1.0, 1.02, 0.98], [1.5])      # one point after: that side is fixed
    assert ratio == pytest.approx(1.5) and lo <= 1.5 <= hi
    assert changes.ratio_ci([2.0], [3.0]) == pytest.approx((1.5, 1.5, 1.5))


def test_several_machines_need_machine(tmp_path):
    runs = tmp_path / "runs"
    history(runs, n=6, machine="box-a")
    history(runs, n=6, machine="box-b", step=1.5, at=3, noise=0.01)
    code, _, err = track(runs)
    assert code == 2 and "box-a, box-b" in err and "--machine" in err and len(err.strip().splitlines()) == 1
    data = report(tmp_path, runs, "--machine", "box-a")
    assert data["machine"] == "box-a" and len(data["runs"]) == 6 and data["changes"] == []
    code, _, err = track(runs, "--machine", "box-c")
    assert code == 2 and "no run of it" in err and "box-a, box-b" in err


@pytest.mark.parametrize("args,needle", [
    (["nowhere.json"], "no such results file"),
    (["{runs}", "--last", "0"], "--last must be a positive"),
    (["{runs}", "--window", "1"], "--window must be at least 2"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, needle):
    runs = history(tmp_path / "runs", n=4)
    code, _, err = track(*[str(runs) if a == "{runs}" else a for a in args])
    assert code == 2 and needle in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_without_otava_it_says_how_to_install_it(tmp_path, monkeypatch):
    runs = history(tmp_path / "runs", n=4)
    monkeypatch.setitem(sys.modules, "otava.analysis", None)        # importing it now raises ImportError
    code, _, err = track(runs)
    assert code == 2 and "pip install --no-deps apache-otava==0.8.0" in err


def test_history_and_publish_mark_the_change_point(tmp_path):
    runs = history(tmp_path / "runs", step=1.25, at=8, cell=1)
    history(tmp_path / "runs", machine="other-box", seed=3)                    # flat: nothing marked on it
    code, out, err = synth.fwbench("history", runs, "--out", tmp_path / "page")
    assert code == 0, err
    html = (tmp_path / "page" / "history.html").read_text()
    assert html.count('<tr class="change">') == 1 and "mlp" in html.split('<tr class="change">')[1].split("</tr>")[0]
    assert re.search(r"×1\.2\d", html.split('id="trends"')[1])               # the figure's label of the ratio
    code, out, err = synth.fwbench("publish", runs, "--out", tmp_path / "site")
    assert code == 0, err
    site = {m["machine"]: m for m in json.loads((tmp_path / "site" / "site.json").read_text())["machines"]}
    assert site["synthetic 2-core"]["changes"] == 1 and site["other-box"]["changes"] == 0
    page = (tmp_path / "site" / site["synthetic 2-core"]["history"]).read_text()
    assert page.count('<tr class="change">') == 1 and "change point" in (tmp_path / "site" / "index.html").read_text()


NUMPY = tuple((task, "numpy/manual", base) for task, base in
              (("elementwise", 2e-5), ("single_layer", 3e-5), ("mlp", 1e-4), ("cnn", 4e-2))) + CELLS[1:]


def test_a_run_wide_shift_of_a_worker_is_divided_out(tmp_path):
    """Every numpy cell 1.6x slower from run 6 on (a busier machine): no change point, unless --no-shift; a real
    step of one numpy cell among them is still found, at its run."""
    runs = history(tmp_path / "runs", cells=NUMPY, shift=(1.6, 6, 99))
    assert report(tmp_path, runs)["changes"] == []
    code, _, err = synth.fwbench("history", runs, "--out", tmp_path / "page")       # history divides it out too
    assert code == 0 and "no cell's level changed" in (tmp_path / "page" / "history.html").read_text(), err
    raw = report(tmp_path, runs, "--no-shift")["changes"]
    assert [(c["impl"], c["index"]) for c in raw] == [("numpy/manual", 6)] * 4
    runs = history(tmp_path / "step", cells=NUMPY, shift=(1.6, 6, 99), step=1.25, at=12, cell=2)
    found = report(tmp_path, runs)["changes"]
    assert [(c["task"], c["impl"], c["index"]) for c in found] == [("mlp", "numpy/manual", 12)]
    assert found[0]["ci"][0] < 1.25 < found[0]["ci"][1]
