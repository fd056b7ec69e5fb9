"""Gradient agreement: every implementation against a float64 reference that finite differences verify.

The reference is numpy/manual's hand-derived backprop run in float64 on the same (float32-rounded) numbers.
Errors are relative to the largest reference entry of each array: max|g - g_ref| / max|g_ref|.

Tolerances come from float32 error analysis, not one number per task. A gradient is the end of a chain of
float32 sums (dot products, convolutions, the sum over the batch); a sum of L terms, rounded in whatever order a
library picks, errs by at most ~LAMBDA * sqrt(L) * u of its terms' magnitude with probability
1 - 2 exp(-LAMBDA^2 / 2) (Higham & Mary's probabilistic bound; u = 2^-24), and the relative errors of chained
sums add. So `tolerance(task, size)` = LAMBDA * u * sum(sqrt(L) for L in `reductions(task, size)`): it grows with
the size and the reduction lengths (3x4 elementwise 2.5e-6, mlp 1.7e-5, cnn batch 64 1.7e-4) and stays below
1e-3 at every size the profiles run, so a 0.1% gradient error fails. Measured on CPU, every implementation:
worst error / tolerance 0.05 (elementwise), 0.02 (single_layer), 0.10 (mlp), 0.02 (cnn batch 4 and 64); over
every swept size of the published full run at most 0.19 (mlp, tensorflow/session): 5-50x headroom.

The trajectory check compares the SGD displacement p_3 - p_0 after three steps. Each float32 update rounds the
weight, losing up to 2u|p| of a displacement that may be much smaller than |p|, so its tolerance per array is the
gradient tolerance plus 2 * steps * u * max|p_0| / max|p_3 - p_0| (the reference displacement); measured error /
tolerance at most 0.22 (single_layer, mlp, cnn). A 1% error in the step's learning rate fails it.
"""
from __future__ import annotations

import importlib
import math

import numpy as np

U = 2.0 ** -24            # float32 unit roundoff
LAMBDA = 8.0              # probabilistic bound's multiplier: exceeded with probability ~1e-14 per sum
TRAJECTORY_STEPS = 3
FD_TOL = 1e-6
FD_SIZES = {"cnn": {"batch": 2}, "mlp": {"n": 40}}   # small enough for a quick finite-difference sweep


def reductions(task: str, size: dict) -> list[int]:
    """Lengths of the float32 sums chained between the inputs and the loss or a gradient of `task` at `size`."""
    from bench import tasks
    if task == "elementwise":
        return [math.prod(size["shape"]), 3]                  # the loss sums every element; 3-factor products
    if task == "single_layer":
        return [size["d_in"], size["n"] * size["d_out"]]      # X @ W; the loss and dW sum over the rows
    if task == "mlp":
        w = (1, *size["hidden"], 1)
        return [*w[:-1], *w[2:], size["n"]]                   # forward fan-ins, backward fan-outs, the batch mean
    if task == "cnn":
        convs, fcs = tasks.CNN_LAYERS.values(), tasks.CNN_FC.values()
        forward = [i * k * k for o, i, k in convs] + [i for i, o in fcs]
        backward = [o for i, o in fcs] + [o * k * k for o, i, k in list(convs)[1:]]
        return forward + backward + [size["batch"] * 24 * 24]  # conv1's weight gradient sums batch x 24 x 24
    raise ValueError(f"unknown task {task!r}")


def tolerance(task: str, size: dict) -> float:
    """Largest relative gradient (and loss) error float32 arithmetic explains for `task` at `size`."""
    return LAMBDA * U * sum(math.sqrt(n) for n in reductions(task, size))


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
    return judge(w.task.name, w.size, w.inputs(), w.params(), loss, grads)


def judge(task, size, inputs, params, loss, grads) -> dict:
    """The verdict on `loss` and `grads`, measured at `params` and `inputs`, against the float64 reference."""
    ref_loss, ref_grads = reference(task, size, inputs, params)
    err = max(rel_err(grads[k], ref_grads[k]) for k in ref_grads)
    loss_err = abs(loss - ref_loss) / max(abs(ref_loss), 1e-12)
    tol = tolerance(task, size)
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
    tol = tolerance(w.task.name, w.size)
    worst = None
    for k in ref:
        moved = np.abs(ref[k] - p0[k]).max()
        limit = tol + 2 * steps * U * np.abs(p0[k]).max() / moved if moved > 0 else tol
        err = rel_err(got[k] - p0[k], ref[k] - p0[k])
        if worst is None or err / limit > worst[0] / worst[1]:
            worst = (err, float(limit))
    return {"max_rel_err": worst[0], "tol": worst[1], "ok": bool(worst[0] <= worst[1])}


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
def add_arguments(p):  # pragma: no mutate block
    from bench import registry, tasks
    from bench.options import csv_list
    p.add_argument("--tasks", type=csv_list(tuple(tasks.TASKS)), default=list(tasks.TASKS))
    p.add_argument("--impls", type=csv_list(registry.IMPLS), default=list(registry.IMPLS))
    p.add_argument("--devices", type=csv_list(registry.DEVICES), default=["cpu"])


def run(args) -> int:  # pragma: no mutate block
    from rich.console import Console
    from rich.table import Table

    from bench.environment import share_gpu
    share_gpu()
    from bench import tasks

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
            size = tasks.resolve(task)[1]
            table.add_column(f"{task}\n(tol {tolerance(task, size):.0e})", justify="right")
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
