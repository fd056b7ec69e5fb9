"""jax/eager and jax/jit: the same `train_step`, run op by op or traced once and compiled by XLA."""
import functools
import os

import jax
import numpy as np

from bench.workload import Workload

SINGLE_THREAD_FLAGS = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
_compiles = [0]


def _count_compiles(event, duration, **kwargs):
    if event == "/jax/core/compile/backend_compile_duration":
        _compiles[0] += 1


jax.monitoring.register_event_duration_secs_listener(_count_compiles)


def compile_count():
    """XLA compilations in this process so far (jit executables and eager op-by-op kernels alike)."""
    return _compiles[0]


def device_of(device):
    """The jax device for "cpu"/"gpu". A CUDA backend that fails to start is an error (a failed cell), not a skip:
    the registry has already skipped the cell where there is no GPU or no jax CUDA plugin."""
    if device == "gpu":
        try:
            return jax.devices("gpu")[0]
        except RuntimeError as e:
            raise RuntimeError(f"jax's GPU backend did not start: {e}") from None
    return jax.devices("cpu")[0]


def set_threads(n):
    """Ask XLA's CPU for `n` threads: only possible before the backend starts, and only n=1 has a flag.

    XLA reads XLA_FLAGS when its first backend starts and sizes its thread pool from the CPU affinity,
    so the harness sets both in the environment before jax is imported; this only adds the
    single-thread flags when that has not happened yet, and otherwise changes nothing.
    """
    from jax._src import xla_bridge
    started = getattr(xla_bridge, "backends_are_initialized", lambda: True)()   # private: assume the worst
    flags = os.environ.get("XLA_FLAGS", "")
    if n == 1 and not started and "xla_cpu_multi_thread_eigen" not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} {SINGLE_THREAD_FLAGS}".strip()


def float32():
    """float32 means float32: no TF32 for matmuls and convolutions on GPUs (CPUs ignore it)."""
    return jax.default_matmul_precision("float32")


def sgd(params, grads, lr):
    return jax.tree.map(lambda p, g: p - lr * g, params, grads)


class Eager(Workload):
    """Define-by-run: `jax.value_and_grad` runs op by op, each primitive dispatched as it comes."""

    def setup(self, inputs, params):
        self.dev = device_of(self.device)
        labels = {k: v.astype(np.int32) for k, v in inputs.items() if v.dtype.kind == "i"}   # no x64
        self._inputs = jax.device_put({**inputs, **labels}, self.dev)
        self._params = jax.device_put(params, self.dev)
        self._value_and_grad = jax.value_and_grad(functools.partial(self.fn, **self.cfg))
        self._step, self._grads = self.train_step, self.value_and_grad   # Jit compiles both
        self._last = None

    def value_and_grad(self, params, inputs):
        """Loss and gradients, float32 throughout (the precision is fixed when the ops are traced), and every
        array the ops create (the zeros of ReLU's backward, constants) made on the cell's device, not the default one."""
        with float32(), jax.default_device(self.dev):
            return self._value_and_grad(params, inputs)

    def train_step(self, params, inputs):
        """Forward, backward and SGD: (new params, loss); gradients only when the task updates nothing."""
        loss, grads = self.value_and_grad(params, inputs)
        if not self.update:
            return grads
        return sgd(params, grads, self.lr), loss

    def grads(self):
        loss, grads = self._grads(self._params, self._inputs)
        return float(loss), {k: np.array(g) for k, g in grads.items()}

    def step(self):
        out = self._step(self._params, self._inputs)
        if self.update:
            self._params, self._last = out
        else:
            self._last = out

    def sync(self):
        jax.block_until_ready((self._params, self._last))

    def params(self):
        return {k: np.array(v) for k, v in self._params.items()}


class Jit(Eager):
    """Define-and-run: `train_step` is traced once, lowered and compiled by XLA; the step calls the executable."""

    def compile(self):
        donate = (0,) if self.update and self.dev.platform != "cpu" else ()   # no donation on CPU
        self._step = jax.jit(self.train_step, donate_argnums=donate).lower(self._params, self._inputs).compile()
        self._grads = jax.jit(self.value_and_grad)   # for grads() only; compiled on its first call

    def traces(self):
        return compile_count()
