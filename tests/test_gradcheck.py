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


@pytest.mark.parametrize("task, size", [("elementwise", {"op": "add"}), ("elementwise", {"op": "mul"}),
                                        ("mlp", {"n": 40})])
def test_the_reference_agrees_with_finite_differences_for_each_task_and_op(task, size):
    """The loss is evaluated with the size's op: a reference of `add` against a loss of `mul` would be far off."""
    assert gradcheck.finite_difference_error(task, **size) < gradcheck.FD_TOL


def slipped(monkeypatch, task, when):
    """The task's float64 reference with W4[k, 0] of its gradient off by 1% of W4's largest entry whenever
    when(inputs, k) holds."""
    mod = gradcheck._module(task)
    real = mod.loss_and_grads

    def wrong(p, i, xp, **kw):
        loss, grads = real(p, i, xp, **kw)
        grads = {name: g.copy() for name, g in grads.items()}
        for k in range(grads["W4"].shape[0]):
            if when(i, k):
                grads["W4"][k, 0] += 0.01 * np.abs(grads["W4"]).max()
        return loss, grads
    monkeypatch.setattr(mod, "loss_and_grads", wrong)
    return real


def test_finite_differences_check_every_entry_of_a_small_parameter(monkeypatch):
    """mlp's W4 has 4 entries (<= 5 sampled per parameter): a slip in any one of them is found, at its size
    relative to the largest entry of W4's reference gradient (0.66 here: not floored at 1)."""
    _, size, inputs, params = tasks.resolve("mlp", n=40)
    _, g = gradcheck.reference("mlp", size, inputs, params)
    for k in range(4):
        bad = [k]
        slipped(monkeypatch, "mlp", lambda i, j: j in bad)
        wrong = g["W4"].copy()
        wrong[k, 0] += 0.01 * np.abs(g["W4"]).max()
        want = 0.01 * np.abs(g["W4"]).max() / np.abs(wrong).max()          # relative to the (slipped) reference's
        assert want > 0.009
        assert gradcheck.finite_difference_error("mlp", n=40) == pytest.approx(want, rel=1e-3), k
        monkeypatch.undo()


def test_finite_differences_run_at_the_size_and_seed_asked(monkeypatch):
    x_seed1 = tasks.resolve("mlp", seed=1, n=7)[2]["X"]
    slipped(monkeypatch, "mlp", lambda i, k: i["X"].shape[0] == 7)           # a slip only at n=7
    assert gradcheck.finite_difference_error("mlp", n=7) > 1e-3 > gradcheck.FD_TOL > \
        gradcheck.finite_difference_error("mlp", n=8)
    monkeypatch.undo()
    slipped(monkeypatch, "mlp", lambda i, k: np.array_equal(i["X"], x_seed1))  # a slip only on seed 1's data
    assert gradcheck.finite_difference_error("mlp", seed=1, n=7) > 1e-3 > gradcheck.FD_TOL > \
        gradcheck.finite_difference_error("mlp", seed=0, n=7)


def test_finite_differences_sample_the_same_coordinates_for_the_same_seed(monkeypatch):
    mod = gradcheck._module("mlp")
    real, seen = mod.loss, []
    where = lambda p: tuple(float(v.ravel() @ np.arange(1, v.size + 1)) for v in p.values())  # moves per coordinate
    monkeypatch.setattr(mod, "loss", lambda p, i, xp=np, **kw: (seen.append(where(p)), real(p, i, xp, **kw))[1])
    runs = []
    for seed in (2, 2, 3):
        seen.clear()
        gradcheck.finite_difference_error("mlp", seed=seed, n=7)
        runs.append(list(seen))
    assert len(runs[0]) == 2 * (5 + 5 + 5 + 3 + 5 + 4 + 4 + 1)        # up to 5 coordinates of each of 8 params
    assert runs[0] == runs[1] != runs[2]


class Replay:
    """An mlp workload whose steps are the float64 reference's own SGD steps, each parameter's move then scaled
    by scale[name]: its trajectory error is |scale - 1| (relative to the reference move), known exactly."""

    def __init__(self, scale=None, lr=None):
        self.task, self.size, self._inputs, p0 = tasks.resolve("mlp")
        self.lr, self.update, self.scale = self.task.lr if lr is None else lr, True, scale or {}
        self.p0 = {k: v.astype(np.float64) for k, v in p0.items()}
        self.p = dict(self.p0)

    def inputs(self):
        return self._inputs

    def params(self):
        return {k: self.p0[k] + self.scale.get(k, 1.0) * (self.p[k] - self.p0[k]) for k in self.p}

    def step(self):
        _, g = gradcheck.reference(self.task.name, self.size, self._inputs, self.p)
        self.p = {k: v - self.lr * g[k] for k, v in self.p.items()}

    def sync(self):
        pass


