"""bench.api: the task contract, the seeded data, and ValueErrors that name what was expected."""
import numpy as np
import pytest

from bench import api, tasks


def test_tasks_and_impls():
    assert api.tasks() == ["elementwise", "single_layer", "mlp", "cnn"]
    assert api.impls("cnn") == ["numpy/manual", "torch/eager", "torch/compile", "tensorflow/eager",
                                "tensorflow/function", "tensorflow/session", "jax/eager", "jax/jit",
                                "keras-jax/jit", "keras-jax/eager", "keras-torch/eager", "keras-tensorflow/jit",
                                "keras-tensorflow/eager"]


@pytest.mark.parametrize("task,inputs,params", [
    ("elementwise", {}, {"x": (3, 4), "y": (3, 4), "z": (3, 4)}),
    ("single_layer", {"X": (64, 4), "Y": (64, 2)}, {"W": (4, 2)}),
    ("mlp", {"X": (500, 1), "Y": (500, 1)}, {"W1": (1, 5), "b1": (5,), "W2": (5, 3), "b2": (3,),
                                             "W3": (3, 4), "b3": (4,), "W4": (4, 1), "b4": (1,)}),
    ("cnn", {"X": (64, 1, 28, 28), "y": (64,)},
     {"conv1_w": (16, 1, 5, 5), "conv1_b": (16,), "conv2_w": (32, 16, 5, 5), "conv2_b": (32,),
      "conv3_w": (64, 32, 5, 5), "conv3_b": (64,), "fc1_w": (576, 100), "fc1_b": (100,),
      "fc2_w": (100, 10), "fc2_b": (10,)}),
])
def test_canonical_names_and_shapes(task, inputs, params):
    _, _, got_inputs, got_params = tasks.resolve(task)
    assert {k: v.shape for k, v in got_inputs.items()} == inputs
    assert {k: v.shape for k, v in got_params.items()} == params
    assert all(v.dtype == np.float32 for v in got_params.values())


def test_seeded_data_is_the_same_everywhere():
    a, b, c = (tasks.resolve("mlp", seed=s)[3]["W1"] for s in (0, 0, 1))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    X, Y = (tasks.resolve("mlp")[2][k] for k in "XY")
    assert X.min() >= -10 and X.max() <= 10
    assert (Y - (5 * X + 2)).std() == pytest.approx(1, rel=0.2)     # Y = 5X + 2 + noise
    y = tasks.resolve("cnn")[2]["y"]
    assert y.dtype == np.int64 and y.min() >= 0 and y.max() <= 9


@pytest.mark.parametrize("call,needle", [
    (lambda: api.make("convnet", "numpy/manual"), "valid tasks: elementwise, single_layer, mlp, cnn"),
    (lambda: api.make("mlp", "numpy/fast"), "valid implementations: numpy/manual, torch/eager"),
    (lambda: api.make("mlp", "numpy/manual", device="tpu"), "valid devices: cpu, gpu"),
    (lambda: api.make("mlp", "numpy/manual", batch=3), "valid knobs: n, hidden"),
    (lambda: api.make("elementwise", "numpy/manual", op="div"), "valid ops: mul, add"),
    (lambda: api.make("single_layer", "numpy/manual", inputs={"X": np.ones((8, 4)), "Y": np.ones((8, 2))},
                      params={"W": np.ones((3, 2))}), "input X has shape (8, 4), expected (8, 3)"),
    (lambda: api.make("cnn", "numpy/manual", inputs={"X": np.ones((2, 1, 32, 32)), "y": np.ones(2)}),
     "input X has shape (2, 1, 32, 32), expected (2, 1, 28, 28)"),
    (lambda: api.make("single_layer", "numpy/manual", params={"W": np.ones((4, 2)), "b": np.ones(2)}),
     "unexpected ['b']"),
    (lambda: api.make("mlp", "numpy/manual", params={"W1": np.ones((1, 5))}), "missing ['W2'"),
    (lambda: api.make("single_layer", "numpy/manual", inputs={"X": np.ones((5, 4)), "Y": np.ones((6, 2))}),
     "input X has shape (5, 4), expected (6, 4)"),
    (lambda: api.make("single_layer", "numpy/manual", n=8, inputs={"X": np.ones((5, 4)), "Y": np.ones((5, 2))}),
     "n=8 was given but the arrays imply n=5"),
    (lambda: api.make("elementwise", "numpy/manual", lr=0.1), "takes no lr"),
    (lambda: api.make("cnn", "numpy/manual", batch=0), "batch must be a positive integer"),
])
def test_bad_input_is_a_value_error_naming_the_choices(call, needle):
    with pytest.raises(ValueError) as e:
        call()
    assert needle in str(e.value)


def test_sizes_come_from_given_arrays():
    w = api.make("single_layer", "numpy/manual", inputs={"X": np.ones((1, 3)), "Y": np.ones((1, 5))})
    assert w.size == {"n": 1, "d_in": 3, "d_out": 5}
    assert w.params()["W"].shape == (3, 5)
    w = api.make("elementwise", "numpy/manual", shape=(2, 7))
    assert w.params()["x"].shape == (2, 7)
