"""Project pytest options: `pytest --benchmark` adds the timing grid (tests/test_benchmark.py); plain pytest leaves it out."""
import os

import pytest


def pytest_addoption(parser):
    parser.addoption("--benchmark", action="store_true", default=False,
                     help="fwbench: also run the timing grid through pytest-benchmark (one benchmark per cell); "
                          "plain pytest deselects it")


def pytest_configure(config):
    config.addinivalue_line("markers", "benchmark_grid: a timing cell; runs only under `pytest --benchmark`")
    if config.getoption("--benchmark"):
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
