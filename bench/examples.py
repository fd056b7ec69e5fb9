"""The slides' worked examples, computed by every implementation, beside the figures the slides printed.

SLIDE holds what the slides printed, only for display: the computed truth never comes from it.
"""
from __future__ import annotations

import numpy as np

# Slide 003, dog vs wolf: features (ear, eye, tongue, tail), every weight 0.5, target (dog, wolf) = (1, 0).
DOG_WOLF = {"X": [[0.2, 0.3, 0.1, 0.9]], "Y": [[1.0, 0.0]], "W": 0.5, "lr": 0.01}
# Slide 000 draws x, y, z with np.random.seed(0); N, D = 3, 4.
ELEMENTWISE_SEED = 0

SLIDE = {
    "dog_wolf": {   # slide 003; w41/w42 are W[3, 0] and W[3, 1] (tail feature -> dog, wolf)
        "y_hat": [0.75, 0.75], "loss": 0.3125, "dL/dW[3,0]": -0.225, "dL/dW[3,1]": 0.625,
        "W[3,0] after": 0.5025, "W[3,1] after": 0.4938, "y_hat after": [0.75225, 0.74442], "loss after": 0.3078,
    },
    "elementwise_mul": {   # slide 000, numpy cell: its hand-written backward returns x, y and ones
        "grad_x[0]": [1.76405235, 0.40015721, 0.97873798, 2.2408932],
        "grad_y[0]": [0.76103773, 0.12167502, 0.44386323, 0.33367433],
        "grad_z[0]": [1.0, 1.0, 1.0, 1.0],
    },
    "elementwise_add": {   # slide 000, TensorFlow cell
        "grad_x[0]": [-1.6138978, -0.21274029, -0.89546657, 0.38690251],
        "grad_z[0]": [1.0, 1.0, 1.0, 1.0],
    },
    "timing": {   # slide 000: whole scripts timed with datetime.now(), GPU, graph building included
        "numpy_s": 0.003751, "torch_s": 0.003434, "tensorflow_session_s": 0.046684,
    },
}

NOTES = {
    "dog_wolf": "The slide's dL/dW[3,1] is 0.9 x 0.75 = 0.675, not 0.625; its second pass updates only the two "
                "tail weights, while SGD updates all eight.",
    "elementwise_mul": "The slide's numpy backward uses grad_a = grad_b and grad_x = grad_a * x; the chain rule "
                       "gives grad_x = y*z, grad_y = x*z, grad_z = x*y.",
    "elementwise_add": "For a sum every gradient is 1; the slide printed other numbers for TensorFlow's grad_x.",
}


def slide_elementwise_inputs():
    """x, y, z exactly as slide 000 draws them (legacy RandomState, seed 0, float64)."""
    rng = np.random.RandomState(ELEMENTWISE_SEED)
    return {k: rng.randn(3, 4) for k in ("x", "y", "z")}


def _dog_wolf(impl, device):
    from bench import api
    X, Y = np.array(DOG_WOLF["X"]), np.array(DOG_WOLF["Y"])
    W = np.full((4, 2), DOG_WOLF["W"])
    w = api.make("single_layer", impl, device=device, inputs={"X": X, "Y": Y}, params={"W": W}, lr=DOG_WOLF["lr"])
    loss, grads = w.grads()
    w.step()
    w.sync()
    W1 = w.params()["W"]
    loss1, _ = w.grads()
    g = grads["W"]
    return {"y_hat": (X @ W)[0].tolist(), "loss": loss, "dL/dW[3,0]": float(g[3, 0]), "dL/dW[3,1]": float(g[3, 1]),
            "W[3,0] after": float(W1[3, 0]), "W[3,1] after": float(W1[3, 1]),
            "y_hat after": (X @ W1.astype(np.float64))[0].tolist(), "loss after": loss1, "dL/dW": g.tolist()}


def _elementwise(impl, device, op):
    from bench import api
    w = api.make("elementwise", impl, device=device, params=slide_elementwise_inputs(), op=op)
    loss, grads = w.grads()
    return {"loss": loss, **{f"grad_{k}[0]": grads[k][0].tolist() for k in ("x", "y", "z")}}


