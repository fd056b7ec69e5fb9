"""`fwbench report`: real tiny results file in, HTML + exports out; bad input exits 2; renders in Chromium."""
from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.cli import main

pytestmark = pytest.mark.xdist_group("report")   # one xdist worker: its module fixture runs once

SECTIONS = ("headline", "tf10x", "graph", "sweep", "gradients", "efficiency", "source", "environment")
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def results_file(tmp_path_factory):
    """A real results file from `fwbench run` (numpy only: seconds), with two sizes for the sweep."""
    import importlib.util
    if importlib.util.find_spec("bench.run.runner") is None:
        pytest.skip("bench.run.runner (fwbench run) is not in this checkout")
    path = tmp_path_factory.mktemp("run") / "results.json"
    cmd = [sys.executable, "-m", "bench", "run", "--tasks", "elementwise,single_layer",
           "--impls", "numpy/manual", "--devices", "cpu", "--blocks", "4", "--threads", "1", "--out", str(path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=Path(__file__).parents[1])
    assert proc.returncode == 0, proc.stderr[-2000:]
    return path


@pytest.fixture(scope="module")
def report_dir(results_file, tmp_path_factory):
    """The report of that results file."""
    out = tmp_path_factory.mktemp("rep") / "report"
    assert main(["report", str(results_file), "--out", str(out)]) == 0
    return out


def test_frame_one_row_per_cell(results_file):
    from bench.report.frame import COLUMNS, load_frame
    df, runs = load_frame([results_file])
    data = json.loads(results_file.read_text())
    assert list(df.columns) == list(COLUMNS)
    assert len(df) == len(data["results"]) and len(runs) == 1
    ok = df[df["status"] == "ok"]
    assert len(ok) and (ok["median_s"] > 0).all()
    assert (ok["ci_lo_s"] <= ok["median_s"]).all() and (ok["median_s"] <= ok["ci_hi_s"]).all()
    assert set(df["framework"]) == {"numpy"} and set(df["machine"]) == {data["environment"]["machine"]}


def test_report_writes_every_output(report_dir, results_file):
    assert sorted(p.name for p in report_dir.iterdir()) == ["figures", "index.html", "report.md", "report.tex",
                                                            "results.csv"]
    html = (report_dir / "index.html").read_text()
    for sid in SECTIONS:
        assert f'<section id="{sid}">' in html
    assert html.count("<svg") >= 2                      # inline plots
    run_id = json.loads(results_file.read_text())["run_id"]
    assert run_id in html and "@misc{" in html
    tex = (report_dir / "report.tex").read_text()
    assert tex.startswith("%") and r"\toprule" in tex and r"\end{document}" in tex
    md = (report_dir / "report.md").read_text()
    assert "## 1. Headline" in md and "| numpy/manual |" in md
    import pandas as pd
    csv = pd.read_csv(report_dir / "results.csv")
    assert len(csv) == len(json.loads(results_file.read_text())["results"])


def test_html_is_self_contained(report_dir):
    html = (report_dir / "index.html").read_text()
    assert "<script" not in html and "@import" not in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", html)


def test_several_files_get_a_machine_column(results_file, tmp_path):
    other = json.loads(results_file.read_text())
    other["environment"]["machine"] = "second machine"
    other["run_id"] += "-b"
    second = tmp_path / "second.json"
    second.write_text(json.dumps(other))
    out = tmp_path / "both"
    assert main(["report", str(results_file), str(second), "--out", str(out)]) == 0
    html = (out / "index.html").read_text()
    assert "second machine · CPU" in html and other["run_id"] in html
    import pandas as pd
    assert pd.read_csv(out / "results.csv")["machine"].nunique() == 2


@pytest.mark.parametrize("content", [None, "{not json", '{"schema": 1}', '{"schema": 99, "run_id": "x", '
                                     '"created": "", "environment": {}, "harness": {}, "results": []}'])
def test_bad_input_exits_2_and_writes_nothing(tmp_path, capsys, content):
    bad = tmp_path / "bad.json"
    if content is not None:
        bad.write_text(content)
    out = tmp_path / "out"
    assert main(["report", str(bad), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "bad.json" in err
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == (["bad.json"] if content is not None else [])


def test_bad_input_leaves_an_existing_report_alone(report_dir, tmp_path):
    out = tmp_path / "kept"
    shutil.copytree(report_dir, out)
    before = {str(p): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert main(["report", str(tmp_path / "missing.json"), "--out", str(out)]) == 2
    assert {str(p): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_break_even_steps():
    from bench.report.graph import break_even_steps
    assert break_even_steps(1.0, 0.003, 0.001) == 500
    assert break_even_steps(1.0, 0.001, 0.002) is None      # graph step slower: never
    assert break_even_steps(None, 0.003, 0.001) is None


def _browser():
    """playwright's sync API, or a skip naming what is missing."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} not found (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install playwright; never `playwright install`)")
    return sync_playwright


def test_renders_in_chromium(report_dir, tmp_path):
    sync_playwright = _browser()
    errors, external = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("console", lambda m: errors.append(m.text) if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", lambda r: external.append(r.url) if not r.url.startswith(("file:", "data:")) else None)
        page.goto((report_dir / "index.html").as_uri())
        visible = {sid: page.locator(f"section#{sid} h2").is_visible() for sid in SECTIONS}
        plots = page.locator("figure.plot svg").count()
        shot = tmp_path / "report.png"
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    assert errors == [] and external == []
    assert all(visible.values()), visible
    assert plots >= 2
    from PIL import Image
    im = Image.open(shot).convert("L")
    assert im.width == 1280 and 3000 < im.height < 60000
    lo, hi = im.getextrema()
    assert hi - lo > 150                                      # text on a background, not a blank page
    assert len(im.histogram()) == 256 and sum(1 for n in im.histogram() if n) > 50


def test_efficiency_states_the_measured_peak_before_the_theoretical(report_dir, results_file):
    cpu = json.loads(results_file.read_text())["environment"]["cpu"]
    md = (report_dir / "report.md").read_text()
    section = md[md.index("Efficiency"):]
    measured, theoretical = section.find("measured: "), section.find("theoretical: ")
    assert cpu["peak_measured_gflops"] and 0 <= measured < theoretical
    assert f"{cpu['peak_measured_gflops']:.0f} GFLOP/s" in section
    assert "of measured peak" in section


def test_a_cell_from_several_processes_shows_their_spread(tmp_path):
    import synth
    from bench.report.frame import load_frame
    many, one = synth.cell("mlp", "torch/eager", 300e-6), synth.cell("mlp", "numpy/manual", 100e-6)
    many["step"].update(processes=[{"median_s": s, "block": 40, "iqr_s": 1e-6} for s in (261e-6, 300e-6, 429e-6)],
                        process_spread=429 / 261)
    path = synth.write(tmp_path / "r.json", [many, one])
    df, _ = load_frame([path])
    rows = df.set_index("impl")
    assert rows.loc["torch/eager", "processes"] == 3 and abs(rows.loc["torch/eager", "process_spread"] - 1.644) < 1e-3
    assert rows.loc["numpy/manual", "processes"] == 1 and math.isnan(rows.loc["numpy/manual", "process_spread"])
    code, _, err = synth.fwbench("report", path, "--out", tmp_path / "rep")
    assert code == 0, err
    html = (tmp_path / "rep" / "index.html").read_text()
    assert "3 processes: the slowest&#39;s median 1.6× the fastest&#39;s" in html
