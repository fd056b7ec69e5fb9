"""README's figures about the published runs are the results files' (bench.gate.published renders them)."""
import re
from pathlib import Path

import pytest
from synth import ENV, cell, run

from bench.gate import published

ROOT = Path(__file__).resolve().parent.parent


def test_readme_states_what_the_published_results_say():
    readme = (ROOT / "README.md").read_text()
    assert published.readme_block(readme) == published.render(), \
        "README's Published runs paragraph is stale: run `python -m bench.gate.published --write`"


def test_no_published_figure_outside_the_rendered_block():
    readme = (ROOT / "README.md").read_text()
    outside = readme.replace(published.readme_block(readme), "")
    assert not re.search(r"\(\d+ cells, \d+ s wall\)|per step here|on this 2-core machine when quiet", outside)


def test_paragraph_reads_the_files():
    quick = run([cell("mlp", "jax/jit", 2e-4), cell("mlp", "jax/eager", 3e-2), cell("mlp", "numpy/manual", 1e-4,
                                                                                    block=50),
                 cell("cnn", "torch/eager", 4e-2), cell("mlp", "torch/eager", 1e-5, status="failed", reason="boom")],
                created="2026-01-01T00:10:00+00:00")
    quick["environment"]["workers"] = {"jax/cpu": {"import_s": 0.8}, "numpy/cpu": {"import_s": 0.08}}
    full = run([cell("mlp", "jax/jit", 2e-4)], created="2026-01-01T00:00:00+00:00")
    full["harness"]["wall_s"] = 630.0
    text = " ".join(published.paragraph([("q.json", quick), ("f.json", full)]).split())
    assert text.startswith("`q.json` (5 cells, 60 s wall) and `f.json` (1 cells, 630 s wall): a 2-core Synthetic CPU")
    assert "Imports: numpy 80 ms, JAX 800 ms." in text
    assert "mlp numpy/manual 100 µs … jax/eager 30 ms; cnn torch/eager 40 ms … torch/eager 40 ms." in text
    assert "Harness overhead per step: 50 ns (q), 50 ns (f)." in text
    # 100 µs x 50 steps = 5 ms < 10 ms: one short; 200 µs x 100 = 20 ms is not
    assert "less than the 10 ms minimum: 1 of 4 (q), 0 of 1 (f)." in text
    assert "1 cells failed." in text
    assert "overlapped on the same machine for 30 s (q 60 s, f 630 s)" in text
    full["created"] = "2025-12-31T00:00:00+00:00"
    assert "overlapped" not in published.paragraph([("q.json", quick), ("f.json", full)])


def test_paragraph_names_the_first_runs_machine():
    base = dict(created="2026-01-01T00:00:00+00:00")
    avx2 = run([cell("mlp", "jax/jit", 2e-4)], cpu={**ENV["cpu"], "flags_avx2": True},
               gpus=[{"name": "H100"}, {}], **base)
    text = " ".join(published.paragraph([("a.json", avx2)]).split())
    assert "a 2-core Synthetic CPU (AVX2), 2 threads, H100, ?, Python" in text
    assert "Imports" not in text                                       # no worker recorded its import
    avx512 = run([cell("mlp", "jax/jit", 2e-4)], cpu={**ENV["cpu"], "flags_avx2": True, "flags_avx512": True}, **base)
    assert "(AVX-512), 2 threads, no GPU," in " ".join(published.paragraph([("b.json", avx512)]).split())
    assert "(no AVX2)" in " ".join(published.paragraph([("c.json", run([cell("mlp", "jax/jit", 2e-4)], **base))]).split())


def test_a_block_of_exactly_the_minimum_is_not_short():
    data = run([cell("mlp", "jax/jit", given=[0.01] * 8, block=1), cell("mlp", "numpy/manual", given=[0.005] * 8, block=1)])
    assert published._short_blocks(data) == (1, 2)


def test_runs_overlap_only_when_they_share_time():
    first = run([cell("mlp", "jax/jit", 2e-4)], created="2026-01-01T00:00:00+00:00")      # 60 s wall
    back_to_back = run([cell("mlp", "jax/jit", 2e-4)], created="2026-01-01T00:01:00+00:00")
    one_second = run([cell("mlp", "jax/jit", 2e-4)], created="2026-01-01T00:00:59+00:00")
    assert "overlapped" not in published.paragraph([("a.json", first), ("b.json", back_to_back)])
    text = " ".join(published.paragraph([("a.json", first), ("b.json", one_second)]).split())
    assert "overlapped on the same machine for 1 s (a 60 s, b 60 s): their timings shared the cores." in text


def test_wrapping_never_breaks_a_long_path():
    path = "results/" + "x" * 130 + ".json"
    assert published._wrap(f"see {path} for more") == f"see\n{path}\nfor more"


def test_a_readme_without_the_markers_is_named():
    with pytest.raises(ValueError, match="README has no <!-- published:begin --> ... <!-- published:end --> block"):
        published.readme_block("# README\nno markers here\n")


def test_paragraph_states_both_peaks_and_the_most_efficient_step():
    cpu = {**ENV["cpu"], "peak_gflops": 166.4, "peak_basis": "2 cores x 2.60 GHz x 32", "peak_measured_gflops": 200.0}
    a, b = cell("cnn", "torch/eager", 2e-2), cell("cnn", "jax/jit", 1e-1)
    a["gflops"], b["gflops"] = 50.0, 10.0
    quick = run([a, b], cpu=cpu)
    full = run([cell("mlp", "jax/jit", 2e-4)], cpu={**cpu, "peak_measured_gflops": 180.0})
    text = " ".join(published.paragraph([("q.json", quick), ("f.json", full)]).split())
    assert "fp32 peak measured in each run (its best numpy sgemm): 200 GFLOP/s (q), 180 GFLOP/s (f)." in text
    assert "Theoretical: 166 GFLOP/s (2 cores x 2.60 GHz x 32)." in text
    assert "The most efficient step, cnn torch/eager (q), reached 50 GFLOP/s: 25% of its run's measured peak." in text
    bare = " ".join(published.paragraph([("c.json", run([cell("mlp", "jax/jit", 2e-4)]))]).split())
    assert "measured in each run" not in bare and "most efficient" not in bare   # no sgemm was measured
