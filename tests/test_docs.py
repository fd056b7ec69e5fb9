"""The manual builds in strict mode, every file it cites exists, and its figures are the evidence files'."""
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from markupsafe import escape

from bench.gate import manual

ROOT = Path(__file__).resolve().parent.parent
DOCS = sorted((ROOT / "docs").rglob("*.md"))
EVIDENCE = ROOT / "reports" / "evidence"
INDEX = EVIDENCE / "README.md"
# Paths the docs name as files a reader will write, not files of this repository
WRITTEN = {"results/gpu-quick.json", "results/gpu-full.json", "results/old.json", "results/new.json",
           "machines/noise.json", "implementations/toy/__init__.py", "implementations/toy/core.py",
           "implementations/toy/"}
PATH = re.compile(r"(?<![\w./-])((?:bench|tests|reports|results|scripts|implementations|docs|machines|notebooks|\.github|\.ci)"
                  r"/[\w./-]*|[\w-]+\.(?:toml|yml|ini)|LICENSE|Makefile|dev\.py|conftest\.py)")
PLACEHOLDER = re.compile(r"[<>*{}]|\.\.\.|…|XXX")


def spans(text: str) -> list[str]:
    """Inline code spans and link targets of a Markdown text, outside fenced code blocks."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)
    return re.findall(r"`([^`\n]+)`", text) + re.findall(r"\]\(([^)\s]+)\)", text)


def cited(text: str) -> set[str]:
    """The repository paths a Markdown text cites."""
    return {p.rstrip(".") for s in spans(text) for p in PATH.findall(s) if not PLACEHOLDER.search(s)}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    if any(importlib.util.find_spec(m) is None for m in manual.NEEDS):
        pytest.skip("mkdocs, mkdocs-material or mkdocs-gen-files is not installed (pip install -e '.[docs]')")
    out = tmp_path_factory.mktemp("manual") / "site"
    r = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml"),
                        "-d", str(out)], cwd=ROOT, capture_output=True, text=True, env={**os.environ, **manual.QUIET})
    assert r.returncode == 0, r.stderr[-3000:]
    return out


def test_the_manual_builds_in_strict_mode_with_its_generated_pages(built):
    from bench import cli
    page = (built / "reference" / "cli.html").read_text()
    for name in cli.COMMANDS:
        assert f"fwbench {name}" in page, name
    assert "--max-time" in page and "--base-rev" in page                 # each subcommand's own options
    schema = json.loads((ROOT / "bench" / "schema" / "results.schema.json").read_text())
    fields = (built / "reference" / "results-file.html").read_text()
    for name in (*schema["required"], *schema["$defs"]["step"]["required"]):
        assert f"<code>{name}</code>" in fields or f".{name}</code>" in fields, name
    assert "verify-pairs8-zen4.json" in (built / "evidence.html").read_text()


def test_every_page_is_in_the_nav():
    import yaml
    nav = yaml.safe_load((ROOT / "mkdocs.yml").read_text().replace("!!python", ""))["nav"]
    listed = set(re.findall(r"[\w/-]+\.md", json.dumps(nav)))
    generated = {"reference/cli.md", "reference/results-file.md", "evidence.md"}
    assert {p.relative_to(ROOT / "docs").as_posix() for p in DOCS} | generated == listed


@pytest.mark.parametrize("page", [*DOCS, INDEX, ROOT / "README.md"], ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_file_the_docs_cite_exists(page):
    text = page.read_text()
    if page == INDEX:      # its "made by" column gives the commands as run, paths of that day included
        text = "\n".join(line.split(" | ")[0] for line in text.splitlines())
    base = page.parent if page.parent != ROOT else ROOT
    workflows = ROOT / ".github" / "workflows"                  # track.yml, bench.yml by their names
    missing = sorted(p for p in cited(text) - WRITTEN
                     if not any((d / p).exists() for d in (ROOT, base, workflows)))
    if page.name == "README.md" and missing == ["docs/assets/headline.svg"]:
        pytest.skip("docs/assets/headline.svg is not rendered in this checkout")
    assert not missing, f"{page.relative_to(ROOT)} cites missing files: {missing}"


def test_the_evidence_index_lists_every_file_once_and_nothing_else():
    rows = [line.split(" | ")[0] for line in INDEX.read_text().splitlines() if line.startswith("| `reports/")]
    listed = [p for row in rows for p in re.findall(r"`(reports/evidence/[^`]+)`", row)]
    assert len(listed) == len(set(listed))
    files = {f.relative_to(ROOT).as_posix() for f in EVIDENCE.rglob("*") if f.is_file() and f != INDEX}
    covered = {f for f in files if f in listed or any(d.endswith("/") and f.startswith(d) for d in listed)}
    assert covered == files, f"not in reports/evidence/README.md: {sorted(files - covered)}"
    assert all((ROOT / p).exists() for p in listed)


def test_reports_holds_the_report_and_one_evidence_folder():
    assert sorted(p.name for p in (ROOT / "reports").iterdir()) == \
        ["evidence", "index.html", "report.md", "report.tex", "results.csv"]


def test_the_verify_table_is_the_evidence_files():
    from bench.run import verify
    text = (ROOT / "docs" / "measuring.md").read_text()
    after = text.split("<!-- verify-table -->")[1].split("\n| task |")[1]      # the first table after the marker
    table = [line for line in after.split("\n\n")[0].splitlines() if line.startswith("| ")]
    judged = {name: verify.rejudge(EVIDENCE / "verify" / name, 0.1) for name in
              ("verify-pairs8-zen4.json", "verify-compile-pairs5-zen4.json")}
    rendered = "\n".join(verify.markdown(t) for t in judged.values()).splitlines()
    assert len(table) == 32 and all(row in rendered for row in table), [r for r in table if r not in rendered]
    summary = verify.summary(judged["verify-pairs8-zen4.json"])
    assert "23 of 30 cells within ±10%, 4 FAIL, 3 unresolved" in summary and "(median): 1.022" in summary
    assert "**23 of 30 cells within ±10%, 4 FAIL, 3 unresolved; the median of harness/referee is 1.022.**" in text
    assert "375 of 840" in summary and "375 of 840 comparisons" in text


def test_the_gate_figures_are_the_evidence_files():
    text = " ".join((ROOT / "docs" / "gates.md").read_text().split())
    zen4 = json.loads((EVIDENCE / "gate" / "aa-evidence-zen4.json").read_text())
    aa, inj = zen4["compare_aa"], zen4["compare_inject"]
    assert f"A/A **{aa['flagged']} of {aa['cells']}** flagged ({aa['inconclusive']} inconclusive; " \
           f"{aa['flagged_without_shift']} without the shift)" in text
    assert f"caught in **{inj['25']['detected']} of {inj['25']['reps']}**, 10% in {inj['10']['detected']} of" in text
    pairs = aa["threshold_pct"] + inj["25"]["threshold_pct"] + inj["10"]["threshold_pct"]
    assert f"The pairs' thresholds were {min(pairs):.0f}–{max(pairs):.0f}%." in text


FOUND = ("The slide's 14× is not reproduced here",          # README's findings, each phrase as the report reads
         "timed the slide's way, tensorflow/session takes 29.9 ms against torch/eager's 6.56 ms: 4.6×",
         "82% of it is the build (24.7 ms)", "In steady state its step is 70.7 µs against 43 µs: 1.6× slower",
         "18 of 22 graph-mode cells beat their eager twin per step",
         "tensorflow/session on cnn spends 69.7 ms building, then saves 15.5 ms per step, so it is ahead after 5 steps",
         "tensorflow/function on elementwise, after 465 steps",
         "keras-jax/jit takes 1× (cnn) to 37× (single_layer) the time of jax/jit per step",
         "77 task × implementation pairs checked against a float64 reference")


@pytest.fixture(scope="module")
def readings():
    """What the report of the published runs reads, at a glance, computed from the results files now."""
    from bench import results
    from bench.report import render
    from bench.report.frame import frame
    runs = [(p, results.load(ROOT / p)) for p in ("results/cpu-quick.json", "results/cpu-full.json")]
    return " ".join(" ".join(k for _, _, k in render.context(frame(runs), runs, "x")["glance"]).split())


def test_readme_is_a_front_door_whose_findings_are_the_published_results(readings):
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 150
    assert "python3 dev.py test" in readme                                       # .ci/run runs it
    found = " ".join(readme.split("<!-- found:begin -->")[1].split("<!-- found:end -->")[0].split())
    for phrase in FOUND:
        assert phrase in found, f"README's findings no longer say: {phrase}"
        assert phrase in readings, f"the published results no longer read: {phrase}"
        found = found.replace(phrase, "")
    assert not re.search(r"\d", found.replace("2-core", "")), f"a figure in README's findings is not checked: {found}"


def test_the_slides_page_quotes_the_published_results(readings):
    page = " ".join((ROOT / "docs" / "slides.md").read_text().split())
    for phrase in FOUND[:4]:
        assert phrase in page and phrase in readings, phrase


def test_the_worked_example_is_the_folder_the_tests_add():
    from test_frameworks import TOY_CORE, TOY_INIT
    page = (ROOT / "docs" / "adding-a-framework.md").read_text()
    assert TOY_INIT.strip() in page and TOY_CORE.strip() in page


def test_the_manual_says_why_it_is_not_in_a_site(tmp_path, monkeypatch):
    assert "from a checkout" in manual.build(tmp_path / "docs", root=tmp_path)["note"]     # an installed wheel
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mkdocs" else real(name, *a))
    note = manual.build(tmp_path / "docs")["note"]
    assert "pip install -e '.[docs]'" in note and not (tmp_path / "docs").exists()
    from bench.gate import publish
    index = {"title": "t", "machines": [], "manual": {"note": note}}
    assert str(escape(note)) in publish.render_index(index)         # as jinja escapes it


def test_the_tracking_page_shows_the_evidence_figure():
    shown = ROOT / "docs" / "assets" / "changepoints-quiet-figure.svg"
    assert shown.read_bytes() == (EVIDENCE / "tracking" / "changepoints-quiet-figure.svg").read_bytes()
