"""Results files -> one pandas DataFrame, one row per cell, with flat columns (report, history, gate).

Columns (None/NaN where a cell lacks the field, e.g. skipped or failed cells):

  source        the results file's path (str), or "<memory>" for a dict
  machine       environment.machine (short label: CPU model + cores, or --machine NAME)
  run_id        the run's id; created: its ISO-8601 UTC time (str); profile: "quick"/"full"/...
  task, impl    "cnn", "torch/eager"; framework, mode: "torch", "eager" (impl split at "/")
  paradigm      "define-by-run", "define-and-run" or "hand-written backprop" (as the implementation's folder declares it)
  device        "cpu" / "gpu"
  size          short label of the size knobs ("batch=64"); size_json: the knobs as sorted JSON
  variant       None, or e.g. "aa-copy" for an A/A duplicate cell
  status        "ok" / "skipped" / "failed"; reason: why a cell was skipped or failed
  import_s, setup_s, build_s, first_step_s      the phases, seconds
  median_s, ci_lo_s, ci_hi_s, iqr_s, min_s, mean_s   steady step statistics, seconds per step
  rel_iqr       iqr_s / median_s; noisy: bool (IQR/median > 0.10, as the harness flagged it)
  precision_pct the 95% CI's half-width in % of the median (step.precision.reached_pct); target_pct: the
                precision asked (--precision; NaN for a fixed block count); precision_met: bool or None
  block         steps per timed block; n_samples: number of blocks; samples_s: list of per-step seconds
  traces_build, traces_steady                   traces/compiles during build and in steady state
  retrace_size, retrace_first_step_s, retrace_traces   first step at a new batch size (graph modes, full)
  grad_max_rel_err, grad_loss_rel_err, grad_tol, grad_ok   from the cell's "gradcheck"
  peak_rss_bytes, gpu_peak_bytes                memory
  flops         analytic FLOPs of one step; gflops: flops / median_s
  peak_gflops   the machine's theoretical fp32 peak (environment.cpu.peak_gflops); pct_peak: 100 * gflops / it
  peak_measured_gflops  the best large sgemm measured in the run (environment.cpu.peak_measured_gflops);
                pct_measured: 100 * gflops / it
  overhead_s    the harness's per-step timing-loop overhead for this run
  processes     worker processes the cell was timed in (fwbench run --processes); process_spread: the slowest
                process's median over the fastest's (NaN for one process)

Columns in NUMERIC are float (NaN when missing); the others keep Python objects (None when missing).
"""
from __future__ import annotations

import json

COLUMNS = ("source", "machine", "run_id", "created", "profile", "task", "impl", "framework", "mode", "paradigm",
           "device", "size", "size_json", "variant", "status", "reason", "import_s", "setup_s", "build_s",
           "first_step_s", "median_s", "ci_lo_s", "ci_hi_s", "iqr_s", "min_s", "mean_s", "rel_iqr", "noisy",
           "precision_pct", "target_pct", "precision_met",
           "block", "n_samples", "samples_s", "traces_build", "traces_steady", "retrace_size",
           "retrace_first_step_s", "retrace_traces", "grad_max_rel_err", "grad_loss_rel_err", "grad_tol",
           "grad_ok", "peak_rss_bytes", "gpu_peak_bytes", "flops", "gflops", "peak_gflops", "pct_peak",
           "peak_measured_gflops", "pct_measured", "overhead_s", "processes", "process_spread")

NUMERIC = ("import_s", "setup_s", "build_s", "first_step_s", "median_s", "ci_lo_s", "ci_hi_s", "iqr_s", "min_s",
           "mean_s", "rel_iqr", "precision_pct", "target_pct", "retrace_first_step_s", "grad_max_rel_err", "grad_loss_rel_err", "grad_tol",
           "flops", "gflops", "peak_gflops", "pct_peak", "peak_measured_gflops", "pct_measured", "overhead_s",
           "process_spread")


def _num(v):
    """A float, or None for missing/non-numeric values."""
    try:
        return None if v is None else float(v)
    except (TypeError, ValueError):
        return None


