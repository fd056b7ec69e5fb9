"""The four tasks: size knobs, canonical shapes, seeded data, validation and FLOP counts (numpy only)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

FLOAT = np.float32


@dataclass(frozen=True)
class Task:
    """One task of DESIGN.md: its knobs, the shapes they imply, how to draw data and count FLOPs."""

    name: str
    slide: str
    defaults: dict
    lr: float | None                       # None: the step computes gradients and updates nothing
    shapes: Callable[[dict], tuple[dict, dict]]   # size -> ({input: shape}, {param: shape})
    infer: Callable[[dict, dict], dict]    # given arrays -> the knobs they fix
    draw: Callable[[np.random.Generator, dict], tuple[dict, dict]]
    flops: Callable[[dict], float]         # analytic FLOPs of one step
    int_inputs: tuple = field(default=())  # inputs that hold integer labels


# ---------------------------------------------------------------- elementwise (slide 000)
def _ew_shapes(s):
    shape = tuple(s["shape"])
    return {}, {"x": shape, "y": shape, "z": shape}


def _ew_infer(inputs, params):
    for a in params.values():
        return {"shape": tuple(np.shape(a))}
    return {}


def _ew_draw(rng, s):
    _, p = _ew_shapes(s)
    return {}, {k: rng.standard_normal(v) for k, v in p.items()}


def _ew_flops(s):
    n = int(np.prod(s["shape"]))
    return n * (6 if s["op"] == "mul" else 3)   # mul: 2 products + sum + 3 gradient products


# ---------------------------------------------------------------- single_layer (slide 003)
def _sl_shapes(s):
    n, d_in, d_out = s["n"], s["d_in"], s["d_out"]
    return {"X": (n, d_in), "Y": (n, d_out)}, {"W": (d_in, d_out)}


def _sl_infer(inputs, params):
    got = {}
    if "X" in inputs:
        got["n"], got["d_in"] = np.shape(inputs["X"])
    if "Y" in inputs:
        got["n"], got["d_out"] = np.shape(inputs["Y"])
    if "W" in params:
        got["d_in"], got["d_out"] = np.shape(params["W"])
    return got


def _sl_draw(rng, s):
    i, p = _sl_shapes(s)
    return ({k: rng.standard_normal(v) for k, v in i.items()},
            {k: rng.standard_normal(v) for k, v in p.items()})


def _sl_flops(s):
    n, d_in, d_out = s["n"], s["d_in"], s["d_out"]
    return 2 * n * d_in * d_out * 2 + 3 * n * d_out + 2 * d_in * d_out   # forward + dW + loss + update


# ---------------------------------------------------------------- mlp (slide 002)
def _mlp_widths(s):
    return (1, *s["hidden"], 1)


def _mlp_shapes(s):
    w = _mlp_widths(s)
    params = {}
    for k in range(len(w) - 1):
        params[f"W{k + 1}"] = (w[k], w[k + 1])
        params[f"b{k + 1}"] = (w[k + 1],)
    return {"X": (s["n"], 1), "Y": (s["n"], 1)}, params


def _mlp_infer(inputs, params):
    got = {}
    for k in ("X", "Y"):
        if k in inputs:
            got["n"] = np.shape(inputs[k])[0]
    ws = sorted((int(k[1:]), np.shape(v)) for k, v in params.items() if k.startswith("W") and k[1:].isdigit())
    if len(ws) >= 2 and [i for i, _ in ws] == list(range(1, len(ws) + 1)):
        got["hidden"] = tuple(int(shape[1]) for _, shape in ws[:-1])
    return got


def _mlp_draw(rng, s):
    X = rng.uniform(-10, 10, (s["n"], 1))
    Y = 5 * X + 2 + rng.standard_normal((s["n"], 1))
    _, shapes = _mlp_shapes(s)
    params = {}
    for name, shape in shapes.items():
        bound = 1 / np.sqrt(shapes["W" + name[1:]][0])      # torch.nn.Linear's default init
        params[name] = rng.uniform(-bound, bound, shape)
    return {"X": X, "Y": Y}, params


def _mlp_flops(s):
    w, n = _mlp_widths(s), s["n"]
    mac = sum(a * b for a, b in zip(w, w[1:]))
    return n * (6 * mac + 4 * sum(w[1:])) + 2 * sum(a * b + b for a, b in zip(w, w[1:]))


# ---------------------------------------------------------------- cnn (slide 002)
CNN_LAYERS = {"conv1": (16, 1, 5), "conv2": (32, 16, 5), "conv3": (64, 32, 5)}
CNN_FC = {"fc1": (64 * 3 * 3, 100), "fc2": (100, 10)}


def _cnn_shapes(s):
    params = {}
    for name, (o, i, k) in CNN_LAYERS.items():
        params[f"{name}_w"], params[f"{name}_b"] = (o, i, k, k), (o,)
    for name, (i, o) in CNN_FC.items():
        params[f"{name}_w"], params[f"{name}_b"] = (i, o), (o,)
    return {"X": (s["batch"], 1, 28, 28), "y": (s["batch"],)}, params


def _cnn_infer(inputs, params):
    for k in ("X", "y"):
        if k in inputs:
            return {"batch": np.shape(inputs[k])[0]}
    return {}


def _cnn_draw(rng, s):
    _, shapes = _cnn_shapes(s)
    params = {}
    for name, shape in shapes.items():
        fan_in = int(np.prod(shapes[name[:-1] + "w"][1:])) if name.startswith("conv") else shapes[name[:-1] + "w"][0]
        params[name] = rng.uniform(-1, 1, shape) / np.sqrt(fan_in)
    X = rng.uniform(0, 1, (s["batch"], 1, 28, 28))
    y = rng.integers(0, 10, s["batch"])
    return {"X": X, "y": y}, params


def _cnn_flops(s):
    b, fwd = s["batch"], 0
    for (o, i, k), hw in zip(CNN_LAYERS.values(), (24, 20, 6)):
        fwd += 2 * o * i * k * k * hw * hw
    fwd += sum(2 * i * o for i, o in CNN_FC.values())
    return 3 * b * fwd        # backward costs twice the forward (input and weight gradients)


TASKS = {
    t.name: t for t in (
        Task("elementwise", "000", {"shape": (3, 4), "op": "mul"}, None,
             _ew_shapes, _ew_infer, _ew_draw, _ew_flops),
        Task("single_layer", "003", {"n": 64, "d_in": 4, "d_out": 2}, 1e-6,
             _sl_shapes, _sl_infer, _sl_draw, _sl_flops),
        Task("mlp", "002", {"n": 500, "hidden": (5, 3, 4)}, 1e-2,
             _mlp_shapes, _mlp_infer, _mlp_draw, _mlp_flops),
        Task("cnn", "002", {"batch": 64}, 1e-2,
             _cnn_shapes, _cnn_infer, _cnn_draw, _cnn_flops, int_inputs=("y",)),
    )
}
OPS = ("mul", "add")


def get(name: str) -> Task:
    """The task called `name`, or a ValueError naming the valid ones."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; valid tasks: {', '.join(TASKS)}")
    return TASKS[name]


