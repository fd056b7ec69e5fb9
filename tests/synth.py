"""Synthetic results files whose numbers are known: cells with chosen medians and real (seeded) noise."""
import contextlib
import io

import numpy as np

from bench import results
from bench.run import runner, timing

ENV = {"machine": "synthetic 2-core", "python": "3.12.0", "platform": "Linux", "os": "Linux",
       "cpu": {"model": "Synthetic CPU", "cores_physical": 2, "peak_gflops": 100.0},
       "gpus": [], "frameworks": {"numpy": "2.0", "torch": "2.13.0", "tensorflow": "2.21.0", "jax": "0.10.2"},
       "threads": 2, "git": {"commit": "0" * 40, "dirty": False}}


def samples(median_s, rel_noise=0.03, n=16, seed=0):
    """`n` per-step samples with lognormal noise whose median is exactly `median_s`."""
    x = np.exp(np.random.default_rng(seed).normal(0.0, rel_noise, n))
    return list(median_s * x / np.median(x))


def cell(task, impl, median_s=None, *, given=None, build_s=0.0, import_s=0.5, first_step_s=None, status="ok",
         reason=None, size=None, seed=0, rel_noise=0.03, n=16, grad_err=1e-7, block=100, retrace_s=None):
    """One results-file cell: `given` samples, else noisy samples around `median_s`."""
    size = runner.canonical(task, size or {})
    out = {"task": task, "impl": impl, "device": "cpu", "size": size, "variant": None, "status": status,
           "reason": reason, "phases": None, "step": None, "gradcheck": None, "memory": None, "traces": None,
           "retrace": None, "flops": None, "gflops": None}
    if status != "ok":
        return out
    x = given if given is not None else samples(median_s, rel_noise, n, seed)
    out.update(phases={"import_s": import_s, "setup_s": 0.001, "build_s": build_s,
                       "first_step_s": first_step_s if first_step_s is not None else 2 * float(np.median(x))},
               step={**timing.stats(x), "block": block},
               gradcheck={"max_rel_err": grad_err, "loss_rel_err": grad_err, "tol": 1e-5, "ok": True},
               memory={"peak_rss_bytes": 10**8, "gpu_peak_bytes": None}, traces={"build": 0, "steady": 0})
    if retrace_s is not None:
        out["retrace"] = {"size": runner.canonical(task, runner.RETRACE[task]), "first_step_s": retrace_s,
                          "build_s": retrace_s / 2, "step_s": retrace_s / 2, "setup_s": 0.0, "traces": 1}
    return out


HARNESS = {"overhead_s": 5e-8, "timer": "perf_counter", "min_block_s": dict(timing.MIN_BLOCK_S), "blocks": 16,
           "warmup_s": 0.1, "wall_s": 60.0, "interrupted": False}


def run(cells, run_id="synthetic", created="2026-01-01T00:00:00+00:00", profile="quick", **env):
    """A whole results file (dict) around `cells`; `env` replaces environment fields."""
    data = {"schema": results.SCHEMA, "run_id": run_id, "created": created, "profile": profile,
            "environment": {**ENV, **env}, "examples": {}, "results": cells, "harness": dict(HARNESS)}
    return results.validate(data, run_id)


def write(path, cells, **kw):
    """`run(cells, **kw)` written to `path`; the path."""
    results.write_atomic(path, run(cells, run_id=kw.pop("run_id", path.stem), **kw))
    return path


def fwbench(*args):
    """`fwbench ARGS` in this process (fast): (exit code, stdout, stderr)."""
    from bench.cli import main
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in args])
        except SystemExit as e:
            code = e.code
    return code, out.getvalue(), err.getvalue()
