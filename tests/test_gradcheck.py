"""bench.gradcheck without a framework: the error measure, the float32-derived tolerances, and fakes whose
gradient error is known."""
import json
import math
from pathlib import Path

import numpy as np
import pytest

from bench import api, fakes, gradcheck, registry, tasks
from bench.run import runner

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def extra(monkeypatch):
    monkeypatch.setenv(registry.EXTRA_IMPLS_ENV, "bench.fakes")


def test_rel_err_is_relative_to_the_largest_reference_entry():
    assert gradcheck.rel_err([1.0, 2.0], [1.0, 4.0]) == 0.5
    assert gradcheck.rel_err([0.0, -4.0], [1.0, -4.0]) == 0.25
    assert gradcheck.rel_err([0.0, 0.0], [0.0, 0.0]) == 0.0
    assert gradcheck.rel_err([0.5], [0.0]) == 0.5                      # a zero reference: the absolute error
    assert gradcheck.rel_err(np.ones((2, 3)), np.ones((2, 3))) == 0.0


def test_reductions_follow_the_tasks_sums():
    size = lambda t, **kw: tasks.resolve(t, **kw)[1]
    assert gradcheck.reductions("elementwise", size("elementwise")) == [12, 3]
    assert gradcheck.reductions("elementwise", size("elementwise", shape=(3, 4096))) == [12288, 3]
    assert gradcheck.reductions("single_layer", size("single_layer")) == [4, 128]
    assert gradcheck.reductions("mlp", size("mlp")) == [1, 5, 3, 4, 3, 4, 1, 500]
    assert gradcheck.reductions("cnn", size("cnn")) == [25, 400, 800, 576, 100, 100, 10, 800, 1600, 64 * 576]
    with pytest.raises(ValueError):
        gradcheck.reductions("convnet", {})


def test_tolerance_is_lambda_u_sum_of_square_roots():
    size = tasks.resolve("single_layer")[1]
    assert gradcheck.tolerance("single_layer", size) == pytest.approx(8 * 2.0 ** -24 * (2 + math.sqrt(128)))
    assert gradcheck.U == 2.0 ** -24 and gradcheck.LAMBDA == 8


@pytest.mark.parametrize("task", api.tasks())
def test_tolerances_catch_a_0_1_percent_error_at_every_profile_size(task):
    sizes = [runner.canonical(task, s) for s in runner.SWEEPS[task]] + [runner.canonical(task, {})]
    tols = [gradcheck.tolerance(task, tasks.resolve(task, **runner.canonical(task, s))[1]) for s in sizes]
    assert max(tols) < 9e-4
    assert sorted(tols[:-1]) == tols[:-1]                               # sweeps grow, and so do the tolerances


def test_published_errors_have_headroom_under_the_tolerances():
    """Every cell of the published runs (every implementation, every swept size) is >= 4x inside its tolerance."""
    worst = 0.0
    for path in sorted((ROOT / "results").glob("*.json")):
        for c in json.loads(path.read_text())["results"]:
            if c.get("gradcheck"):
                size = tasks.resolve(c["task"], **runner_size(c))[1]
                g = c["gradcheck"]
                worst = max(worst, max(g["max_rel_err"], g["loss_rel_err"]) / gradcheck.tolerance(c["task"], size))
    assert 0 < worst < 0.25, worst


def runner_size(cell):
    return {k: tuple(v) if isinstance(v, list) else v for k, v in cell["size"].items()}


@pytest.mark.parametrize("task", api.tasks())
def test_numpy_agrees_and_a_known_error_is_measured_and_refused(task, extra):
    size = {"batch": 2} if task == "cnn" else {}
    good = gradcheck.check(api.make(task, "numpy/manual", **size))
    assert good["ok"] and good["max_rel_err"] < good["tol"] / 10 and good["loss_rel_err"] < good["tol"]
    bad = gradcheck.check(api.make(task, "numpy/fake-grad", **size))
    assert bad["max_rel_err"] == pytest.approx(fakes.GRAD_ERR, rel=0.01) and bad["ok"] is False
    assert bad["tol"] == good["tol"] == gradcheck.tolerance(task, api.make(task, "numpy/manual", **size).size)


def test_a_wrong_loss_alone_is_refused(monkeypatch):
    w = api.make("mlp", "numpy/manual")
    real = w.grads
    w.grads = lambda: (real()[0] * (1 + 1e-4), real()[1])
    r = gradcheck.check(w)
    assert r["max_rel_err"] < r["tol"] < r["loss_rel_err"] and not r["ok"]


def test_trajectory_agrees_and_a_wrong_learning_rate_does_not():
    w = api.make("single_layer", "numpy/manual")
    t = gradcheck.trajectory(w)
    assert t["ok"] and t["max_rel_err"] < t["tol"] / 3 and t["tol"] > gradcheck.tolerance("single_layer", w.size)
    w = api.make("single_layer", "numpy/manual")
    lr, real_step = w.lr, w.step                       # steps 1% too long; the float64 replay uses w.lr
    w.step = lambda: (setattr(w, "lr", lr * 1.01), real_step(), setattr(w, "lr", lr))
    t = gradcheck.trajectory(w)
    assert not t["ok"] and t["max_rel_err"] == pytest.approx(1e-2, rel=0.05)


def test_trajectory_tolerance_allows_for_rounding_a_small_move_of_a_large_weight():
    w = api.make("mlp", "numpy/manual")
    t = gradcheck.trajectory(w)
    assert t["ok"] and t["tol"] > gradcheck.tolerance("mlp", w.size)


def test_the_reference_agrees_with_finite_differences_and_would_notice_a_slip(monkeypatch):
    assert gradcheck.finite_difference_error("single_layer") < gradcheck.FD_TOL
    mod = gradcheck._module("single_layer")
    real = mod.loss_and_grads
    monkeypatch.setattr(mod, "loss_and_grads", lambda p, i, xp, **kw: (lambda r: (r[0], {k: 1.001 * g for k, g in
                                                                                       r[1].items()}))(real(p, i, xp, **kw)))
    assert gradcheck.finite_difference_error("single_layer") == pytest.approx(1e-3, rel=0.1)


def test_check_cell_reports_grads_trajectory_and_skips(monkeypatch):
    r = gradcheck.check_cell("single_layer", "numpy/manual")
    assert r["status"] == "ok" and r["ok"] is True and set(r) == {"status", "grads", "trajectory", "ok"}
    assert r["grads"]["ok"] and r["trajectory"]["ok"]
    r = gradcheck.check_cell("elementwise", "numpy/manual", shape=(2, 2))
    assert "trajectory" not in r and r["ok"] is True
    monkeypatch.setenv(registry.EXTRA_IMPLS_ENV, "bench.fakes")
    assert gradcheck.check_cell("mlp", "numpy/fake-grad")["ok"] is False
    monkeypatch.setattr(registry, "nvidia_gpu_present", lambda: False)
    assert gradcheck.check_cell("mlp", "torch/eager", "gpu")["status"] == "skipped"
