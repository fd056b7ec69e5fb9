"""GPU cells, checked without a GPU: no host synchronisation inside a step, no op or transfer off the cell's device.

- numpy/manual on CuPy: `SpyArrays`, a numpy-backed stand-in for CuPy whose arrays refuse to be read on the host
  while synchronisation is disallowed (as `cupyx.allow_synchronize(False)` does on a GPU).
- TensorFlow and JAX: two logical CPU devices in a fresh process, the cell on the second; the first is the
  default device and stands in for the GPU. Any op or transfer that lands on the first left the cell's device.
"""
import contextlib
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench import api, registry

ROOT = Path(__file__).resolve().parent.parent
TASKS = ("elementwise", "single_layer", "mlp", "cnn")
SMALL = {"cnn": {"batch": 2}}


class HostSync(AssertionError):
    """A device array was read back on the host while synchronisation was disallowed."""


def _host_read(name):
    """ndarray's method `name`, refused while synchronisation is disallowed."""
    def method(self, *args, **kwargs):
        if not DeviceArray.allowed:
            raise HostSync(f"{name}: a device array was read on the host (a blocking device-to-host copy)")
        return getattr(self.view(np.ndarray), name)(*args, **kwargs)
    return method


class DeviceArray(np.ndarray):
    """A numpy array standing in for a CuPy array: turning it into a Python value is a host synchronisation."""

    allowed = True
    __bool__, __float__, __int__, __index__, __complex__, item, tolist = map(
        _host_read, ("__bool__", "__float__", "__int__", "__index__", "__complex__", "item", "tolist"))

    def __array_wrap__(self, arr, context=None, return_scalar=False):
        return super().__array_wrap__(arr, context, False)   # reductions stay 0-d device arrays, as in CuPy

    def get(self):
        """CuPy's copy to the host: a synchronisation."""
        return np.array(self.tolist(), dtype=self.dtype)


def _device(out):
    """numpy results as DeviceArrays (tuples and lists too); anything else unchanged."""
    if isinstance(out, np.ndarray) and not isinstance(out, DeviceArray):
        return out.view(DeviceArray)
    if isinstance(out, (tuple, list)):
        return type(out)(_device(o) for o in out)
    return out


class _StrideTricks:
    """cupy.lib.stride_tricks: `as_strided` makes a view; `sliding_window_view` is CuPy's, host read-back included."""

    @staticmethod
    def as_strided(x, shape=None, strides=None):
        return np.lib.stride_tricks.as_strided(x, shape=shape, strides=strides, subok=True)

    @staticmethod
    def sliding_window_view(x, window_shape, axis=None):
        window_shape = tuple(window_shape) if np.iterable(window_shape) else (window_shape,)
        if SpyArrays.any(SpyArrays.array(window_shape) < 0):   # CuPy 13-14: the shape goes to the GPU, `if` reads it
            raise ValueError("`window_shape` cannot contain negative values")
        return np.lib.stride_tricks.sliding_window_view(x, window_shape, axis=axis, subok=True)


class _Stream:
    def synchronize(self):
        """The one allowed wait: the end of a block."""


class _Cuda:
    @staticmethod
    def get_current_stream():
        return _Stream()


class _Lib:
    stride_tricks = _StrideTricks


class _SpyArrays:
    """The array module numpy/manual gets on a GPU (`xp`), backed by numpy: every function returns DeviceArrays."""

    lib, cuda = _Lib, _Cuda

    def __getattr__(self, name):
        attr = getattr(np, name)
        if not callable(attr) or isinstance(attr, type):
            return attr
        return lambda *args, **kwargs: _device(attr(*args, **kwargs))

    @staticmethod
    @contextlib.contextmanager
    def allow_synchronize(allow):
        """Like cupyx.allow_synchronize: with False, reading a device array on the host raises HostSync."""
        before, DeviceArray.allowed = DeviceArray.allowed, allow
        try:
            yield
        finally:
            DeviceArray.allowed = before


SpyArrays = _SpyArrays()


def test_spy_arrays_catch_a_host_read():
    a = SpyArrays.asarray([1.0, -2.0])
    with SpyArrays.allow_synchronize(False):
        total = a.sum()                          # stays on the device
        with pytest.raises(HostSync):
            float(total)
        with pytest.raises(HostSync):
            if total > 0:
                pass
        with pytest.raises(HostSync):
            SpyArrays.lib.stride_tricks.sliding_window_view(a, 1)
    assert float(total) == -1.0


@pytest.mark.parametrize("task", TASKS)
def test_numpy_manual_on_cupy_never_waits_for_the_gpu_inside_a_step(task, monkeypatch):
    from implementations.numpy import core
    monkeypatch.setattr(registry, "skip_reason", lambda impl, device="cpu": None)
    monkeypatch.setattr(core, "array_module", lambda device: SpyArrays if device == "gpu" else np)
    gpu = api.make(task, "numpy/manual", device="gpu", **SMALL.get(task, {}))
    cpu = api.make(task, "numpy/manual", device="cpu", **SMALL.get(task, {}))
    with SpyArrays.allow_synchronize(False):
        gpu.step()
        gpu.step()
    gpu.sync()
    cpu.step()
    cpu.step()
    for name, value in cpu.params().items():     # the spy computed what numpy computes
        np.testing.assert_array_equal(gpu.params()[name], value)


def _probe(code: str, env: dict) -> subprocess.CompletedProcess:
    """Run `code` in a fresh Python at the project root with `env` added (XLA and TF read it at start-up)."""
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, **env},
                          capture_output=True, text=True, timeout=600)


