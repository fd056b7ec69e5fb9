"""`fwbench publish`: a site from synthetic runs of two machines; machines never mix; links resolve in Chromium."""
from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

import synth
from bench import results

pytestmark = pytest.mark.xdist_group("publish")   # one xdist worker: its module fixture runs once

CHROMIUM = "/usr/bin/chromium"
CELLS = ((("elementwise", {"shape": [3, 4], "op": "mul"}), "numpy/manual", 2e-5),
         (("elementwise", {"shape": [3, 4], "op": "mul"}), "torch/eager", 4e-5),
         (("mlp", {"n": 500, "hidden": [5, 3, 4]}), "numpy/manual", 1e-4))


def synthetic(folder: Path, machine: str, day: int, scale: float = 1.0, profile: str = "quick",
              only: int | None = None) -> Path:
    """A results file of CELLS on `machine`, taken on day `day` of a month, steps `scale` times the base (every
    cell, or only cell number `only`: compare divides a shift common to a framework's cells out)."""
    rng = np.random.default_rng(day * 7919 + len(machine))
    cells = []
    for k, ((task, size), impl, base) in enumerate(CELLS):
        samples = base * (scale if only in (None, k) else 1.0) * (1 + 0.01 * rng.standard_normal(16))
        q1, med, q3 = np.percentile(samples, [25, 50, 75])
        cells.append({"task": task, "impl": impl, "device": "cpu", "size": size, "variant": None, "status": "ok",
                      "reason": None,
                      "phases": {"import_s": 0.1, "setup_s": 0.01, "build_s": 0.0, "first_step_s": base},
                      "step": {"median_s": med, "iqr_s": q3 - q1, "min_s": samples.min(), "mean_s": samples.mean(),
                               "ci95_s": [np.percentile(samples, 40), np.percentile(samples, 60)],
                               "samples_s": samples.tolist(), "noisy": False, "block": 100},
                      "traces": {"build": 0, "steady": 0}, "retrace": None,
                      "gradcheck": {"max_rel_err": 1e-8, "loss_rel_err": 1e-8, "tol": 1e-5, "ok": True},
                      "memory": {"peak_rss_bytes": 40_000_000, "gpu_peak_bytes": None}, "flops": 72})
    run_id = f"{machine}-{day:02d}-{profile}"
    data = {"schema": 1, "run_id": run_id, "created": f"2031-01-{day:02d}T12:00:00+00:00", "profile": profile,
            "environment": {**synth.ENV, "machine": machine, "threads": 1,
                            "frameworks": {"numpy": "2.0.0", "torch": "2.13.0"},
                            "git": {"commit": f"{day:02d}" + "a" * 38, "dirty": False}, "python": "3.11.7",
                            "cpu": {"model": machine, "cores_physical": 2, "peak_gflops": None}, "gpus": []},
            "harness": dict(synth.HARNESS), "results": cells}
    return results.write_atomic(folder / f"{run_id}.json", data)


