"""`pytest --benchmark`: the cells of `fwbench run`, timed by its workers, handed to pytest-benchmark block by block.

The pytest process imports no framework. The first benchmark test runs every selected cell at once through
`bench.run.runner.run` (the workers, thread settings, warm-up, calibration, idle waits and interleaved rounds of
`fwbench run`, and its results file); each test then hands its cell's blocks to `benchmark.pedantic`, one round
per block of n steps, through `block_clock`, a timer that advances only by the worker's measured block times.
"""
from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

_CLOCK = [0.0]


def block_clock() -> float:
    """pytest-benchmark's timer for the grid: seconds of the harness blocks handed over so far (see `Replay`)."""
    return _CLOCK[0]


class Replay:
    """`benchmark.pedantic`'s target for one cell, with iterations=n: every n-th call hands over the next block,
    [step() x n; sync()] as the worker timed it, by advancing `block_clock` by its seconds; other calls do nothing."""

    def __init__(self, samples_s, n: int):
        self.blocks, self.n, self.calls = [s * n for s in samples_s], n, 0

    def __call__(self):
        self.calls += 1
        if self.calls % self.n == 0 and self.blocks:
            _CLOCK[0] += self.blocks.pop(0)


def framework_modules(modules) -> list[str]:
    """The framework modules among `modules` (names): the frameworks themselves and the implementations' workloads
    (implementations.<folder>.core, which import them). Not the folders' declarations, which bench's registry reads,
    nor the plain-numpy task modules that a declaration or the float64 gradient reference imports (fwbench run's
    own process imports those too)."""
    from bench import registry
    names = {m.split(".")[0] for fw in registry.FRAMEWORKS for dev in ("cpu", "gpu") for m in registry.modules(fw, dev)}
    names = (names - {"numpy"}) | {"jaxlib"}   # numpy: the harness's own; jaxlib: what jax loads beside itself
    return sorted(m for m in modules if m.split(".")[0] in names
                  or (m.startswith("implementations.") and m.split(".")[2:3] == ["core"]))


def run_args(options: dict) -> argparse.Namespace:
    """`fwbench run`'s arguments for the session's options (pytest's --fwbench-*), built as bench.measure builds
    them (ValueError for an unknown name); the blocks default to the profile's fixed count."""
    from bench.run import runner
    split = lambda v: v.split(",") if v else None  # noqa: E731
    args = runner.options(split(options.get("tasks")), split(options.get("impls")), split(options.get("devices")),
                          options["profile"], options.get("threads"), options.get("out"), options.get("blocks"))
    args.blocks = args.blocks or runner.PROFILES[args.profile]["blocks"]
    args.order = options.get("order") or "interleaved"
    return args


def cells(args) -> list[dict]:
    """The grid: the cells `fwbench run` would time with these arguments, in its order."""
    from bench import registry, tasks
    from bench.run import runner
    devices = args.devices or ["cpu"] + (["gpu"] if registry.nvidia_gpu_present() else [])
    return runner.make_cells(args.profile, args.tasks or list(tasks.TASKS), args.impls, devices)


def cell_id(cell: dict) -> str:
    """A cell's test id: <task>-<impl>-<device>, with its size inserted where it is not the task's default."""
    from bench.run import runner
    if cell["size"] == runner.canonical(cell["task"], {}):
        return f"{cell['task']}-{cell['impl']}-{cell['device']}"
    size = "_".join(f"{k}={'x'.join(map(str, v)) if isinstance(v, list) else v}" for k, v in cell["size"].items())
    return f"{cell['task']}-{size}-{cell['impl']}-{cell['device']}"


def run_session(args, chosen: list[dict], command: str) -> tuple[dict, dict]:
    """Time the `chosen` cells as `fwbench run` does; ({cell id: record}, results data). The results file goes to
    args.out (its command: `command`, the pytest command line), or to a folder removed afterwards."""
    from bench import results
    from bench.run import runner
    scratch = None
    if not args.out:
        scratch = tempfile.mkdtemp(prefix="fwbench-pytest-")
        args.out = str(Path(scratch) / "results.json")
    args.cells = chosen
    try:
        code = runner.run(args)
        if code == 130:
            raise KeyboardInterrupt
        data = json.loads(Path(args.out).read_text())
        data["command"] = command
        data["harness"]["order"] = args.order
        data["harness"]["door"] = "pytest --benchmark: pytest-benchmark's rounds are these blocks, handed over as timed"
        if scratch is None:
            results.write_atomic(args.out, data)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
            args.out = None
    return {cell_id(r): r for r in data["results"]}, data


def extra_info(rec: dict) -> dict:
    """What a cell's benchmark carries besides its timings."""
    return {"task": rec["task"], "impl": rec["impl"], "device": rec["device"], "size": rec["size"],
            "flops": rec["flops"], "steps_per_round": rec["step"]["block"], "gradcheck": rec["gradcheck"],
            "traces_steady": (rec.get("traces") or {}).get("steady")}