def compute(impl, device="cpu") -> dict:
    """Every worked example computed by `impl`: JSON-ready numbers, keyed like SLIDE (but for tasks it does not do)."""
    from bench.registry import task_skip_reason
    out = {}
    if not task_skip_reason(impl, "single_layer"):
        out["dog_wolf"] = _dog_wolf(impl, device)
    if not task_skip_reason(impl, "elementwise"):
        out["elementwise_mul"] = _elementwise(impl, device, "mul")
        out["elementwise_add"] = _elementwise(impl, device, "add")
    return out


def _agrees(slide, value) -> bool:
    """Whether the slide's printed figure equals `value` to the digits the slide printed."""
    slide, value = np.atleast_1d(np.asarray(slide, float)), np.atleast_1d(np.asarray(value, float))
    decimals = max(len(f"{abs(s):.10g}".partition(".")[2]) for s in slide)
    return bool(np.all(np.abs(slide - value) <= 0.5 * 10.0 ** -decimals + 1e-6 * np.abs(value)))


def rows(examples: dict) -> list[dict]:
    """One row per quantity: the slide's figure, each impl's computed value, and whether the slide is right.

    `examples` maps impl -> compute(impl). The truth is the float64 numpy/manual value when present.
    """
    out = []
    impls = list(examples)
    for example, figures in SLIDE.items():
        if example == "timing":
            continue
        for quantity, slide in figures.items():
            computed = {i: examples[i][example][quantity] for i in impls if quantity in examples[i].get(example, {})}
            if not computed:
                continue
            truth = computed.get("numpy/manual", next(iter(computed.values())))
            out.append({"example": example, "quantity": quantity, "slide": slide, "computed": computed,
                        "truth": truth, "agrees": _agrees(slide, truth), "note": NOTES.get(example, "")})
    return out


# ---------------------------------------------------------------- CLI
def add_arguments(p):
    from bench import registry
    from bench.options import csv_list
    p.add_argument("--impls", type=csv_list(registry.IMPLS), default=list(registry.IMPLS))
    p.add_argument("--device", choices=registry.DEVICES, default="cpu")


def _fmt(v):
    if isinstance(v, list):
        return "[" + " ".join(f"{x:.5g}" for x in v) + "]"
    return f"{v:.5g}"


def run(args) -> int:
    from rich.console import Console
    from rich.table import Table

    from bench import api
    from bench.environment import share_gpu
    share_gpu()
    console = Console(highlight=False)
    examples, skipped = {}, []
    for impl in args.impls:
        reason = api.skip_reason(impl, args.device)
        if reason:
            skipped.append(f"{impl}: {reason}")
            continue
        examples[impl] = compute(impl, args.device)
    if not examples:
        console.print("No implementation can run here: " + "; ".join(skipped))
        return 1
    all_rows = rows(examples)
    bad = False
    for example in dict.fromkeys(r["example"] for r in all_rows):
        table = Table(title=example.replace("_", " "), title_justify="left")
        for col in ("quantity", "slide", "computed (every impl agrees)", "slide right?"):
            table.add_column(col)
        for r in (r for r in all_rows if r["example"] == example):
            values = list(r["computed"].values())
            same = all(np.allclose(v, values[0], rtol=1e-4, atol=1e-6) for v in values)
            bad |= not same
            shown = _fmt(r["truth"]) if same else "; ".join(f"{i} {_fmt(v)}" for i, v in r["computed"].items())
            table.add_row(r["quantity"], _fmt(r["slide"]), shown if same else f"[red]{shown}[/red]",
                          "yes" if r["agrees"] else "[yellow]no[/yellow]")
        console.print(table)
        if NOTES.get(example):
            console.print(f"  note: {NOTES[example]}\n")
    console.print(f"computed by: {', '.join(examples)}")
    for line in skipped:
        console.print(f"skipped: {line}")
    return 1 if bad else 0
