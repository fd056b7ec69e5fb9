"""Provenance of a run: machine, CPU peak, GPUs, OS, Python, framework versions, BLAS, threads, git.

Nothing here imports a framework: versions come from package metadata, GPUs from nvidia-smi.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import os
import platform
import shutil
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def thread_env(n: int) -> dict:
    """Environment that gives every framework `n` threads, set before its import: the thread *count* only.

    Nothing else of a framework's runtime is changed (no OpenMP wait policy, no block time, no BLAS thread
    timeout): those retune the thread pools and bias what is measured against what users see (torch/eager
    mlp 1.2 ms with OMP_WAIT_POLICY=PASSIVE etc., 0.38 ms without). Idle workers are kept quiet by the
    scheduler instead (bench.run.runner waits for a worker to go idle before another one runs).
    XLA has a thread-count flag only for n = 1; for 1 < n < available CPUs the worker pins itself to the
    first n CPUs (FWBENCH_CPUS), which XLA sizes its pool from, and so do all the others.
    """
    xla = os.environ.get("XLA_FLAGS", "")
    if n == 1 and "xla_cpu_multi_thread_eigen" not in xla:
        xla = f"{xla} --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1".strip()
    env = {"OMP_NUM_THREADS": str(n), "MKL_NUM_THREADS": str(n), "OPENBLAS_NUM_THREADS": str(n),
           "TF_NUM_INTRAOP_THREADS": str(n), "TF_NUM_INTEROP_THREADS": str(n)}
    if xla:
        env["XLA_FLAGS"] = xla
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if 0 < n < len(cpus):
        env["FWBENCH_CPUS"] = ",".join(map(str, cpus[:n]))
    return env


# variables that retune a framework's thread runtime: never set by fwbench, recorded as a caveat when a
# user passes them (--worker-env) or has them in the environment the workers inherit
RUNTIME_TUNING = ("OMP_WAIT_POLICY", "KMP_BLOCKTIME", "KMP_AFFINITY", "OMP_PROC_BIND", "OMP_PLACES",
                  "GOMP_SPINCOUNT", "OPENBLAS_THREAD_TIMEOUT", "MKL_DYNAMIC", "OMP_DYNAMIC")


def runtime_tuning(extra: dict | None = None) -> dict:
    """The runtime-tuning variables the workers will see: inherited from this environment or passed in `extra`."""
    seen = {k: os.environ[k] for k in RUNTIME_TUNING if k in os.environ}
    return {**seen, **{k: v for k, v in (extra or {}).items() if k in RUNTIME_TUNING}}


def physical_cores() -> int:
    """Physical cores available (the default thread count)."""
    import psutil
    return psutil.cpu_count(logical=False) or os.cpu_count() or 1


def _dists() -> dict:
    """{module: distribution names} of every module the frameworks' folders import."""
    from bench.registry import dists
    return dists()


def version(name: str) -> str | None:
    """The installed version of a framework (any of its distribution names), or None."""
    for dist in _dists().get(name, (name,)):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def flop_per_cycle(vendor: str, family: int, flags) -> tuple[int, str]:
    """fp32 FLOP per cycle per core of this microarchitecture's vector FMA units, and the reason.

    AMD Zen 4 accepts AVX-512 but executes it as two 256-bit halves: 2 FMA pipes x 8 lanes x 2 = 32, the
    same as its AVX2 and as Zen 2/3. Zen 5 (family 0x1A) has full 512-bit pipes. Intel cores with AVX-512
    have one or two 512-bit FMA units (Xeon Silver and Gold 5xxx one, Gold 6xxx and Platinum two) and the
    flags cannot tell which: two are assumed and the basis says so.
    """
    flags = set(flags)
    amd = "amd" in vendor.lower()
    if "avx512f" in flags and "fma" in flags:
        if amd and family < 0x1A:
            return 32, "AMD Zen 4: AVX-512 runs as two 256-bit halves, 2 FMA pipes x 8 lanes x 2"
        if amd:
            return 64, "AMD Zen 5: 2 x 512-bit FMA pipes x 16 lanes x 2"
        return 64, "AVX-512: 2 FMA units x 16 lanes x 2 (assumed two units; one-unit Xeons have half)"
    if "avx2" in flags and "fma" in flags:
        return 32, "AVX2 FMA: 2 units x 8 lanes x 2"
    if "avx" in flags:
        return 16, "AVX: 8-lane add + 8-lane mul"
    return 8, "SSE: 4-lane add + 4-lane mul"


