"""The framework-free base of every implementation: one task, one impl, one device, ready to step."""
from __future__ import annotations

import numpy as np


class SkipCell(RuntimeError):
    """This cell cannot run here (framework missing, no GPU, ...); the message says why."""


class Workload:
    """A task bound to an implementation and a device: `build`, `grads`, `step`, `sync`, read back."""

    impl = "?"

    def __init__(self, task, size, inputs, params, lr, device, module, impl="?"):
        self.task, self.size, self.lr, self.device, self.impl = task, size, lr, device, impl
        self.update = task.lr is not None
        self.cfg = {"op": size["op"]} if "op" in size else {}
        self.module, self.fn = module, module.loss
        self.built = False
        self._inputs_np = inputs
        self.setup(inputs, params)

    # -- what each implementation provides ------------------------------------------------
    def setup(self, inputs, params):
        """Put data and params on the device."""
        raise NotImplementedError

    def compile(self):
        """The define phase: graph, trace or compile; nothing for eager modes."""

    def grads(self) -> tuple[float, dict]:
        """Loss and gradients at the current params, as numpy; params unchanged."""
        raise NotImplementedError

    def step(self):
        """Enqueue one step: forward, backward and (but for elementwise) the SGD update."""
        raise NotImplementedError

    def sync(self):
        """Block until every enqueued step has finished."""

    def params(self) -> dict:
        """The current params as numpy arrays in canonical layout."""
        raise NotImplementedError

    def traces(self) -> int:
        """How many traces or compilations have happened so far (0 for eager modes)."""
        return 0

    # -- shared -----------------------------------------------------------------------------
    def build(self):
        """Run the define phase once."""
        if not self.built:
            self.compile()
            self.built = True
        return self

    def inputs(self) -> dict:
        """The inputs as numpy arrays in canonical layout."""
        return {k: np.array(v) for k, v in self._inputs_np.items()}
