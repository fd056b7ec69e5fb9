"""The worked examples, and the CLI's exit codes and one-line errors."""
import subprocess
import sys

import numpy as np
import pytest

from bench import examples


def fwbench(*args):
    return subprocess.run([sys.executable, "-m", "bench", *args], capture_output=True, text=True)


def test_dog_wolf_is_computed_not_copied():
    got = examples.compute("numpy/manual")["dog_wolf"]
    x, t = np.array([0.2, 0.3, 0.1, 0.9]), np.array([1.0, 0.0])
    y_hat = x @ np.full((4, 2), 0.5)
    grad = np.outer(x, y_hat - t)                 # dL/dW = x^T (y_hat - y), by hand
    assert got["loss"] == pytest.approx(0.5 * np.sum((y_hat - t) ** 2))
    np.testing.assert_allclose(got["dL/dW"], grad, rtol=1e-6)
    assert got["W[3,1] after"] == pytest.approx(0.5 - 0.01 * grad[3, 1], rel=1e-6)


def test_rows_flag_the_slides_mistakes():
    rows = {(r["example"], r["quantity"]): r for r in examples.rows({"numpy/manual": examples.compute("numpy/manual")})}
    assert rows["dog_wolf", "loss"]["agrees"]                 # 0.3125 is right
    assert not rows["dog_wolf", "dL/dW[3,1]"]["agrees"]       # the slide's 0.625 is a slip
    assert not rows["elementwise_mul", "grad_x[0]"]["agrees"]  # the slide's backward is wrong
    assert rows["elementwise_add", "grad_z[0]"]["agrees"]


def test_examples_and_gradcheck_commands():
    out = fwbench("examples", "--impls", "numpy/manual")
    assert out.returncode == 0, out.stderr
    assert "0.675" in out.stdout and "0.625" in out.stdout
    out = fwbench("gradcheck", "--impls", "numpy/manual", "--tasks", "elementwise,single_layer")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "agree" in out.stdout


@pytest.mark.parametrize("args,needle", [
    (["gradcheck", "--tasks", "convnet"], "choose from elementwise, single_layer, mlp, cnn"),
    (["gradcheck", "--impls", "torch"], "choose from numpy/manual"),
    (["examples", "--device", "tpu"], "choose from 'cpu', 'gpu'"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_usage_is_one_line_and_exit_2(args, needle):
    out = fwbench(*args)
    assert out.returncode == 2
    assert needle in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr
