"""The timing grid through pytest-benchmark: `pytest --benchmark` (plain `pytest` deselects these).

One benchmark per cell, named test_step[<task>-<impl>-<device>], grouped by task. The cells are timed by
`fwbench run`'s own workers (bench/run/pytest_grid.py): the first test times every selected cell, interleaved as
`fwbench run` does; each test then hands pytest-benchmark its cell's blocks, one round per block [step() x n;
sync()] with iterations=n, so its per-iteration times are per-step times. A cell whose gradients disagree or that
recompiles in the steady state fails; one that cannot run here is skipped. This process imports no framework.
"""
import pytest

from bench.run import pytest_grid


def pytest_generate_tests(metafunc):
    if "cell" in metafunc.fixturenames:
        cells = pytest_grid.cells(getattr(metafunc.config, "fwbench_args", None) or pytest_grid.run_args(
            {"profile": "quick", "blocks": None}))
        metafunc.parametrize("cell", cells, ids=[pytest_grid.cell_id(c) for c in cells])


@pytest.fixture(scope="session")
def grid(request):
    """{cell id: record} of every selected cell, timed at once through `fwbench run`'s runner."""
    config = request.config
    chosen = [item.callspec.params["cell"] for item in request.session.items
              if hasattr(item, "callspec") and "cell" in item.callspec.params]
    command = " ".join(["pytest", *config.invocation_params.args])
    records, _ = pytest_grid.run_session(config.fwbench_args, chosen, command)
    return records


@pytest.mark.benchmark_grid
@pytest.mark.benchmark(timer=pytest_grid.block_clock)
def test_step(benchmark, cell, grid):
    rec = grid[pytest_grid.cell_id(cell)]
    if rec["status"] == "skipped":
        pytest.skip(rec["reason"])
    if rec["status"] == "failed":
        pytest.fail(rec["reason"], pytrace=False)
    step = rec["step"]
    benchmark.group = rec["task"]
    benchmark.extra_info.update(pytest_grid.extra_info(rec))
    benchmark.pedantic(pytest_grid.Replay(step["samples_s"], step["block"]), rounds=len(step["samples_s"]),
                       iterations=step["block"], warmup_rounds=0)