def row(cell: dict, data: dict, source: str = "<memory>") -> dict:
    """One flat row (a dict with every name in COLUMNS) for one cell of a results file."""
    from bench.registry import paradigm
    from bench.results import size_label
    env = data.get("environment") or {}
    fw, _, mode = cell["impl"].partition("/")
    phases = cell.get("phases") or {}
    step = cell.get("step") or {}
    ci = step.get("ci95_s") or [None, None]
    traces = cell.get("traces") or {}
    retrace = cell.get("retrace") or {}
    grad = cell.get("gradcheck") or {}
    mem = cell.get("memory") or {}
    samples = step.get("samples_s") or []
    precision = step.get("precision") or {}
    median = _num(step.get("median_s"))
    iqr = _num(step.get("iqr_s"))
    gflops = _num(cell.get("gflops"))
    flops = _num(cell.get("flops"))
    if gflops is None and flops and median:
        gflops = flops / median / 1e9
    cpu = (env.get("cpu") or {}) if cell["device"] == "cpu" else {}
    peak, measured = _num(cpu.get("peak_gflops")), _num(cpu.get("peak_measured_gflops"))
    return {
        "source": source, "machine": env.get("machine") or "unknown machine", "run_id": data.get("run_id"),
        "created": data.get("created"), "profile": data.get("profile"),
        "task": cell["task"], "impl": cell["impl"], "framework": fw, "mode": mode,
        "paradigm": paradigm(cell["impl"]), "device": cell["device"],
        "size": size_label(cell.get("size") or {}), "size_json": json.dumps(cell.get("size") or {}, sort_keys=True),
        "variant": cell.get("variant"), "status": cell["status"], "reason": cell.get("reason"),
        **{k: _num(phases.get(k)) for k in ("import_s", "setup_s", "build_s", "first_step_s")},
        "median_s": median, "ci_lo_s": _num(ci[0]), "ci_hi_s": _num(ci[1]), "iqr_s": iqr,
        "min_s": _num(step.get("min_s")), "mean_s": _num(step.get("mean_s")),
        "rel_iqr": iqr / median if iqr is not None and median else None,
        "noisy": bool(step.get("noisy")) if step else None,
        "precision_pct": _num(precision.get("reached_pct")), "target_pct": _num(precision.get("target_pct")),
        "precision_met": precision.get("met"),
        "block": step.get("block"), "n_samples": len(samples), "samples_s": list(samples),
        "traces_build": traces.get("build"), "traces_steady": traces.get("steady"),
        "retrace_size": size_label(retrace["size"]) if retrace.get("size") else None,
        "retrace_first_step_s": _num(retrace.get("first_step_s")), "retrace_traces": retrace.get("traces"),
        "grad_max_rel_err": _num(grad.get("max_rel_err")), "grad_loss_rel_err": _num(grad.get("loss_rel_err")),
        "grad_tol": _num(grad.get("tol")), "grad_ok": grad.get("ok"),
        "peak_rss_bytes": mem.get("peak_rss_bytes"), "gpu_peak_bytes": mem.get("gpu_peak_bytes"),
        "flops": flops, "gflops": gflops, "peak_gflops": peak,
        "pct_peak": 100 * gflops / peak if gflops and peak else None,
        "peak_measured_gflops": measured, "pct_measured": 100 * gflops / measured if gflops and measured else None,
        "overhead_s": _num((data.get("harness") or {}).get("overhead_s")),
        "processes": len(step["processes"]) if step.get("processes") else (1 if step else None),
        "process_spread": _num(step.get("process_spread")),
    }


def frame(runs):
    """DataFrame of every cell of `runs`: a list of (source, results dict) pairs, or of results dicts."""
    import pandas as pd
    rows = []
    for item in runs:
        source, data = item if isinstance(item, tuple) else ("<memory>", item)
        rows += [row(c, data, str(source)) for c in data["results"]]
    df = pd.DataFrame(rows, columns=list(COLUMNS))
    for col in NUMERIC:
        df[col] = pd.to_numeric(df[col], errors="coerce").astype(float)
    return df


def load_frame(paths):
    """Load results files (or folders of them) and return (DataFrame of all cells, [(path, data), ...]).

    A missing, unreadable or wrong-schema file raises bench.errors.UsageError naming it.
    """
    from bench import results
    runs = [(str(p), results.load(p)) for p in results.expand(paths)]
    return frame(runs), runs