def cpu(cores_physical=None) -> dict:
    """CPU model, cores, and the theoretical fp32 peak GFLOP/s = cores x clock x FLOP/cycle, with its basis."""
    import cpuinfo
    import psutil
    info = cpuinfo.get_cpu_info()
    flags = info.get("flags", [])
    cores = cores_physical or physical_cores()
    hz = (info.get("hz_advertised") or info.get("hz_actual") or (0, 0))[0]
    if not hz and psutil.cpu_freq():
        hz = psutil.cpu_freq().max * 1e6
    fpc, why = flop_per_cycle(info.get("vendor_id_raw") or "", int(info.get("family") or 0), flags)
    peak = cores * hz / 1e9 * fpc if hz else None
    basis = (f"{cores} cores x {hz / 1e9:.2f} GHz (advertised) x {fpc} fp32 FLOP/cycle ({why}; ignores "
             "turbo and AVX clock offsets)") if hz else "clock unknown"
    return {"model": info.get("brand_raw") or platform.processor() or "unknown CPU",
            "vendor": info.get("vendor_id_raw"), "family": info.get("family"), "model_number": info.get("model"),
            "cores_logical": psutil.cpu_count(), "cores_physical": cores, "flags_avx2": "avx2" in flags,
            "flags_avx512": "avx512f" in flags, "peak_gflops": round(peak, 1) if peak else None,
            "peak_basis": basis}


SGEMM = r"""
import json, time, numpy as np
from threadpoolctl import threadpool_info
best = {}
for n in (1024, 2048):
    a, b = (np.random.default_rng(0).standard_normal((n, n), dtype=np.float32) for _ in range(2))
    a @ b
    ts = []
    for _ in range(3):
        t0 = time.perf_counter(); a @ b; ts.append(time.perf_counter() - t0)
    best[n] = 2 * n ** 3 / min(ts) / 1e9
n = max(best, key=best.get)
blas = [f"{l.get('internal_api')} {l.get('version')}" for l in threadpool_info() if l.get("user_api") == "blas"]
print(json.dumps({"gflops": round(best[n], 1), "size": n, "by_size": {str(k): round(v, 1) for k, v in best.items()},
                  "library": ", ".join(blas) or "unknown", "numpy": np.__version__}))
"""


def measured_peak(env: dict, timeout: float = 120.0) -> dict | None:
    """Best fp32 GFLOP/s of a large sgemm (numpy's BLAS) in a fresh process with the run's thread settings."""
    import json
    try:
        r = subprocess.run([sys.executable, "-c", SGEMM], env={**os.environ, **env}, capture_output=True,
                           text=True, timeout=timeout)
        out = json.loads(r.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None
    return {"gflops": out["gflops"], "basis": f"best of 3 numpy float32 matmuls at n = {out['size']} "
            f"(tried {', '.join(out['by_size'])}) through {out['library']}, numpy {out['numpy']}",
            "size": out["size"], "by_size": out["by_size"]}


def gpus() -> list[dict]:
    """NVIDIA GPUs as nvidia-smi reports them (empty where there is none)."""
    if not shutil.which("nvidia-smi"):
        return []
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total",
                              "--format=csv,noheader,nounits"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    rows = [[s.strip() for s in line.split(",")] for line in out.strip().splitlines() if line.count(",") == 2]
    return [{"name": n, "driver": d, "memory_gb": round(float(m) / 1024, 1) if m.replace(".", "").isdigit() else None}
            for n, d, m in rows]


DATA = ("results", "reports", "machines")      # what runs write into the tree: data, not the code that measured it


def git(root=ROOT) -> dict:
    """The checked-out commit and whether tracked code differs from it (results/ and reports/ are data: a run
    writing its own results file, or the one before it, does not make the code dirty)."""
    def sh(*args):
        try:
            r = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=30)
            return r.stdout.strip() if r.returncode == 0 else None
        except (OSError, subprocess.SubprocessError):
            return None
    commit = sh("rev-parse", "HEAD")
    dirty = sh("status", "--porcelain", "--untracked-files=no", "--", ".", *(f":(exclude){d}" for d in DATA))
    return {"commit": commit, "dirty": bool(dirty) if commit else None}


