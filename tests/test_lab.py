"""bench.measure: fwbench run's runner from Python; its file passes the schema and renders; interrupts keep cells."""
from __future__ import annotations

import json
import signal
import threading

import pytest

import bench
from bench import results
from bench.cli import main

pytestmark = pytest.mark.xdist_group("lab")
CELLS = dict(tasks=["elementwise", "single_layer"], impls="numpy/manual", devices="cpu", threads=1)


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    """Two numpy cells measured through bench.measure, written to out=."""
    out = tmp_path_factory.mktemp("lab") / "measured.json"
    seen = []
    r = bench.measure(**CELLS, blocks=4, out=out, on_update=seen.append)
    return r, out, seen


def test_measure_writes_a_valid_file_that_fwbench_report_renders(measured, tmp_path):
    r, out, seen = measured
    data = results.load(out)                          # the schema
    assert data == r.data and [c["status"] for c in data["results"]] == ["ok", "ok"]
    assert "fwbench run --profile quick --tasks elementwise,single_layer --impls numpy/manual" in data["command"]
    assert all(len(c["step"]["samples_s"]) == 4 for c in data["results"])
    assert seen and all(isinstance(s, bench.Results) for s in seen)
    assert main(["report", str(out), "--out", str(tmp_path / "rep")]) == 0
    assert (tmp_path / "rep" / "index.html").exists()
    df = r.frame()
    assert list(df["impl"]) == ["numpy/manual"] * 2 and (df["median_s"] > 0).all()


def test_save_and_report_from_python(measured, tmp_path):
    r = measured[0]
    saved = r.save(tmp_path / "again.json")
    assert results.load(saved) == r.data and r.source == str(saved)
    folder = r.report(tmp_path / "rep")
    assert (folder / "index.html").exists() and (folder / "results.csv").exists()


def test_bad_names_are_value_errors_listing_the_choices():
    with pytest.raises(ValueError, match="valid implementations"):
        bench.measure(tasks="mlp", impls="numpy/fast")
    with pytest.raises(ValueError, match="valid profiles: quick, full, smoke"):
        bench.measure(profile="huge")


def test_interrupt_after_the_first_cell_keeps_it(tmp_path):
    """KeyboardInterrupt (a kernel interrupt) once the first cell is finished: Interrupted holds it, out= has it."""
    out = tmp_path / "cut.json"

    def stop(r):
        if r.data["results"][0]["status"] == "ok":
            raise KeyboardInterrupt

    with pytest.raises(bench.Interrupted) as e:
        bench.measure(**CELLS, blocks=4, out=out, on_update=stop)
    assert isinstance(e.value, KeyboardInterrupt)
    kept = e.value.results
    assert kept.interrupted and kept.data["results"][0]["status"] == "ok"
    assert results.load(out) == kept.data and results.load(out)["harness"]["interrupted"] is True


def test_a_real_sigint_keeps_the_finished_cells(tmp_path):
    """A SIGINT delivered to the main thread as Jupyter's interrupt does (landing wherever the runner is)."""
    import _thread
    out, sent = tmp_path / "sigint.json", []

    def interrupt(r):
        if r.data["results"][0]["status"] == "ok" and not sent:
            sent.append(True)
            _thread.interrupt_main(signal.SIGINT)

    with pytest.raises(bench.Interrupted) as e:
        bench.measure(**CELLS, blocks=4, out=out, on_update=interrupt)
    assert e.value.results.data["results"][0]["status"] == "ok"
    assert results.load(out)["harness"]["interrupted"] is True


def test_interrupt_before_any_block_marks_the_cells(tmp_path):
    """Interrupted right after the first prepare: no cell has blocks, every one says it was interrupted."""
    def stop(r):
        if r.data["results"][0]["phases"] is not None:
            raise KeyboardInterrupt

    with pytest.raises(bench.Interrupted) as e:
        bench.measure(**CELLS, blocks=4, on_update=stop)
    assert "--out" not in e.value.results.data["command"]         # out=None: no temporary path to mislead
    cells = e.value.results.data["results"]
    assert [c["status"] for c in cells] == ["failed", "failed"]
    assert all("interrupted" in c["reason"] for c in cells)
    results.validate(e.value.results.data)


def test_runs_from_a_thread_and_leaves_signals_alone(tmp_path):
    """From a non-main thread it runs; in the main thread it does not replace the host's SIGTERM handler."""
    got = {}

    def host(signum, frame):
        pass

    old = signal.signal(signal.SIGTERM, host)
    try:
        seen = []
        t = threading.Thread(target=lambda: got.update(r=bench.measure(**{**CELLS, "tasks": "elementwise"}, blocks=3,
                                                                         on_update=lambda r: seen.append(
                                                                             signal.getsignal(signal.SIGTERM)))))
        t.start()
        t.join(120)
        assert not t.is_alive()
        assert got["r"].data["results"][0]["status"] == "ok"
        assert seen and set(seen) == {host}
    finally:
        signal.signal(signal.SIGTERM, old)


def test_main_thread_keeps_the_hosts_sigterm(tmp_path):
    """In the main thread too (Jupyter's kernel runs cells there): the handler seen during the run is the host's."""
    seen = []

    def host(signum, frame):
        pass

    old = signal.signal(signal.SIGTERM, host)
    try:
        bench.measure(**{**CELLS, "tasks": "elementwise"}, blocks=3,
                      on_update=lambda r: seen.append(signal.getsignal(signal.SIGTERM)))
    finally:
        signal.signal(signal.SIGTERM, old)
    assert seen and set(seen) == {host}


def test_progress_goes_to_stdout_as_plain_lines(measured, capsys):
    bench.measure(**{**CELLS, "tasks": "elementwise"}, blocks=3)
    out = capsys.readouterr().out
    assert "fwbench run " in out and "steady state: round 3/3" in out and "\x1b[" not in out.split("┏")[0]


def test_results_load_and_repr(measured):
    r = bench.Results.load(measured[1])
    assert "2 cells: 2 ok, 0 skipped, 0 failed" in repr(r)
    assert json.loads(measured[1].read_text())["run_id"] in repr(r)