fwbench = synth.fwbench


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Runs of two machines taken in turns (a1, b1, a2, b2); machine b is ten times slower than a."""
    folder = tmp_path_factory.mktemp("runs")
    (folder / "a").mkdir()
    synthetic(folder / "a", "machine-a", 1)
    synthetic(folder, "machine-b", 2, scale=10.0)
    synthetic(folder / "a", "machine-a", 3)
    synthetic(folder, "machine-b", 4, scale=10.0)
    return folder


@pytest.fixture(scope="module")
def site(runs, tmp_path_factory):
    out = tmp_path_factory.mktemp("pub") / "site"
    code, stdout, err = fwbench("publish", runs, "--out", out)
    assert code == 0, err
    return out


def index(site: Path) -> dict:
    return {m["machine"]: m for m in json.loads((site / "site.json").read_text())["machines"]}


def test_two_machines_are_never_mixed(site):
    machines = index(site)
    assert set(machines) == {"machine-a", "machine-b"}
    for name, other in (("machine-a", "machine-b"), ("machine-b", "machine-a")):
        m = machines[name]
        days = (3, 1) if name == "machine-a" else (4, 2)
        assert [r["run_id"] for r in m["runs"]] == [f"{name}-{d:02d}-quick" for d in days]
        page = (site / m["history"]).read_text()
        assert f"{name}-" in page and f"{other}-" not in page       # its trend holds its own runs only
        verdict = m["latest"][0]["verdict"]
        assert verdict["against"] == m["runs"][1]["run_id"]          # previous run of the same machine
        assert verdict["exit"] == 0 and m["regressions"] == 0        # b is 10x slower than a: never a regression


def test_latest_report_and_downloads(site, runs):
    for m in index(site).values():
        latest = m["latest"][0]
        assert latest["run_id"] == m["runs"][0]["run_id"]
        assert latest["run_id"] in (site / latest["report"]).read_text()
        for r in m["runs"]:
            assert (site / r["href"]).read_bytes() == next(runs.rglob(r["file"])).read_bytes()


class Links(HTMLParser):
    """Every href and src of a page."""

    def __init__(self):
        super().__init__()
        self.links = []

    def handle_starttag(self, tag, attrs):
        self.links += [v for k, v in attrs if k in ("href", "src") and v]


def test_every_link_resolves_inside_the_site(site):
    pages, seen = [site / "index.html"], set()
    while pages:
        page = pages.pop()
        if page in seen:
            continue
        seen.add(page)
        parser = Links()
        parser.feed(page.read_text())
        for link in parser.links:
            assert not re.match(r"(https?:)?//", link), f"{page.name} fetches {link}"
            target = link.split("#")[0]
            if not target:
                continue
            path = (page.parent / target).resolve()
            assert path.is_file(), f"{page.relative_to(site)} links to missing {link}"
            if path.suffix == ".html":
                pages.append(path)
    reports = [p for p in seen if p.relative_to(site).parts[0] != "docs"]
    assert len(reports) == 5                  # index, two histories, two latest reports; and the manual, if built
    assert (site / "docs" / "index.html" in seen) == ("href" in json.loads((site / "site.json").read_text())["manual"])


def test_a_regression_is_flagged_on_its_own_machine(tmp_path):
    synthetic(tmp_path / "runs", "machine-a", 1)
    synthetic(tmp_path / "runs", "machine-a", 3, scale=3.0, only=0)
    synthetic(tmp_path / "runs", "machine-b", 2)
    synthetic(tmp_path / "runs", "machine-b", 4)
    code, stdout, err = fwbench("publish", tmp_path / "runs", "--out", tmp_path / "site")
    assert code == 0, err
    machines = index(tmp_path / "site")
    a, b = machines["machine-a"]["latest"][0]["verdict"], machines["machine-b"]["latest"][0]["verdict"]
    assert a["exit"] == 1 and b["exit"] == 0
    assert [(c["task"], c["impl"], c["verdict"]) for c in a["cells"]] == [("elementwise", "numpy/manual", "regression")]
    assert "regression" in (tmp_path / "site" / a["markdown"]).read_text()
    assert 'class="verdict-regression"' in (tmp_path / "site" / "index.html").read_text()


def test_rerun_on_a_grown_folder_replaces_the_site(tmp_path):
    runs, out = tmp_path / "runs", tmp_path / "site"
    old = synthetic(runs, "machine-old", 1)
    synthetic(runs, "machine-a", 2)
    assert fwbench("publish", runs, "--out", out)[0] == 0
    assert (out / "machine-old").is_dir()
    old.unlink()
    synthetic(runs, "machine-a", 3)
    assert fwbench("publish", runs, "--out", out)[0] == 0
    machines = index(out)
    assert list(machines) == ["machine-a"] and len(machines["machine-a"]["runs"]) == 2
    assert not (out / "machine-old").exists() and not (out / "results" / "machine-old").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs", "site"]          # no temporary folder left


@pytest.mark.parametrize("make, needle", [
    (lambda d: d / "missing", "no such results file or folder"),
    (lambda d: (d / "empty").mkdir() or d / "empty", "holds no results files"),
    (lambda d: (d / "x.json").write_text('{"schema": 1}') and d / "x.json", "not a fwbench results file"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, make, needle):
    code, _, err = fwbench("publish", make(tmp_path), "--out", tmp_path / "site")
    assert code == 2 and needle in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "site").exists()


def test_will_not_replace_a_folder_that_is_not_a_site(tmp_path):
    synthetic(tmp_path / "runs", "machine-a", 1)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    code, _, err = fwbench("publish", tmp_path / "runs", "--out", tmp_path / "mine")
    assert code == 2 and "not a fwbench site" in err
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def test_compare_against_a_folder_takes_the_previous_run_of_the_same_machine(runs, tmp_path):
    newest_a = synthetic(tmp_path, "machine-a", 5)
    code, stdout, err = fwbench("compare", runs, newest_a, "--json", tmp_path / "v.json")
    assert code == 0, err
    assert json.loads((tmp_path / "v.json").read_text())["base"]["run_id"] == "machine-a-03-quick"
    code, stdout, _ = fwbench("compare", runs, runs / "a" / "machine-a-01-quick.json")
    assert code == 0 and "nothing to compare" in stdout


def test_renders_in_chromium(site):
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} not found (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install playwright; never `playwright install`)")
    errors, external, visited = [], [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        page = browser.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", lambda r: external.append(r.url) if not r.url.startswith(("file:", "data:")) else None)
        page.goto((site / "index.html").as_uri())
        links = page.eval_on_selector_all("a[href$='.html']", "as => [...new Set(as.map(a => a.href))]")
        for url in links:
            response = page.goto(url)
            visited.append((url, response.ok if response else None, page.title()))
        page.goto((site / "index.html").as_uri())
        page.get_by_role("link", name="history").first.click()
        landed = page.url
        browser.close()
    assert errors == [] and external == []
    # the manual (docs/index.html) and each of the two machines' report and history: 5, each opened with no error
    assert len(links) == 5 and any(u.endswith("/docs/index.html") for u in links), links
    assert all(ok for _, ok, _ in visited), visited
    assert landed.endswith("/history.html")
