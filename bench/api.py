"""The common interface of DESIGN.md: tasks, implementations, skip reasons, and `make`."""
from __future__ import annotations

from bench import registry, tasks as _tasks
from bench.workload import SkipCell, Workload

__all__ = ["tasks", "impls", "skip_reason", "make", "SkipCell", "Workload"]


def tasks() -> list[str]:
    """The task names, in the order of DESIGN.md."""
    return list(_tasks.TASKS)


def impls(task: str | None = None) -> list[str]:
    """The implementation ids, as their folders declare them (a task one does not implement is a skip with its reason)."""
    if task is not None:
        _tasks.get(task)
    return list(registry.IMPLS)


def skip_reason(impl: str, device: str = "cpu", task: str | None = None) -> str | None:
    """None if the cell can run here, else why not (framework missing, no GPU, a task the framework does not do, ...)."""
    reason = registry.skip_reason(impl, device)
    if task is not None and reason is None:
        _tasks.get(task)
        reason = registry.task_skip_reason(impl, task)
    return reason


def make(task: str, impl: str, device: str = "cpu", seed: int = 0, inputs=None, params=None,
         lr: float | None = None, build: bool = True, **size) -> Workload:
    """A workload, built unless `build=False` (the harness times `build()` itself).

    Unknown names or inconsistent arrays raise ValueError; a cell that cannot run here raises SkipCell.
    """
    registry.check_impl(impl)
    registry.check_device(device)
    spec, size, inputs, params = _tasks.resolve(task, seed=seed, inputs=inputs, params=params, **size)
    if lr is not None and spec.lr is None:
        raise ValueError(f"{task}: takes no lr (its step computes gradients and updates nothing)")
    if lr is not None and not lr > 0:
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    reason = registry.skip_reason(impl, device) or registry.task_skip_reason(impl, task)
    if reason:
        raise SkipCell(reason)
    cls = registry.workload_class(impl)
    w = cls(spec, size, inputs, params, spec.lr if lr is None else lr, device, registry.task_module(impl, task), impl)
    return w.build() if build else w
