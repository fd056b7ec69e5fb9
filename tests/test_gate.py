"""The regression gate: compare, ab, history and export on small real results files (no timing asserts)."""
import copy
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench import results
from bench.gate import ab, rules

pytestmark = pytest.mark.xdist_group("gate")   # one xdist worker: its module fixture runs once

ROOT = Path(__file__).resolve().parent.parent


def fwbench(*args):
    """`fwbench ARGS` in this process (fast); stdout, stderr and the exit code as subprocess.run gives them."""
    from synth import fwbench as inproc
    return subprocess.CompletedProcess(args, *inproc(*args))


@pytest.fixture(scope="session")
def run_file(tmp_path_factory):
    """A real quick run of two tiny numpy cells."""
    out = tmp_path_factory.mktemp("gate") / "base.json"
    r = subprocess.run([sys.executable, "-m", "bench", "run", "--tasks", "elementwise,single_layer", "--impls",
                        "numpy/manual", "--devices", "cpu", "--blocks", "7", "--threads", "1", "--out", str(out)],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    return out


def variant(src, dst, scale=None, cell=0, created=None, **env):
    """A copy of a real results file: one cell's samples scaled, environment fields replaced."""
    data = json.loads(Path(src).read_text())
    if scale is not None:
        step = data["results"][cell]["step"]
        step["samples_s"] = [s * scale for s in step["samples_s"]]
        for k in ("median_s", "min_s", "mean_s", "iqr_s"):
            step[k] *= scale
        step["ci95_s"] = [s * scale for s in step["ci95_s"]]
    data["environment"].update(env)
    if created:
        data["created"] = created
    data["run_id"] = Path(dst).stem
    results.write_atomic(dst, data)
    return dst


def verdicts(json_file):
    return {c["name"].split()[0]: c["verdict"] for c in json.loads(Path(json_file).read_text())["cells"]}


def test_compare_aa_is_unchanged(tmp_path):
    """Two files with the same medians and fresh noise (an A/A pair, not a file with itself): nothing flagged."""
    from synth import cell, write
    files = [write(tmp_path / f"{name}.json", [cell("elementwise", "numpy/manual", 2e-5, seed=seed),
                                                cell("cnn", "torch/eager", 4e-2, seed=seed + 1)])
             for name, seed in (("a", 1), ("b", 2))]
    r = fwbench("compare", *files, "--noise", "0", "--json", tmp_path / "v.json", "--markdown", tmp_path / "v.md")
    assert r.returncode == 0, r.stderr
    report = json.loads((tmp_path / "v.json").read_text())
    assert report["kind"] == "compare" and report["exit"] == 0
    assert set(verdicts(tmp_path / "v.json").values()) == {"unchanged"}
    assert all(c["ratio"] != 1.0 for c in report["cells"])        # fresh noise: the medians were compared
    md = (tmp_path / "v.md").read_text()
    assert md.startswith("### :white_check_mark:") and "| cell | base | new |" in md


def test_compare_flags_a_tenfold_slowdown_and_improvement(run_file, tmp_path):
    slow = variant(run_file, tmp_path / "slow.json", scale=10.0, cell=0)
    r = fwbench("compare", run_file, slow, "--json", tmp_path / "v.json", "--markdown", tmp_path / "v.md")
    assert r.returncode == 1, r.stdout + r.stderr
    assert verdicts(tmp_path / "v.json") == {"elementwise": "regression", "single_layer": "unchanged"}
    assert "**regression**" in (tmp_path / "v.md").read_text()
    r = fwbench("compare", slow, run_file, "--json", tmp_path / "v.json")
    assert r.returncode == 0
    assert verdicts(tmp_path / "v.json")["elementwise"] == "improvement"


def test_threshold_raised_to_the_machines_noise(run_file, tmp_path):
    slow = variant(run_file, tmp_path / "slow.json", scale=10.0)
    r = fwbench("compare", run_file, slow, "--noise", "2000", "--json", tmp_path / "v.json")
    assert r.returncode == 0
    report = json.loads((tmp_path / "v.json").read_text())
    assert report["threshold_pct"] == 2000 and "raised to" in report["rule"]
    machine = json.loads(Path(run_file).read_text())["environment"]["machine"]
    noise = tmp_path / "noise.json"
    noise.write_text(json.dumps({"machines": {machine: {"run_to_run_pct": 1500, "by": "a test", "measured": "today",
                                                       "how": "made up for this test"}}}))
    r = fwbench("compare", run_file, slow, "--noise-file", noise, "--json", tmp_path / "v.json")
    assert r.returncode == 0
    assert "measured by a test" in json.loads((tmp_path / "v.json").read_text())["rule"]


def test_environment_differences_are_listed_not_gated(run_file, tmp_path):
    other = variant(run_file, tmp_path / "other.json", scale=10.0, threads=64)
    r = fwbench("compare", run_file, other, "--json", tmp_path / "v.json")
    assert r.returncode == 0
    cells = json.loads((tmp_path / "v.json").read_text())["cells"]
    assert {c["verdict"] for c in cells} == {"environment differs"}
    assert all("threads 1 -> 64" in c["note"] for c in cells)
    r = fwbench("compare", run_file, other, "--ignore-env", "threads", "--json", tmp_path / "v.json")
    assert r.returncode == 1
    assert verdicts(tmp_path / "v.json")["elementwise"] == "regression"


def test_missing_and_failed_cells(run_file, tmp_path):
    data = json.loads(Path(run_file).read_text())
    data["results"] = data["results"][:1]
    data["results"][0].update(status="failed", reason="worker died", step=None)
    results.write_atomic(tmp_path / "broken.json", data)
    r = fwbench("compare", run_file, tmp_path / "broken.json", "--json", tmp_path / "v.json")
    assert r.returncode == 1
    assert verdicts(tmp_path / "v.json") == {"elementwise": "failed in new", "single_layer": "only in base"}


@pytest.mark.parametrize("args,needle", [
    (["compare", "nowhere.json", "nowhere.json"], "no such results file"),
    (["compare", "pyproject.toml", "pyproject.toml"], "not valid JSON"),
    (["compare", "{run}", "{run}", "--threshold", "-3"], "--threshold must be"),
    (["compare", "{run}", "{run}", "--ignore-env", "colour"], "choose from machine, threads"),
    (["compare", "{run}", "{run}", "--noise-file", "nowhere.json"], "no such noise file"),
    (["export", "{run}", "{run}", "--format", "github-action-benchmark"], "the same cell appears"),
    (["export", "{run}", "--format", "csv"], "choose from 'github-action-benchmark'"),
    (["history", "nowhere/", "--out", "x"], "no such results file"),
    (["ab", "--base-python", sys.executable], "give --base-python P --new-python P"),
    (["ab", "--base-python", "/no/python", "--new-python", sys.executable], "not an executable Python"),
    (["ab", "--base-rev", "no-such-rev-xyz", "--new-rev", "HEAD"], "not a commit"),
    (["ab", "--base-rev", "HEAD", "--new-rev", "HEAD", "--processes", "0"], "--processes must be a positive"),
])
def test_bad_input_is_one_line_and_exit_2(run_file, args, needle):
    r = fwbench(*[str(run_file) if a == "{run}" else a for a in args])
    assert r.returncode == 2, r.stdout + r.stderr
    assert needle in r.stderr and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_export_github_action_benchmark(run_file, tmp_path):
    r = fwbench("export", run_file, "--format", "github-action-benchmark", "--out", tmp_path / "gab.json")
    assert r.returncode == 0, r.stderr
    entries = json.loads((tmp_path / "gab.json").read_text())
    cells = [c for c in json.loads(Path(run_file).read_text())["results"] if c["status"] == "ok"]
    assert len(entries) == len(cells)
    e = entries[0]
    assert set(e) == {"name", "unit", "value", "range", "extra"} and e["unit"] == "us/step"
    assert e["value"] == pytest.approx(cells[0]["step"]["median_s"] * 1e6, rel=1e-3)
    assert e["range"].startswith("± ") and "numpy/manual" in e["name"]


def test_history_page_marks_the_regression(run_file, tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    variant(run_file, runs / "2.json", scale=10.0, created="2999-01-01T00:00:00+00:00")
    variant(run_file, runs / "1.json")
    r = fwbench("history", runs, "--out", tmp_path / "page")
    assert r.returncode == 0, r.stderr
    html = (tmp_path / "page" / "history.html").read_text()
    assert "<svg" in html and 'class="regression"' in html and "elementwise" in html
    assert not re.search(r'(src|href)="(https?:)?//', html)            # self-contained: nothing fetched
    assert "1 regression between consecutive runs" in r.stdout


def test_ab_verdict_from_pairwise_ratios(run_file):
    rec = json.loads(Path(run_file).read_text())["results"][0]
    slow = copy.deepcopy(rec)
    slow["step"]["samples_s"] = [s * 1.5 for s in rec["step"]["samples_s"]]
    judge = lambda b, n, pct: ab.judge(b, n, ab.pair_ratios([b], [n]), pct, 0.95)
    assert judge(rec, rec, 5.0)["verdict"] == rules.UNCHANGED
    v = judge(rec, slow, 5.0)
    assert v["verdict"] == rules.REGRESSION and v["ratio"] == pytest.approx(1.5) and v["ratio_ci"][0] > 1
    assert judge(slow, rec, 5.0)["verdict"] == rules.IMPROVEMENT
    assert judge(rec, slow, 60.0)["verdict"] == rules.UNCHANGED
    assert judge(rec, {**rec, "status": "failed", "reason": "boom"}, 5.0)["verdict"] == rules.FAILED_NEW
    merged = ab.merge([{**rec, "side": "base"}, {**slow, "side": "base#2"}])
    assert merged["step"]["processes"] == 2 and "side" not in merged
    assert len(merged["step"]["samples_s"]) == 2 * len(rec["step"]["samples_s"])
    assert ab.merge([rec, {**rec, "status": "failed", "reason": "boom"}])["status"] == "failed"


def _ab_outputs(tmp_path, *side_args, processes=1):
    r = fwbench("ab", *side_args, "--tasks", "elementwise", "--impls", "numpy/manual", "--devices", "cpu",
                "--blocks", "3", "--processes", processes, "--threads", "1", "--out-dir", tmp_path / "sides",
                "--json", tmp_path / "ab.json", "--markdown", tmp_path / "ab.md")
    report = json.loads((tmp_path / "ab.json").read_text())
    assert report["kind"] == "ab" and len(report["cells"]) == 1
    cell = report["cells"][0]
    assert cell["pairs"] == 3 * processes and cell["ratio_ci"][0] <= cell["ratio"] <= cell["ratio_ci"][1]
    sides = {}
    for side in ("base", "new"):
        data = results.load(tmp_path / "sides" / f"{side}.json")
        assert data["ab"]["side"] == side and len(data["results"]) == 1
        sides[side] = data["results"][0]
        assert len(sides[side]["step"]["samples_s"]) == 3 * processes
    # the verdict and the exit code follow from the blocks the side files hold, paired round by round
    ratios = [n / b for b, n in zip(sides["base"]["step"]["samples_s"], sides["new"]["step"]["samples_s"])]
    again = ab.judge(sides["base"], sides["new"], ratios, ab.DEFAULT_THRESHOLD, ab.CONFIDENCE)
    assert (cell["verdict"], cell["ratio"], cell["ratio_ci"]) == (again["verdict"], again["ratio"], again["ratio_ci"])
    assert r.returncode == report["exit"] == int(cell["verdict"] == "regression"), r.stderr
    assert "fwbench ab" in (tmp_path / "ab.md").read_text()
    return report


def test_ab_of_two_pythons_in_two_processes_each(tmp_path):
    _ab_outputs(tmp_path, "--base-python", sys.executable, "--new-python", sys.executable, processes=2)


def test_ab_of_two_revisions(tmp_path):
    has_worker = subprocess.run(["git", "cat-file", "-e", "HEAD:bench/run/worker.py"], cwd=ROOT).returncode == 0
    if not has_worker:
        pytest.skip("HEAD has no bench/run/worker.py yet")
    report = _ab_outputs(tmp_path, "--base-rev", "HEAD", "--new-rev", "HEAD")
    assert report["base"]["how"].startswith("rev HEAD")
    listed = subprocess.run(["git", "worktree", "list"], cwd=ROOT, capture_output=True, text=True).stdout
    assert "fwbench-ab-" not in listed                     # the temporary worktrees are gone


def test_ab_starts_the_workers_of_a_revision_from_before_bench_run(tmp_path):
    from bench.run.worker import worker_module
    assert worker_module(ROOT) == "bench.run.worker"
    assert worker_module(tmp_path) == "bench.worker"          # an older checkout: bench/worker.py


def test_history_keeps_machines_apart(run_file, tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    variant(run_file, runs / "a.json", machine="ci-runner-a")
    variant(run_file, runs / "b.json", scale=10.0, machine="ci-runner-b", created="2999-01-01T00:00:00+00:00")
    r = fwbench("history", runs, "--out", tmp_path / "page")
    assert r.returncode == 0, r.stderr
    html = (tmp_path / "page" / "history.html").read_text()
    assert "<h3>ci-runner-a</h3>" in html and "<h3>ci-runner-b</h3>" in html
    assert "0 regressions" in r.stdout                # a different machine is never a regression
