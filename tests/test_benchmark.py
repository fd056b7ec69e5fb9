"""The timing grid through pytest-benchmark: `pytest --benchmark` (plain `pytest` deselects these).

One benchmark per cell of the quick profile, named test_step[<task>-<impl>-<device>], grouped by task. Each
round is exactly one harness block, [step() x n; sync()], with n calibrated as `fwbench run` does (>= 10 ms on
CPU, 50 ms on GPU), so pytest-benchmark's per-iteration times are per-step times with the sync inside the
timed region. `--benchmark-json`, `--benchmark-autosave`, `--benchmark-compare(-fail)` work as usual. Unlike
`fwbench run`, every framework lives in this one process and cells run one after another, not interleaved.
"""
import importlib
import warnings

import pytest

from bench import api, environment, registry
from bench.run import runner, timing

DEVICES = ["cpu"] + (["gpu"] if registry.nvidia_gpu_present() else [])
CELLS = [(c["task"], c["impl"], c["device"]) for c in runner.make_cells("quick", api.tasks(), None, DEVICES)]
ROUNDS = runner.PROFILES["quick"]["blocks"]
_threads_set = set()


def _set_threads(impl):
    """core.set_threads(n) once per framework, as the runner's workers do after import."""
    fw = impl.split("/")[0]
    if fw not in _threads_set:
        _threads_set.add(fw)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            importlib.import_module(f"implementations.{registry.FRAMEWORKS[fw]['folder']}.core").set_threads(environment.physical_cores())


def every_nth_sync(w, n):
    """A target whose every n-th call is step() then sync(): with iterations=n a round is [step() x n; sync()]."""
    step, sync, count = w.step, w.sync, [0]

    def target():
        step()
        count[0] += 1
        if count[0] == n:
            count[0] = 0
            sync()
    return target


@pytest.mark.benchmark_grid
@pytest.mark.parametrize("task,impl,device", CELLS, ids=[f"{t}-{i}-{d}" for t, i, d in CELLS])
def test_step(benchmark, task, impl, device):
    reason = api.skip_reason(impl, device, task)
    if reason:
        pytest.skip(reason)
    _set_threads(impl)
    try:
        w = api.make(task, impl, device=device)
    except api.SkipCell as e:
        pytest.skip(str(e))
    timing.warm_up(w.step, w.sync, runner.PROFILES["quick"]["warmup_s"])
    n, _ = timing.calibrate(w.step, w.sync, timing.MIN_BLOCK_S[device])
    benchmark.group = task
    benchmark.extra_info.update(task=task, impl=impl, device=device, steps_per_round=n,
                                size=runner.canonical(task, {}), flops=api._tasks.get(task).flops(w.size))
    benchmark.pedantic(every_nth_sync(w, n), rounds=ROUNDS, iterations=n, warmup_rounds=1)
