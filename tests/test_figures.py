"""Slide figures: `fwbench report` writes each as 16:9 SVG + PNG with a caption holding the results file's numbers."""
from __future__ import annotations

import re
import struct
from pathlib import Path

import pytest
from synth import cell, fwbench, write

from bench import results
from bench.report import figures
from bench.report.frame import frame
from bench.report.lib import fmt_x, prepare

pytestmark = pytest.mark.xdist_group("report")
ROOT = Path(__file__).resolve().parents[1]
CELLS = [cell("elementwise", "numpy/manual", 6e-6, seed=1),
         cell("elementwise", "torch/eager", 40e-6, seed=2, build_s=1e-6, import_s=1.0),
         cell("elementwise", "tensorflow/eager", 500e-6, seed=3, import_s=3.8),
         cell("elementwise", "tensorflow/session", 50e-6, seed=4, build_s=0.025, import_s=3.8),
         cell("mlp", "jax/eager", 10e-3, seed=5),
         cell("mlp", "jax/jit", 80e-6, seed=6, build_s=0.3),
         cell("mlp", "keras-jax/jit", 480e-6, seed=7, build_s=0.3),
         *[cell("single_layer", impl, t * n / 64, size={"n": n}, seed=8 + k)
           for k, n in enumerate((64, 1024, 16384)) for impl, t in (("numpy/manual", 7e-6), ("torch/eager", 90e-6))]]
NAMES = ["headline", "break-even", "tf10x", "layers", "sweep-single_layer"]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    path = write(tmp_path_factory.mktemp("fig") / "synthetic.json", CELLS)
    out = path.parent / "report"
    code, stdout, err = fwbench("report", path, "--out", out)
    assert code == 0, err
    return path, out / "figures", stdout


def png_size(path) -> tuple[int, int]:
    head = Path(path).read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


def test_every_figure_as_svg_png_and_caption(report):
    _, folder, stdout = report
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"{n}.{e}" for n in NAMES for e in ("svg", "png", "txt"))
    assert "5 slide figures" in stdout
    for name in NAMES:
        w, h = png_size(folder / f"{name}.png")
        assert abs(w / h - 16 / 9) < 0.01 and w >= 1900           # 16:9, sharp on a projector
        svg = (folder / f"{name}.svg").read_text()
        assert svg.lstrip().startswith("<?xml") and "<svg" in svg


def test_captions_hold_the_numbers_and_where_they_come_from(report):
    path, folder, _ = report
    head = (folder / "headline.txt").read_text()
    # tensorflow/session against tensorflow/eager: 500 / 50 µs; jax/jit against jax/eager: 10 ms / 80 µs
    assert f"tensorflow/session on elementwise is {fmt_x(500 / 50)} (95% CI " in head
    assert f"jax/jit on mlp is {fmt_x(10e-3 / 80e-6)} (95% CI " in head
    for words in ("synthetic 2-core", "CPU Synthetic CPU", "torch 2.13.0", "tensorflow 2.21.0", "2026-01-01 00:00 UTC",
                  f"results file: {path}."):
        assert words in head
    assert f"takes {fmt_x(480 / 80)} (95% CI" in (folder / "layers.txt").read_text()
    be = (folder / "break-even.txt").read_text()
    assert f"tensorflow/session on elementwise after {-(-0.025 // (500e-6 - 50e-6)):,.0f} steps" in be
    tf = (folder / "tf10x.txt").read_text()
    assert "TensorFlow Session 46.7 ms" in tf and "tensorflow/session takes" in tf


def test_ci_brackets_the_ratio(tmp_path):
    df = prepare(frame([results.load(write(tmp_path / "x.json", CELLS))]))
    rows = {(r["task"], r["impl"]): r for r in figures.speedups(df)}
    r = rows["elementwise", "tensorflow/session"]
    assert r["lo"] < r["ratio"] < r["hi"] and r["ratio"] == pytest.approx(10, rel=1e-9)
    assert 8 < r["lo"] and r["hi"] < 12.5


def test_figure_from_python_is_16_9(tmp_path):
    from bench.lab import Results
    r = Results.load(write(tmp_path / "x.json", CELLS))
    assert r.figures() == NAMES
    fig = r.figure("headline")
    w, h = fig.get_size_inches()
    assert w / h == pytest.approx(16 / 9, rel=0.01)
    with pytest.raises(ValueError, match="valid figures: headline"):
        r.figure("nope")


def test_committed_headline_matches_the_results_file():
    """docs/assets/headline.txt is the caption rendered from results/cpu-quick.json; re-render it when that changes:
    fwbench report results/cpu-quick.json --out DIR; copy DIR/figures/headline.{svg,md} to docs/assets/."""
    committed = (ROOT / "docs" / "assets" / "headline.txt").read_text()
    data = results.load(ROOT / "results" / "cpu-quick.json")
    df = prepare(frame([("results/cpu-quick.json", data)]))
    assert committed == figures.caption(df, [("results/cpu-quick.json", data)], "headline")
    medians = {(c["task"], c["impl"]): c["step"]["median_s"] for c in data["results"] if c["status"] == "ok"}
    found = re.findall(r"(\S+/\S+) on (\w+) is (\S+)× \(95% CI", committed)
    assert len(found) >= 5
    for impl, task, shown in found:
        eager = impl.split("/")[0] + "/eager"
        assert shown == fmt_x(medians[task, eager] / medians[task, impl]).rstrip("×")
    assert data["run_id"] in committed and (ROOT / "docs" / "assets" / "headline.svg").read_text().count("<svg") == 1
    teaching = " ".join((ROOT / "docs" / "teaching.md").read_text().split())
    quoted = re.findall(r"(\S+/\S+ on \w+ is \S+× \(95% CI [^)]+\))", teaching)      # docs/teaching.md cites it
    assert len(quoted) >= 2 and all(q in committed for q in quoted), quoted
