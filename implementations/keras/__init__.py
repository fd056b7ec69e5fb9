"""Keras 3: each task as a Keras model trained by `train_on_batch`, compiled or eager, on the jax, torch or tensorflow
backend. The backend is fixed when keras is imported, so each one is its own framework id, run in its backend's own
worker process (keras-jax in jax's): a layer and the raw framework it wraps then share one process and runtime, and
their per-round ratio carries none of the few % one process can differ from another."""
import importlib

from implementations.keras.elementwise import SKIP

ORDER = 50
JIT = "Keras compiles its train step (compile(jit_compile=True): XLA)"
EAGER = "Keras runs its train step op by op (compile(run_eagerly=True))"
QUICK = ("mlp",)   # the quick profile's Keras cells, one per backend: the layer's cost where it shows, builds of seconds


def _backend(name, jit_over, eager_over, colours, quick):
    """The declaration of Keras on backend `name`; `quick`: the mode the quick profile runs (on QUICK's tasks)."""
    modes = {"jit": {"paradigm": "define-and-run", "colour": colours[0], "wraps": jit_over, "about": JIT,
                     "retrace": "a new batch size makes Keras trace and compile its train step again"},
             "eager": {"paradigm": "define-by-run", "colour": colours[1], "wraps": eager_over, "about": EAGER}}
    for mode, info in modes.items():
        info["quick"] = QUICK if mode == quick else False
    return {"imports": ("keras", name), "extra": "keras", "module_extras": {name: name},
            "env": {"KERAS_BACKEND": name}, "worker": name,
            "modes": {m: v for m, v in modes.items() if v["wraps"]}, "skip_tasks": {"elementwise": SKIP}}


# torch has no jit mode: Keras's jit_compile=True on torch wraps its whole train step in torch.compile, which took
# 68 s to build the MLP here and then ran 3x slower than eager (graph breaks); Keras's own default on torch is eager.
FRAMEWORKS = {"keras-jax": _backend("jax", "jax/jit", "jax/eager", ("#882255", "#AA4499"), "jit"),
              "keras-torch": _backend("torch", None, "torch/eager", (None, "#CC6677"), "eager"),
              "keras-tensorflow": _backend("tensorflow", "tensorflow/function", "tensorflow/eager",
                                           ("#117733", "#44AA99"), "jit")}


def skip_reason(fw, mode, device):
    """What the backend itself needs here (its own folder's check)."""
    backend = FRAMEWORKS[fw]["env"]["KERAS_BACKEND"]
    check = getattr(importlib.import_module(f"implementations.{backend}"), "skip_reason", None)
    return check(backend, mode, device) if check else None