def blas() -> dict:
    """threadpoolctl's view of the BLAS/OpenMP libraries loaded in this (numpy-only) process."""
    from threadpoolctl import threadpool_info
    keep = ("internal_api", "version", "num_threads", "threading_layer", "architecture")
    return {"main": [{k: lib.get(k) for k in keep if k in lib} for lib in threadpool_info()]}


BUSY_PCT = 25.0          # other processes using more than this share of all CPUs before a run: warn and record it


def busy(interval: float = 0.25) -> dict:
    """How busy the machine is before a run (this process idle meanwhile): the share of all CPUs in use over
    `interval` seconds, the 1-minute load average and the CPU count."""
    import psutil
    return {"cpu_pct": float(psutil.cpu_percent(interval=interval)), "load_1m": round(os.getloadavg()[0], 2),
            "cpus": psutil.cpu_count() or 1, "interval_s": interval}


def busy_warning(state: dict | None) -> str | None:
    """One sentence for a run that started on a busy machine (`busy()`'s record), else None."""
    if not state or state.get("cpu_pct") is None or state["cpu_pct"] <= BUSY_PCT:
        return None
    return (f"other processes kept {state['cpu_pct']:.0f}% of the {state.get('cpus', '?')} CPUs busy when the run "
            "started: its step times are likely slower and noisier than on an idle machine (one busy core can slow "
            "a multi-threaded step many times over)")


def collect(threads: int, env: dict, machine: str | None = None, extra_env: dict | None = None) -> dict:
    """The `environment` block of a results file; `extra_env` is what the user added to the workers' env."""
    import psutil
    from bench import __version__
    c = cpu()
    measured = measured_peak({**env, **(extra_env or {})})
    c["peak_measured_gflops"] = measured["gflops"] if measured else None
    c["peak_measured_basis"] = measured["basis"] if measured else "not measured (the sgemm probe failed)"
    return {"machine": machine or f"{c['model']} x{c['cores_physical']}",
            "hostname_hash": hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8],
            "python": platform.python_version(), "platform": platform.platform(),
            "os": f"{platform.system()} {platform.release()}", "cpu": c,
            "memory_gb": round(psutil.virtual_memory().total / 2**30, 1), "gpus": gpus(),
            "frameworks": {name: version(name) for name in _dists()}, "blas": blas(),
            "threads": threads, "thread_env": dict(env), "worker_env_extra": dict(extra_env or {}),
            "runtime_tuning": runtime_tuning(extra_env), "git": git(), "fwbench": __version__,
            "executable": Path(sys.executable).name}


GPU_MEMORY_ON_DEMAND = {"TF_FORCE_GPU_ALLOW_GROWTH": "true", "XLA_PYTHON_CLIENT_PREALLOCATE": "false"}


def device_env(device: str) -> dict:
    """Environment that shows a worker its own device only, set before the framework's import and recorded.

    CPU workers hide every GPU (CUDA_VISIBLE_DEVICES="", JAX_PLATFORMS=cpu): a GPU build of TensorFlow or JAX
    would otherwise start CUDA and map GPU memory in a worker that only times CPU cells, and their unpinned ops
    could land on the GPU. GPU workers take GPU memory as they need it instead of mapping it all at start
    (TensorFlow maps nearly all free memory, JAX 75%), so workers of other frameworks sharing the GPU can start;
    JAX_PLATFORMS=cuda,cpu makes a CUDA backend that fails to start an error rather than a quiet CPU fallback.
    These place work on devices; they tune nothing of a framework's runtime.
    """
    if device == "cpu":
        return {"CUDA_VISIBLE_DEVICES": "", "JAX_PLATFORMS": "cpu"}
    return {**GPU_MEMORY_ON_DEMAND, "JAX_PLATFORMS": "cuda,cpu"}


def share_gpu():
    """For a process that runs several frameworks on one GPU (gradcheck, examples, pytest --benchmark): GPU memory
    on demand, before any framework starts, unless the user has set otherwise."""
    for key, value in GPU_MEMORY_ON_DEMAND.items():
        os.environ.setdefault(key, value)
