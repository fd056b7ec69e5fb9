"""Gradient agreement: every implementation against a float64 reference that finite differences verify.

The reference is numpy/manual's hand-derived backprop run in float64 on the same (float32-rounded) numbers.
Errors are relative to the largest reference entry of each array: max|g - g_ref| / max|g_ref|.
Tolerances suit float32 arithmetic: elementwise and single_layer are a few roundings deep (1e-5); the MLP
adds a 500-sample mean and ReLU kinks (1e-4); the CNN sums ~10^4 products per output in an order each
library picks (Winograd, im2col, oneDNN), so 1e-3. The trajectory check compares the SGD displacement
p_3 - p_0 after three steps, where float32 rounding of a small update to a large weight costs more (5e-3).
"""
from __future__ import annotations

import importlib

import numpy as np

TOL = {"elementwise": 1e-5, "single_layer": 1e-5, "mlp": 1e-4, "cnn": 1e-3}
TRAJECTORY_TOL = 5e-3
TRAJECTORY_STEPS = 3
FD_TOL = 1e-6
FD_SIZES = {"cnn": {"batch": 2}, "mlp": {"n": 40}}   # small enough for a quick finite-difference sweep


def rel_err(a, ref) -> float:
    """max|a - ref| / max|ref| (0 when both are zero)."""
    a, ref = np.asarray(a, np.float64), np.asarray(ref, np.float64)
    scale = np.abs(ref).max() if ref.size else 0.0
    diff = np.abs(a - ref).max() if ref.size else 0.0
    return float(diff / scale) if scale > 0 else float(diff)


def _f64(arrays):
    return {k: v.astype(np.float64) if v.dtype.kind == "f" else v for k, v in arrays.items()}


def _module(task):
    return importlib.import_module(f"implementations.numpy.{task}")


def reference(task, size, inputs, params):
    """Loss and gradients in float64 by the hand-derived backprop of numpy/manual."""
    cfg = {"op": size["op"]} if "op" in size else {}
    loss, grads = _module(task).loss_and_grads(_f64(params), _f64(inputs), np, **cfg)
    return float(loss), grads


def finite_difference_error(task, seed=0, per_param=5, eps=1e-6, **size) -> float:
    """Worst relative error of the float64 reference against central differences at sampled coordinates."""
    from bench import tasks
    spec, size, inputs, params = tasks.resolve(task, seed=seed, **size)
    cfg = {"op": size["op"]} if "op" in size else {}
    inputs, params = _f64(inputs), _f64(params)
    _, grads = reference(task, size, inputs, params)
    loss = _module(task).loss
    rng, worst = np.random.default_rng(seed), 0.0
    for name, p in params.items():
        scale = max(np.abs(grads[name]).max(), 1e-12)
        for flat in rng.choice(p.size, min(per_param, p.size), replace=False):
            idx = np.unravel_index(flat, p.shape)
            old = p[idx]
            p[idx] = old + eps
            up = loss(params, inputs, np, **cfg)
            p[idx] = old - eps
            down = loss(params, inputs, np, **cfg)
            p[idx] = old
            worst = max(worst, abs((up - down) / (2 * eps) - grads[name][idx]) / scale)
    return float(worst)


def check(w) -> dict:
    """Loss and gradients of workload `w` at its current params against the float64 reference."""
    loss, grads = w.grads()
    ref_loss, ref_grads = reference(w.task.name, w.size, w.inputs(), w.params())
    err = max(rel_err(grads[k], ref_grads[k]) for k in ref_grads)
    loss_err = abs(loss - ref_loss) / max(abs(ref_loss), 1e-12)
    tol = TOL[w.task.name]
    return {"max_rel_err": err, "loss_rel_err": loss_err, "tol": tol, "ok": bool(err <= tol and loss_err <= tol)}


def trajectory(w, steps=TRAJECTORY_STEPS) -> dict:
    """Run `steps` SGD steps on `w` and compare the displacement of every param with the float64 one."""
    p0, inputs = w.params(), w.inputs()
    for _ in range(steps):
        w.step()
    w.sync()
    got = w.params()
    ref = _f64(p0)
    for _ in range(steps):
        _, g = reference(w.task.name, w.size, inputs, ref)
        ref = {k: v - w.lr * g[k] for k, v in ref.items()}
    err = max(rel_err(got[k] - p0[k], ref[k] - p0[k]) for k in ref)
    return {"max_rel_err": err, "tol": TRAJECTORY_TOL, "ok": bool(err <= TRAJECTORY_TOL)}


def check_cell(task, impl, device="cpu", **size) -> dict:
    """Gradient and trajectory check of one cell, or its skip reason."""
    from bench import api
    reason = api.skip_reason(impl, device, task)
    if reason:
        return {"status": "skipped", "reason": reason}
    w = api.make(task, impl, device=device, **size)
    out = {"status": "ok", "grads": check(w)}
    if w.update:
        out["trajectory"] = trajectory(w)
    out["ok"] = out["grads"]["ok"] and out.get("trajectory", {"ok": True})["ok"]
    return out


# ---------------------------------------------------------------- CLI
def add_arguments(p):
    from bench import registry, tasks
    from bench.cli import csv_list
    p.add_argument("--tasks", type=csv_list(tuple(tasks.TASKS)), default=list(tasks.TASKS))
    p.add_argument("--impls", type=csv_list(registry.IMPLS), default=list(registry.IMPLS))
    p.add_argument("--devices", type=csv_list(registry.DEVICES), default=["cpu"])


def run(args) -> int:
    from rich.console import Console
    from rich.table import Table

    from bench.environment import share_gpu
    share_gpu()
    console = Console(highlight=False)
    console.print("Reference: numpy/manual in float64, checked against central finite differences:")
    bad = False
    for task in args.tasks:
        err = finite_difference_error(task, **FD_SIZES.get(task, {}))
        bad |= err > FD_TOL
        console.print(f"  {task:<13} worst rel. error {err:.1e}  {'ok' if err <= FD_TOL else 'FAIL'}")
    skipped = []
    for device in args.devices:
        table = Table(title=f"max relative error vs the float64 reference ({device}); "
                            f"trajectory = SGD displacement after {TRAJECTORY_STEPS} steps")
        table.add_column("implementation")
        for task in args.tasks:
            table.add_column(f"{task}\n(tol {TOL[task]:.0e})", justify="right")
        for impl in args.impls:
            row = []
            for task in args.tasks:
                try:
                    r = check_cell(task, impl, device)
                except Exception as e:          # a broken cell is a disagreement, reported, not a crash
                    row.append(f"[red]error[/red] {type(e).__name__}")
                    console.print(f"[red]{task} {impl} {device}: {type(e).__name__}: {e}[/red]")
                    bad = True
                    continue
                if r["status"] == "skipped":
                    row.append("skipped")
                    skipped.append(f"{impl} on {device}: {r['reason']}")
                    continue
                bad |= not r["ok"]
                text = f"{r['grads']['max_rel_err']:.1e}"
                if "trajectory" in r:
                    text += f" / {r['trajectory']['max_rel_err']:.1e}"
                row.append(f"[green]{text} ✓[/green]" if r["ok"] else f"[red]{text} ✗[/red]")
            table.add_row(impl, *row)
        console.print(table)
    for line in dict.fromkeys(skipped):
        console.print(f"skipped: {line}")
    console.print("[red]DISAGREEMENT[/red]" if bad else "All implementations agree with the reference.")
    return 1 if bad else 0
