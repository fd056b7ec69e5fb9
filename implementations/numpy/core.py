"""numpy/manual: the step calls the task's hand-derived `loss_and_grads`; CuPy runs the same code on a GPU."""
import numpy as np

from bench.workload import SkipCell, Workload


def array_module(device):
    """numpy for the CPU, CuPy for the GPU: SkipCell without CuPy; CUDA that fails to start is an error."""
    if device == "cpu":
        return np
    try:
        import cupy
    except ImportError:
        raise SkipCell("cupy is not installed (pip install cupy-cuda12x)") from None
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except cupy.cuda.runtime.CUDARuntimeError as e:
        raise RuntimeError(f"CuPy could not start CUDA: {e}") from None
    if count < 1:
        raise SkipCell("CuPy sees no CUDA device")
    return cupy


def to_numpy(a):
    return a.get() if hasattr(a, "get") else np.asarray(a)


def set_threads(n):
    """BLAS threads for numpy (threadpoolctl), the same count as every other framework."""
    from threadpoolctl import threadpool_limits
    threadpool_limits(n)


class Manual(Workload):
    """Hand-derived backprop: forward, backward and update written out in array code."""

    def setup(self, inputs, params):
        self.xp = array_module(self.device)
        self._inputs = {k: self.xp.asarray(v) for k, v in inputs.items()}
        self._params = {k: self.xp.asarray(v) for k, v in params.items()}
        self._last = None

    def grads(self):
        loss, grads = self.module.loss_and_grads(self._params, self._inputs, self.xp, **self.cfg)
        return float(loss), {k: to_numpy(g) for k, g in grads.items()}

    def step(self):
        loss, grads = self.module.loss_and_grads(self._params, self._inputs, self.xp, **self.cfg)
        if self.update:
            for k, g in grads.items():
                self._params[k] -= self.lr * g
        self._last = loss

    def sync(self):
        if self.xp is not np:
            self.xp.cuda.get_current_stream().synchronize()

    def params(self):
        return {k: to_numpy(v).copy() for k, v in self._params.items()}