def trajectory_limits():
    """Per parameter, the documented trajectory tolerance: tol + 2 * steps * u * max|p0| / max|p3 - p0|."""
    w = Replay()
    for _ in range(gradcheck.TRAJECTORY_STEPS):
        w.step()
    tol = gradcheck.tolerance("mlp", w.size)
    return {k: tol + 2 * gradcheck.TRAJECTORY_STEPS * gradcheck.U * np.abs(w.p0[k]).max() /
            np.abs(w.p[k] - w.p0[k]).max() for k in w.p}


def test_trajectory_reports_the_parameter_nearest_its_own_tolerance():
    limits = trajectory_limits()
    assert len(set(limits.values())) == len(limits) and min(limits.values()) > gradcheck.tolerance("mlp", Replay().size)
    # W1 at half its tolerance, W2 at 0.8 of its own (the worst), b4 at 0.3; the rest exact
    share = {"W1": 0.5, "W2": 0.8, "b4": 0.3}
    t = gradcheck.trajectory(Replay({k: 1 + f * limits[k] for k, f in share.items()}))
    assert t["ok"] is True and t["tol"] == pytest.approx(limits["W2"], rel=1e-9)
    assert t["max_rel_err"] == pytest.approx(0.8 * limits["W2"], rel=1e-4)
    t = gradcheck.trajectory(Replay({"W1": 1 + 0.5 * limits["W1"], "W2": 1 - 1.5 * limits["W2"]}))
    assert t["ok"] is False and t["max_rel_err"] == pytest.approx(1.5 * limits["W2"], rel=1e-4)


def test_trajectory_of_a_parameter_that_does_not_move_uses_the_gradient_tolerance():
    t = gradcheck.trajectory(Replay(lr=0.0))
    assert t == {"max_rel_err": 0.0, "tol": gradcheck.tolerance("mlp", Replay().size), "ok": True}


def test_check_cell_checks_the_size_and_device_asked_and_fails_on_a_bad_trajectory(monkeypatch):
    r = gradcheck.check_cell("mlp", "numpy/manual", n=7)
    assert r["grads"]["tol"] == gradcheck.tolerance("mlp", tasks.resolve("mlp", n=7)[1]) != \
        gradcheck.tolerance("mlp", tasks.resolve("mlp")[1])
    made = []
    real_make = api.make
    monkeypatch.setattr(api, "make", lambda *a, **kw: (made.append(kw.get("device")), real_make(*a, **kw))[1])
    gradcheck.check_cell("mlp", "numpy/manual", "cpu")
    assert made == ["cpu"]
    monkeypatch.setattr(gradcheck, "trajectory", lambda w: {"max_rel_err": 1.0, "tol": 1e-5, "ok": False})
    r = gradcheck.check_cell("mlp", "numpy/manual")
    assert r["grads"]["ok"] is True and r["ok"] is False                 # good gradients, a wrong step


def test_check_cell_skips_with_the_reason_of_the_task(monkeypatch):
    monkeypatch.setattr(registry, "task_skip_reason", lambda impl, task: "no cnn here" if task == "cnn" else None)
    assert gradcheck.check_cell("cnn", "numpy/manual") == {"status": "skipped", "reason": "no cnn here"}
    assert gradcheck.check_cell("mlp", "numpy/manual", n=7)["status"] == "ok"


def test_a_loss_error_is_relative_even_when_the_loss_is_small():
    """elementwise with x scaled by 1e-3: loss ~ -1.4e-3; a 1e-4 relative loss error fails (tol 2.5e-6)."""
    _, _, _, params = tasks.resolve("elementwise")
    w = api.make("elementwise", "numpy/manual", params={**params, "x": params["x"] * 1e-3})
    real = w.grads
    w.grads = lambda: (real()[0] * (1 + 1e-4), real()[1])
    r = gradcheck.check(w)
    assert abs(real()[0]) < 1e-2 and r["loss_rel_err"] == pytest.approx(1e-4, rel=0.01) and not r["ok"]


def test_rel_err_of_empty_arrays_and_unknown_tasks():
    assert gradcheck.rel_err([], []) == 0.0
    with pytest.raises(ValueError, match="unknown task 'convnet'"):
        gradcheck.reductions("convnet", {})