def _normalise(task: Task, knob: str, value):
    if knob in ("shape", "hidden"):
        try:
            value = tuple(int(v) for v in (value if np.iterable(value) else (value,)))
        except (TypeError, ValueError):
            raise ValueError(f"{task.name}: {knob} must be a tuple of positive integers, got {value!r}") from None
        if not value or min(value) < 1:
            raise ValueError(f"{task.name}: {knob} must be a tuple of positive integers, got {value!r}")
        return value
    if knob == "op":
        if value not in OPS:
            raise ValueError(f"{task.name}: unknown op {value!r}; valid ops: {', '.join(OPS)}")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{task.name}: {knob} must be a positive integer, got {value!r}")
    return int(value)


def _check_names(task, kind, given, expected):
    if given is None:
        return
    missing, extra = sorted(set(expected) - set(given)), sorted(set(given) - set(expected))
    if missing or extra:
        parts = ([f"missing {missing}"] if missing else []) + ([f"unexpected {extra}"] if extra else [])
        raise ValueError(f"{task.name}: {kind} must be exactly {sorted(expected)} ({'; '.join(parts)})")


def resolve(name: str, seed: int = 0, inputs: dict | None = None, params: dict | None = None,
            **knobs) -> tuple[Task, dict, dict, dict]:
    """Validate knobs and given arrays, draw the rest from `seed`: (task, size, inputs, params), canonical numpy."""
    task = get(name)
    unknown = sorted(set(knobs) - set(task.defaults))
    if unknown:
        raise ValueError(f"{task.name}: unknown size knob(s) {unknown}; valid knobs: {', '.join(task.defaults)}")
    size = {k: _normalise(task, k, v) for k, v in knobs.items()}
    given_i = {k: np.asarray(v) for k, v in (inputs or {}).items()}
    given_p = {k: np.asarray(v) for k, v in (params or {}).items()}
    inferred = {k: _normalise(task, k, v) for k, v in task.infer(given_i, given_p).items()}
    for k, v in inferred.items():
        if k in size and size[k] != v:
            raise ValueError(f"{task.name}: {k}={size[k]!r} was given but the arrays imply {k}={v!r}")
    size = {**task.defaults, **inferred, **size}
    size = {k: _normalise(task, k, v) for k, v in size.items()}
    shape_i, shape_p = task.shapes(size)
    _check_names(task, "inputs", inputs, shape_i)
    _check_names(task, "params", params, shape_p)
    drawn_i, drawn_p = task.draw(np.random.default_rng(seed), size)
    out_i = {k: given_i.get(k, drawn_i[k]) for k in shape_i}
    out_p = {k: given_p.get(k, drawn_p[k]) for k in shape_p}
    for kind, arrays, shapes in (("input", out_i, shape_i), ("param", out_p, shape_p)):
        for k, shape in shapes.items():
            if tuple(arrays[k].shape) != tuple(shape):
                raise ValueError(f"{task.name}: {kind} {k} has shape {tuple(arrays[k].shape)}, "
                                 f"expected {tuple(shape)} for size {size}")
    out_i = {k: v.astype(np.int64 if k in task.int_inputs else FLOAT) for k, v in out_i.items()}
    out_p = {k: v.astype(FLOAT) for k, v in out_p.items()}
    if "y" in task.int_inputs and out_i["y"].size and (out_i["y"].min() < 0 or out_i["y"].max() > 9):
        raise ValueError(f"{task.name}: labels y must lie in 0..9")
    return task, size, out_i, out_p
