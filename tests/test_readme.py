"""README's figures about the published runs are the results files' (bench.gate.published renders them)."""
import re
from pathlib import Path

from synth import cell, run

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
