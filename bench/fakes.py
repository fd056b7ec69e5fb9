"""Test doubles whose truth is known: an asynchronous step of known cost, a known gradient error, a recompiler.

They are numpy/manual underneath and exist only when $FWBENCH_EXTRA_IMPLS names this module (tests set it, and
worker processes inherit it); `fwbench list`, the profiles and the report never see them.
"""
from __future__ import annotations

import time

from implementations.numpy.core import Manual

STEP_S = 0.0005          # what one step of numpy/fake-async costs, paid inside sync()
GRAD_ERR = 1e-3          # numpy/fake-grad's gradients are this much too large, relative (0.1%)
RETRACE_EVERY = 50       # numpy/fake-retrace "recompiles" once per this many steps


class Async(Manual):
    """step() only enqueues; sync() does the queued work, STEP_S per step: a block without its sync measures ~0."""

    def setup(self, inputs, params):
        super().setup(inputs, params)
        self.pending = 0

    def step(self):
        self.pending += 1

    def sync(self):
        if self.pending:
            time.sleep(self.pending * STEP_S)
            self.pending = 0


class WrongGrad(Manual):
    """numpy/manual whose gradients (from grads() and in its steps) are (1 + GRAD_ERR) times the true ones."""

    def grads(self):
        loss, grads = super().grads()
        return loss, {k: g * (1 + GRAD_ERR) for k, g in grads.items()}


class Retrace(Manual):
    """numpy/manual that reports one trace at build and another every RETRACE_EVERY steps (a steady-state recompile)."""

    def setup(self, inputs, params):
        super().setup(inputs, params)
        self.steps = 0

    def step(self):
        super().step()
        self.steps += 1

    def traces(self):
        return int(self.built) + self.steps // RETRACE_EVERY


IMPLS = {"numpy/fake-async": Async, "numpy/fake-grad": WrongGrad, "numpy/fake-retrace": Retrace}