def _results(stdout: str) -> list:
    """The probe's RESULT lines (TensorFlow's placement log writes to stdout too)."""
    return [json.loads(s.split(" ", 1)[1]) for s in stdout.splitlines() if s.startswith("RESULT ")]


def _between_markers(stderr: str) -> dict:
    """stderr lines by cell, taken between the probe's '=== cell' and '=== end' markers."""
    cells, cell = {}, None
    for line in stderr.splitlines():
        if line.startswith("=== end"):
            cell = None
        elif line.startswith("=== "):
            cell = line[4:]
            cells[cell] = []
        elif cell is not None:
            cells[cell].append(line)
    return cells


JAX_PROBE = """
import json, os
import jax
from bench import api
from implementations.jax import core
default, cell_device = jax.devices("cpu")      # device 0 is the default: it stands in for the GPU
core.device_of = lambda device: cell_device
for task in %(tasks)r:
    for impl in ("jax/eager", "jax/jit"):
        w = api.make(task, impl, **%(small)r.get(task, {}))
        os.write(2, f"=== {task} {impl}\\n".encode())
        try:
            with jax.transfer_guard_device_to_device("disallow"), jax.transfer_guard_device_to_host("disallow"), \\
                    jax.transfer_guard_host_to_device("log"):
                for _ in range(2):
                    w.step()
                    w.sync()
            error = None
        except Exception as e:
            error = str(e).splitlines()[0][:300]
        os.write(2, b"=== end\\n")
        print("RESULT", json.dumps({"cell": f"{task} {impl}", "error": error}), flush=True)
"""


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")
def test_jax_steps_stay_on_the_cells_device():
    out = _probe(JAX_PROBE % {"tasks": TASKS, "small": SMALL},   # unoptimised XLA: eager compiles each op, faster
                 {"XLA_FLAGS": "--xla_force_host_platform_device_count=2", "JAX_PLATFORMS": "cpu",
                  "JAX_DISABLE_MOST_OPTIMIZATIONS": "1"})
    assert out.returncode == 0, out.stderr[-2000:]
    rows = _results(out.stdout)
    assert len(rows) == 2 * len(TASKS)
    errors = {r["cell"]: r["error"] for r in rows if r["error"]}
    assert not errors, f"device-to-device or device-to-host transfers inside a step: {errors}"
    to_default = {cell: [s for s in lines if "host-to-device" in s and "id=0" in s]
                  for cell, lines in _between_markers(out.stderr).items()}
    assert not any(to_default.values()), f"host-to-device transfers onto the default device: {to_default}"


TF_PROBE = """
import json, os
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
tf.debugging.set_log_device_placement(True)
from bench import api
from implementations.tensorflow import core
core.device_of = lambda device: "/CPU:1"       # CPU:0 is the default device: it stands in for the GPU
for task in %(tasks)r:
    for impl in ("tensorflow/eager", "tensorflow/function", "tensorflow/session"):
        w = api.make(task, impl, **%(small)r.get(task, {}))
        graphs = {"tensorflow/function": lambda: [f.get_concrete_function().graph for f in (w.loss_and_grads, w.train_step)],
                  "tensorflow/session": lambda: [w.graph]}.get(impl, list)()
        unpinned = [f"{op.type} {op.name}" for g in graphs for op in g.get_operations()
                    if "CPU:1" not in op.device and op.type not in %(free)r]
        os.write(2, f"=== {task} {impl}\\n".encode())
        for _ in range(2):
            w.step()
            w.sync()
        os.write(2, b"=== end\\n")
        print("RESULT", json.dumps({"cell": f"{task} {impl}", "unpinned": unpinned}), flush=True)
"""
# graph nodes that may name no device: variable reads and their handles follow the variable, a constant
# captured from eager (the learning rate) goes with its only consumer, outputs and control nodes follow the call
# (the probe checks where the call runs)
TF_PLACEMENT_FREE = ("Placeholder", "ReadVariableOp", "Const", "Identity", "NoOp")


@pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None, reason="tensorflow is not installed")
def test_tensorflow_steps_stay_on_the_cells_device():
    out = _probe(TF_PROBE % {"tasks": TASKS, "small": SMALL, "free": TF_PLACEMENT_FREE}, {"TF_CPP_MIN_LOG_LEVEL": "0"})
    assert out.returncode == 0, out.stderr[-2000:]
    rows = _results(out.stdout)
    assert len(rows) == 3 * len(TASKS)
    # every op run, and every graph node placed, during the two steps: none on CPU:0 (function arguments of
    # single eager kernels excepted: they are host-memory shapes, which live on the host CPU on a GPU machine too)
    placed = re.compile(r"(Executing op \S+ in device|\): )\s*(/job\S*device:\w+:\d)")
    elsewhere = {cell: [s.strip()[-120:] for s in lines if (m := placed.search(s)) and not m.group(2).endswith("CPU:1")
                        and "(_Arg)" not in s and "(_DeviceArg)" not in s]
                 for cell, lines in _between_markers(out.stderr).items()}
    assert set(elsewhere) == {r["cell"] for r in rows}
    off = {r["cell"]: {k: v[:4] for k, v in (("graph ops naming no device or another", r["unpinned"]),
                                              ("ran or placed elsewhere", elsewhere[r["cell"]])) if v} for r in rows}
    assert not any(off.values()), f"off the cell's device: { {k: v for k, v in off.items() if v} }"
