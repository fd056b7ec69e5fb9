"""GPU cells' surroundings, checked without a GPU: what each worker is shown, GPU memory per cell, the registry's
distribution names, and a GPU backend that fails to start (a failed cell, not a skip)."""
import importlib.metadata
import importlib.util
import json
import os
import stat
import sys
import types
from pathlib import Path

import pytest

from bench import registry
from bench.run import runner, worker
from bench.workload import SkipCell

ROOT = Path(__file__).resolve().parent.parent


def _recording_python(tmp_path) -> str:
    """A `python` that writes its environment to tmp_path/<framework>-<device>.json, then runs the real one."""
    script = tmp_path / "python"
    script.write_text(f"""#!{sys.executable}
import json, os, sys
if sys.argv[1:3] == ["-m", "bench.run.worker"]:
    with open(os.path.join({str(tmp_path)!r}, f"{{sys.argv[3]}}-{{sys.argv[4]}}.json"), "w") as f:
        json.dump(dict(os.environ), f)
os.execv({sys.executable!r}, [{sys.executable!r}, *sys.argv[1:]])
""")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script)


def test_each_worker_sees_only_its_own_device(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "nvidia_gpu_present", lambda: True)      # so that a GPU worker is started
    cells = [{"task": "elementwise", "impl": "numpy/manual", "device": d, "size": runner.canonical("elementwise", {}),
              "variant": None, "retrace": None} for d in ("cpu", "gpu")]
    side = runner.Side("main", _recording_python(tmp_path), str(ROOT))
    records = runner.run_cells(cells, (side,), threads=1, blocks=2, warmup_s=0.01)
    assert [r["status"] for r in records] == ["ok", "skipped"]          # the worker itself finds no GPU here
    cpu = json.loads((tmp_path / "numpy-cpu.json").read_text())
    gpu = json.loads((tmp_path / "numpy-gpu.json").read_text())
    assert cpu["CUDA_VISIBLE_DEVICES"] == "" and cpu["JAX_PLATFORMS"] == "cpu"
    assert gpu.get("CUDA_VISIBLE_DEVICES") == os.environ.get("CUDA_VISIBLE_DEVICES")   # the user's choice of GPU
    assert gpu["TF_FORCE_GPU_ALLOW_GROWTH"] == "true" and gpu["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false"
    assert gpu["JAX_PLATFORMS"].split(",")[0] == "cuda"


def test_the_results_file_records_the_device_environment(tmp_path):
    from bench import environment
    from bench.cli import main
    out = tmp_path / "r.json"
    assert main(["run", "--tasks", "elementwise", "--impls", "numpy/manual", "--devices", "cpu", "--blocks", "2",
                 "--threads", "1", "--out", str(out)]) == 0
    recorded = json.loads(out.read_text())["environment"]["device_env"]
    assert recorded == {"cpu": environment.device_env("cpu")} and recorded["cpu"]["CUDA_VISIBLE_DEVICES"] == ""


class Allocator:
    """A GPU allocator as the frameworks count it: bytes in use, the peak, and (CuPy) a pool of cached blocks."""

    def __init__(self, in_use, peak):
        self.in_use, self.peak, self.pool = in_use, peak, in_use

    def run_cell(self, size):
        """A cell allocates `size` bytes above what is held, then frees them (the pool keeps them cached)."""
        self.in_use += size
        self.peak, self.pool = max(self.peak, self.in_use), max(self.pool, self.in_use)
        self.in_use -= size


def _fake(fw, a: Allocator):
    """A stand-in for the framework's memory API, reading `a`."""
    ns = types.SimpleNamespace
    if fw == "torch":
        return ns(cuda=ns(reset_peak_memory_stats=lambda: setattr(a, "peak", a.in_use),
                          memory_allocated=lambda: a.in_use, max_memory_allocated=lambda: a.peak))
    if fw == "tensorflow":
        return ns(config=ns(experimental=ns(reset_memory_stats=lambda d: setattr(a, "peak", a.in_use),
                                            get_memory_info=lambda d: {"current": a.in_use, "peak": a.peak})))
    if fw == "jax":        # no reset
        return ns(devices=lambda kind: [ns(memory_stats=lambda: {"bytes_in_use": a.in_use, "peak_bytes_in_use": a.peak})])
    pool = ns(used_bytes=lambda: a.in_use, total_bytes=lambda: a.pool, free_all_blocks=lambda: setattr(a, "pool", a.in_use))
    return ns(get_default_memory_pool=lambda: pool)


@pytest.mark.parametrize("fw", ["torch", "tensorflow", "jax", "numpy"])
def test_gpu_peak_is_the_cells_own_above_what_earlier_cells_hold(fw, monkeypatch):
    a = Allocator(in_use=1000, peak=5000)         # earlier cells hold 1000 bytes; one of them peaked at 5000
    a.pool = 5000                                  # CuPy: the pool still caches the earlier peak's blocks
    monkeypatch.setitem(sys.modules, "cupy" if fw == "numpy" else fw, _fake(fw, a))

    def cell(size):
        start = worker._gpu_memory(fw, reset=True)
        a.run_cell(size)
        return worker.cell_gpu_peak(start, worker._gpu_memory(fw), resettable=fw != "jax")

    if fw == "jax":                                # its peak stays at 5000: this cell's own is unknown
        assert cell(300) is None
        assert cell(7000) == 7000                  # a new high-water mark is this cell's: 8000 - 1000
    else:
        assert cell(300) == 300
        assert cell(7000) == 7000
        assert cell(20) == 20


def test_gpu_peak_arithmetic():
    assert worker.cell_gpu_peak((1000, 1000), (1000, 1300), resettable=True) == 300
    assert worker.cell_gpu_peak((1000, 5000), (1000, 5000), resettable=False) is None
    assert worker.cell_gpu_peak((1000, 5000), (1000, 6000), resettable=False) == 5000
    assert worker.cell_gpu_peak(None, (0, 1), resettable=True) is None


class FakeDist:
    def __init__(self, name):
        self.metadata = {"Name": name}


@pytest.mark.parametrize("installed, impl, skipped", [
    (["tensorflow_cpu"], "tensorflow/eager", "tensorflow-cpu is installed"),     # pip's wheel metadata name
    (["TensorFlow-CPU"], "tensorflow/eager", "tensorflow-cpu is installed"),
    (["tensorflow", "nvidia_cudnn_cu12"], "tensorflow/eager", None),
    (["jax", "jaxlib"], "jax/jit", "no CUDA plugin"),
    (["jax", "jax_cuda12_plugin", "jax_cuda12_pjrt"], "jax/jit", None),
    (["jax", "Jax-Cuda12-Plugin"], "jax/eager", None),
])
def test_registry_reads_distribution_names_as_pip_writes_them(installed, impl, skipped, monkeypatch):
    monkeypatch.setattr(registry, "nvidia_gpu_present", lambda: True)
    monkeypatch.setattr(registry, "_installed", lambda name: True)
    monkeypatch.setattr(importlib.metadata, "distributions", lambda: [FakeDist(n) for n in installed])
    reason = registry.skip_reason(impl, "gpu")
    assert (reason is None) if skipped is None else (skipped in (reason or "")), reason


# -- a GPU backend that fails to start is a failed cell with its error; a GPU that is absent stays a skip
def _fails_not_skips(call):
    with pytest.raises(Exception) as e:
        call()
    assert not isinstance(e.value, SkipCell), f"a broken GPU backend reported as a skip: {e.value}"
    return str(e.value)


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")
def test_jax_gpu_backend_that_fails_to_start_fails_the_cell(monkeypatch):
    import jax
    from implementations.jax import core

    def devices(kind=None):
        if kind == "gpu":
            raise RuntimeError("Unable to initialize backend 'cuda': no supported devices found for platform CUDA")
        return real(kind)
    real = jax.devices
    monkeypatch.setattr(jax, "devices", devices)
    assert "Unable to initialize backend 'cuda'" in _fails_not_skips(lambda: core.device_of("gpu"))
    monkeypatch.setattr(registry, "skip_reason", lambda impl, device="cpu": None)
    w = worker.Worker("jax", "gpu", 1)             # in the worker, the error reaches the runner as a failed cell
    _fails_not_skips(lambda: w.prepare({"cell": 0, "task": "elementwise", "impl": "jax/jit",
                                        "size": runner.canonical("elementwise", {}), "min_block_s": 0.01}))


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch is not installed")
def test_torch_cuda_that_fails_to_start_fails_the_cell(monkeypatch):
    import torch
    from implementations.torch import core
    if not torch.backends.cuda.is_built():
        with pytest.raises(SkipCell, match="CPU-only build"):
            core.device_of("gpu")
    monkeypatch.setattr(torch.backends.cuda, "is_built", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)

    def init():
        raise RuntimeError("The NVIDIA driver on your system is too old")
    monkeypatch.setattr(torch.cuda, "init", init)
    assert "driver on your system is too old" in _fails_not_skips(lambda: core.device_of("gpu"))


@pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None, reason="tensorflow is not installed")
def test_tensorflow_cuda_build_without_a_gpu_fails_the_cell(monkeypatch):
    import tensorflow as tf
    from implementations.tensorflow import core
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: [])
    monkeypatch.setattr(tf.test, "is_built_with_cuda", lambda: False)
    with pytest.raises(SkipCell, match="CPU-only build"):
        core.device_of("gpu")
    monkeypatch.setattr(tf.test, "is_built_with_cuda", lambda: True)
    assert "CUDA libraries did not load" in _fails_not_skips(lambda: core.device_of("gpu"))


def test_cupy_that_cannot_start_cuda_fails_the_cell(monkeypatch):
    from implementations.numpy import core

    class CUDARuntimeError(RuntimeError):
        pass

    def count():
        raise CUDARuntimeError("cudaErrorInsufficientDriver: CUDA driver version is insufficient")
    runtime = types.SimpleNamespace(getDeviceCount=count, CUDARuntimeError=CUDARuntimeError)
    monkeypatch.setitem(sys.modules, "cupy", types.SimpleNamespace(cuda=types.SimpleNamespace(runtime=runtime)))
    assert "InsufficientDriver" in _fails_not_skips(lambda: core.array_module("gpu"))
    runtime.getDeviceCount = lambda: 0
    with pytest.raises(SkipCell, match="no CUDA device"):
        core.array_module("gpu")
