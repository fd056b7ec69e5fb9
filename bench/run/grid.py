"""The profiles and the grid of cells: task x size x implementation x device."""
from __future__ import annotations

from bench.errors import UsageError

# blocks: the fixed count (--precision 0, verify, pytest --benchmark); otherwise rounds go on from min_blocks until
# every cell's 95% CI is within ±precision_pct of its median or the run's wall time reaches max_time_s (ab: its own)
PROFILES = {
    "quick": {"blocks": 12, "min_blocks": 6, "precision_pct": 5.0, "max_time_s": 60.0, "ab_max_time_s": 300.0,
              "warmup_s": 0.1, "retrace": False, "sweep": False, "examples": False,
              "about": "default sizes, the implementations and tasks their folders declare quick (not torch/compile); "
                       "rounds until each cell's 95% CI is within ±5% or the run reaches 60 s (at least 6 blocks per cell)"},
    "full": {"blocks": 16, "min_blocks": 16, "precision_pct": 2.0, "max_time_s": 900.0, "ab_max_time_s": 1800.0,
             "warmup_s": 0.2, "retrace": True, "sweep": True, "examples": True,
             "about": "every implementation, size sweeps, retrace cost of the graph modes, the worked examples; "
                      "rounds until each cell's 95% CI is within ±2% or the run reaches 15 min (at least 16 blocks)"},
    "smoke": {"blocks": 4, "min_blocks": 4, "precision_pct": 50.0, "max_time_s": 20.0, "ab_max_time_s": 60.0,
              "warmup_s": 0.02, "retrace": False, "sweep": False, "examples": False,
              "about": "a check that everything runs, not a measurement (CI runs the lecture notebook with it): "
                       "the quick cells, at least 4 blocks, rounds until ±50% or 20 s"},
}
SWEEPS = {"elementwise": [{"shape": (3, 4 ** k)} for k in range(1, 7)],          # 3x4 ... 3x4096
          "single_layer": [{"n": 64 * 4 ** k} for k in range(6)],               # 64 ... 65536
          "mlp": [{}],
          "cnn": [{"batch": 4 ** k} for k in range(5)]}                         # 1 ... 256
RETRACE = {"elementwise": {"shape": (3, 2)}, "single_layer": {"n": 32}, "mlp": {"n": 250}, "cnn": {"batch": 32}}


def canonical(task: str, size: dict) -> dict:
    """Every knob of `task` at `size` (defaults filled in), as JSON types."""
    from bench import tasks
    full = {**tasks.get(task).defaults, **size}
    return {k: list(v) if isinstance(v, tuple) else v for k, v in full.items()}


def make_cells(profile: str, task_names, impls, devices, sweep: bool | None = None) -> list[dict]:
    """The cells of a run: task x size x implementation x device, in that order. `impls` None: the profile's own
    (quick: those whose folders declare them quick enough, on the tasks they declare); `sweep`: the SWEEPS sizes
    (None: as the profile says)."""
    from bench import registry
    spec = PROFILES[profile]
    if impls is None:
        impls = list(registry.IMPLS) if profile == "full" else registry.quick_impls()
        return [c for c in make_cells(profile, task_names, impls, devices, sweep)
                if profile == "full" or registry.in_quick(c["impl"], c["task"])]
    cells = []
    for task in task_names:
        default = canonical(task, {})
        for size in (SWEEPS[task] if (spec["sweep"] if sweep is None else sweep) else [{}]):
            size = canonical(task, size)
            for impl in impls:
                if impl in registry.IMPLS and registry.task_skip_reason(impl, task):
                    continue        # a task its folder declares it does not do: not a cell (fwbench list says so)
                for device in devices:
                    retrace = spec["retrace"] and registry.retrace_how(impl) is not None and size == default
                    cell = {"task": task, "impl": impl, "device": device, "size": size, "variant": None,
                            "retrace": canonical(task, RETRACE[task]) if retrace else None}
                    cells.append(cell)
    if not cells and task_names and impls:
        raise UsageError(f"{', '.join(impls)} do not do {', '.join(task_names)} (see fwbench list)")
    return cells
