"""Project pytest options: `pytest --benchmark` runs only the timing grid (tests/test_benchmark.py, timed by the
workers of `fwbench run`: bench/run/pytest_grid.py); plain pytest leaves it out."""
import os


def pytest_addoption(parser):
    parser.addoption("--benchmark", action="store_true", default=False,
                     help="fwbench: run only the timing grid through pytest-benchmark (one benchmark per cell, timed "
                          "by fwbench run's workers); plain pytest deselects it")
    group = parser.getgroup("fwbench", "fwbench's grid under --benchmark (the options of fwbench run)")
    group.addoption("--fwbench-profile", default="quick", help="the cells' profile, as fwbench run --profile (default quick)")
    group.addoption("--fwbench-devices", help="comma-separated devices (default: cpu, plus gpu where an NVIDIA driver is)")
    group.addoption("--fwbench-impls", help="comma-separated implementations (default: the profile's)")
    group.addoption("--fwbench-tasks", help="comma-separated tasks (default: all)")
    group.addoption("--fwbench-threads", type=int, help="threads for every framework (default: physical cores)")
    group.addoption("--fwbench-blocks", type=int, help="blocks (pytest-benchmark rounds) per cell (default: the "
                                                       "profile's fixed count, quick 12)")
    group.addoption("--fwbench-order", default="interleaved", choices=("interleaved", "sequential"),
                    help="interleaved (default): fwbench run's rounds, one block of every cell per round; "
                         "sequential: all blocks of one cell, then the next")
    group.addoption("--fwbench-out", metavar="FILE", help="also keep the session's results file (fwbench run's schema; "
                                                          "fwbench report renders it)")


def pytest_configure(config):
    config.addinivalue_line("markers", "benchmark_grid: a timing cell; runs only under `pytest --benchmark`")
    if not config.getoption("--benchmark"):
        # correctness only: XLA compiles without its optimisation passes (the eager and Keras CNN cells compile in
        # half the time); every `fwbench run` cell still checks its gradients with XLA as users run it
        os.environ.setdefault("JAX_DISABLE_MOST_OPTIMIZATIONS", "1")
        return
    import pytest
    if config.getoption("numprocesses", None):
        raise pytest.UsageError("pytest --benchmark times its cells in fwbench run's workers, one at a time: "
                                "run it without -n (or with -n 0)")
    from bench.run import pytest_grid
    options = {k: config.getoption(f"--fwbench-{k}") for k in
               ("profile", "devices", "impls", "tasks", "threads", "blocks", "order", "out")}
    try:
        config.fwbench_args = pytest_grid.run_args(options)
    except ValueError as e:
        raise pytest.UsageError(f"--fwbench-*: {e}") from None


def pytest_collection_modifyitems(config, items):
    bench = config.getoption("--benchmark")
    drop = [item for item in items if bool(item.get_closest_marker("benchmark_grid")) != bench]
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = [item for item in items if bool(item.get_closest_marker("benchmark_grid")) == bench]
