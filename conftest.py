"""Project pytest options: `pytest --benchmark` adds the timing grid (tests/test_benchmark.py); plain pytest leaves it out."""
import os


def pytest_addoption(parser):
    parser.addoption("--benchmark", action="store_true", default=False,
                     help="fwbench: also run the timing grid through pytest-benchmark (one benchmark per cell); "
                          "plain pytest deselects it")


def pytest_configure(config):
    config.addinivalue_line("markers", "benchmark_grid: a timing cell; runs only under `pytest --benchmark`")
    if not config.getoption("--benchmark"):
        # correctness only: XLA compiles without its optimisation passes (the eager and Keras CNN cells compile in
        # half the time); every `fwbench run` cell still checks its gradients with XLA as users run it
        os.environ.setdefault("JAX_DISABLE_MOST_OPTIMIZATIONS", "1")
    else:
        from bench import environment      # the thread settings of `fwbench run`, before any framework import
        for key, value in environment.thread_env(environment.physical_cores()).items():
            os.environ[key] = value
        environment.share_gpu()             # every framework shares this process, and its GPU


def pytest_collection_modifyitems(config, items):
    if config.getoption("--benchmark"):
        return
    grid = [item for item in items if item.get_closest_marker("benchmark_grid")]
    if grid:
        config.hook.pytest_deselected(items=grid)
        items[:] = [item for item in items if not item.get_closest_marker("benchmark_grid")]
