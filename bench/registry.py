"""Which implementations exist, whether they can run here, and the only place that imports them."""
from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import os
import shutil

FRAMEWORKS = ("numpy", "torch", "tensorflow", "jax")
IMPLS = ("numpy/manual", "torch/eager", "torch/compile", "tensorflow/eager", "tensorflow/function",
         "tensorflow/session", "jax/eager", "jax/jit")
DEVICES = ("cpu", "gpu")
PARADIGM = {"manual": "hand-written backprop", "eager": "define-by-run", "compile": "define-and-run",
            "function": "define-and-run", "session": "define-and-run", "jit": "define-and-run"}
EXTRA = {"numpy": "", "torch": "torch", "tensorflow": "tensorflow", "jax": "jax"}
EXTRA_IMPLS_ENV = "FWBENCH_EXTRA_IMPLS"   # test hook: a module whose IMPLS maps more ids to Workload classes


def extra_impls() -> dict:
    """Implementations added by the module named in $FWBENCH_EXTRA_IMPLS (tests' fakes); never in IMPLS or lists."""
    name = os.environ.get(EXTRA_IMPLS_ENV)
    return dict(importlib.import_module(name).IMPLS) if name else {}


def known() -> tuple:
    """The ids `--impls` accepts: IMPLS plus any test-hook implementations."""
    return IMPLS + tuple(extra_impls())


def check_impl(impl: str) -> tuple[str, str]:
    """(framework, mode) of `impl`, or a ValueError naming the valid ids."""
    if impl not in IMPLS and impl not in extra_impls():
        raise ValueError(f"unknown implementation {impl!r}; valid implementations: {', '.join(IMPLS)}")
    fw, mode = impl.split("/")
    return fw, mode


def check_device(device: str) -> str:
    if device not in DEVICES:
        raise ValueError(f"unknown device {device!r}; valid devices: {', '.join(DEVICES)}")
    return device


def _installed(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def _dists() -> set[str]:
    """Installed distributions, names normalised (tensorflow_cpu and TensorFlow-CPU are tensorflow-cpu)."""
    from packaging.utils import canonicalize_name
    return {canonicalize_name(d.metadata["Name"] or "") for d in importlib.metadata.distributions()}


def nvidia_gpu_present() -> bool:
    """Whether an NVIDIA driver is visible, checked without importing any framework."""
    return shutil.which("nvidia-smi") is not None or os.path.exists("/dev/nvidia0")


def skip_reason(impl: str, device: str = "cpu") -> str | None:
    """None if `impl` can run on `device` here, else a sentence a person can act on."""
    fw, mode = check_impl(impl)
    check_device(device)
    module = "cupy" if (fw, device) == ("numpy", "gpu") else fw
    if not _installed(module):
        hint = "pip install cupy-cuda12x" if module == "cupy" else f"pip install '.[{EXTRA[fw]}]'"
        return f"{module} is not installed ({hint})"
    if impl == "torch/compile" and device == "cpu" and not (shutil.which("g++") or shutil.which("c++")):
        return "torch.compile on CPU needs a C++ compiler (g++) on PATH"
    if device == "gpu":
        if not nvidia_gpu_present():
            return "no GPU on this machine (no NVIDIA driver found)"
        dists = _dists()
        if fw == "tensorflow" and "tensorflow-cpu" in dists and "tensorflow" not in dists:
            return "tensorflow-cpu is installed, which has no GPU support (pip install 'tensorflow[and-cuda]')"
        if fw == "jax" and not any(d.startswith("jax-cuda") for d in dists):
            return "jax has no CUDA plugin installed (pip install 'jax[cuda12]')"
    return None


def workload_class(impl: str):
    """The Workload subclass of `impl`; imports the framework."""
    fw, mode = check_impl(impl)
    if impl in extra_impls():
        return extra_impls()[impl]
    core = importlib.import_module(f"implementations.{fw}.core")
    return getattr(core, mode.capitalize())


def task_module(impl: str, task: str):
    """The module holding `task` written for `impl`'s framework."""
    fw, _ = check_impl(impl)
    return importlib.import_module(f"implementations.{fw}.{task}")
