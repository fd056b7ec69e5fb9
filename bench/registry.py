"""Which implementations exist, whether they can run here, and the only place that imports them.

Every folder of implementations/ declares its frameworks in its `__init__.py` (see implementations/__init__.py):
the registry reads those declarations, and knows no framework by name.
"""
from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import os
import pkgutil
import shutil
from pathlib import Path

DEVICES = ("cpu", "gpu")


def _declarations() -> dict:
    """{framework id: its declaration, with "folder" and "package" added}, in the folders' declared ORDER."""
    import implementations
    found = []
    for info in pkgutil.iter_modules(implementations.__path__):
        if not info.ispkg:
            continue
        pkg = importlib.import_module(f"implementations.{info.name}")
        for fw, decl in getattr(pkg, "FRAMEWORKS", {}).items():
            found.append((getattr(pkg, "ORDER", 1000), info.name, fw,
                          {"gpu_imports": (), "install": {}, "module_extras": {}, "env": {}, "allocator": fw,
                           "skip_tasks": {}, **decl,
                           "folder": info.name, "package": pkg}))
    return {fw: decl for _, _, fw, decl in sorted(found, key=lambda f: f[:2])}


FRAMEWORKS = _declarations()
IMPLS = tuple(f"{fw}/{mode}" for fw, decl in FRAMEWORKS.items() for mode in decl["modes"])
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


def mode_info(impl: str) -> dict:
    """What `impl`'s folder declares about its mode ({} for an id this checkout does not know)."""
    fw, _, mode = impl.partition("/")
    return FRAMEWORKS.get(fw, {}).get("modes", {}).get(mode, {})


def paradigm(impl: str) -> str:
    """'define-by-run', 'define-and-run', ... as declared (for an unknown id: as its mode is declared elsewhere)."""
    mode = impl.partition("/")[2]
    same = [d["modes"][mode]["paradigm"] for d in FRAMEWORKS.values() if mode in d["modes"]]
    return mode_info(impl).get("paradigm") or (same[0] if same else mode)


def quick_impls() -> list[str]:
    """The implementations of the quick profile: all but those whose build takes too long for it."""
    return [i for i in IMPLS if mode_info(i).get("quick", True) is not False]


def in_quick(impl: str, task: str) -> bool:
    """Whether the quick profile runs `impl` on `task` (a mode may declare the tasks it is quick enough for)."""
    quick = mode_info(impl).get("quick", True)
    return quick if isinstance(quick, bool) else task in quick


def retrace_how(impl: str) -> str | None:
    """What a new batch size costs a graph mode (None: `impl` builds nothing to retrace)."""
    return mode_info(impl).get("retrace")


def wrapped(impl: str) -> str | None:
    """The raw implementation `impl` is a layer over (None for a raw one)."""
    return mode_info(impl).get("wraps")


def worker_of(fw: str) -> str:
    """The framework whose worker process runs `fw`'s cells: its own, or the one it declares it runs on."""
    return FRAMEWORKS.get(fw, {}).get("worker", fw)


def modules(fw: str, device: str = "cpu") -> tuple[str, ...]:
    """The modules a worker of `fw` imports on `device` ((fw,) for an unknown id)."""
    decl = FRAMEWORKS.get(fw)
    if decl is None:
        return (fw,)
    return tuple(decl["imports"]) + (tuple(decl["gpu_imports"]) if device == "gpu" else ())


def dists() -> dict:
    """{module: its distribution names} for every module a framework imports (versions are read from these)."""
    aliases = {}
    for decl in FRAMEWORKS.values():
        aliases.update(getattr(decl["package"], "DISTS", {}))
    names = [n for key in ("imports", "gpu_imports") for decl in FRAMEWORKS.values() for n in decl[key]]
    return {n: tuple(aliases.get(n, (n,))) for n in dict.fromkeys(names)}


def _installed(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def distributions() -> set[str]:
    """Installed distributions, names normalised (tensorflow_cpu and TensorFlow-CPU are tensorflow-cpu)."""
    from packaging.utils import canonicalize_name
    return {canonicalize_name(d.metadata["Name"] or "") for d in importlib.metadata.distributions()}


def nvidia_gpu_present() -> bool:
    """Whether an NVIDIA driver is visible, checked without importing any framework."""
    return shutil.which("nvidia-smi") is not None or os.path.exists("/dev/nvidia0")


def install_hint(extra: str, root=None) -> str:
    """The pip command that installs `extra`: editable in a checkout (a pyproject.toml beside bench/), else the wheel's."""
    root = Path(root) if root else Path(__file__).resolve().parents[1]
    if (root / "pyproject.toml").is_file():
        return f"pip install -e '.[{extra}]'"
    return f"pip install 'fwbench[{extra}]'"


def skip_reason(impl: str, device: str = "cpu") -> str | None:
    """None if `impl` can run on `device` here, else a sentence a person can act on."""
    fw, mode = check_impl(impl)
    check_device(device)
    decl = FRAMEWORKS[fw]
    for name in modules(fw, device):
        if not _installed(name):
            hint = decl["install"].get(name) or install_hint(decl["module_extras"].get(name, decl["extra"]))
            return f"{name} is not installed ({hint})"
    if device == "gpu" and not nvidia_gpu_present():
        return "no GPU on this machine (no NVIDIA driver found)"
    check = getattr(decl["package"], "skip_reason", None)
    return check(fw, mode, device) if check else None


def task_skip_reason(impl: str, task: str) -> str | None:
    """Why `impl` does not implement `task` (None if it does)."""
    fw, _ = check_impl(impl)
    return FRAMEWORKS[fw]["skip_tasks"].get(task)


def workload_class(impl: str):
    """The Workload subclass of `impl`; imports the framework."""
    fw, mode = check_impl(impl)
    if impl in extra_impls():
        return extra_impls()[impl]
    core = importlib.import_module(f"implementations.{FRAMEWORKS[fw]['folder']}.core")
    return getattr(core, mode.capitalize())


def task_module(impl: str, task: str):
    """The module holding `task` written for `impl`'s framework."""
    fw, _ = check_impl(impl)
    return importlib.import_module(f"implementations.{FRAMEWORKS[fw]['folder']}.{task}")
