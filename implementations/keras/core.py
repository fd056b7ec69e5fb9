"""keras-<backend>/jit and /eager: each task is a Keras model, and a step is `model.train_on_batch(x, y)`.

`Jit` compiles Keras's train step (`compile(jit_compile=True)`: XLA on jax and tensorflow) and its first call is the
build; `Eager` runs it op by op (`run_eagerly=True`). The backend is fixed when keras is imported (KERAS_BACKEND,
which the worker sets from this folder's declaration); gradients for the check come from that backend's autodiff.
"""
import contextlib
import importlib
import os
import sys

from bench.workload import Workload


def keras_for(backend):
    """keras running on `backend`: imported with KERAS_BACKEND set, or re-imported when this process already runs
    another backend (what keras.config.set_backend does; a worker imports it once, with its own backend)."""
    keras = sys.modules.get("keras")
    if keras is None or keras.backend.backend() != backend:
        os.environ["KERAS_BACKEND"] = backend
        for name in [m for m in sys.modules if m == "keras" or m.startswith("keras.")]:
            del sys.modules[name]
        keras = importlib.import_module("keras")
    return keras


def raw_core(backend):
    """The backend's own folder here (implementations/<backend>/core.py): devices, threads, compile counts."""
    return importlib.import_module(f"implementations.{backend}.core")


def set_threads(n):
    """The backend's thread count, set as its own folder sets it."""
    raw_core(os.environ.get("KERAS_BACKEND", "tensorflow")).set_threads(n)


def needs_cpu_scope(device):
    """Whether a CPU cell must say so: only where this process sees a GPU (a harness worker for CPU cells has its
    GPUs hidden, so its steps run with no scope, as a user's do)."""
    from bench.registry import nvidia_gpu_present
    return device == "cpu" and nvidia_gpu_present() and os.environ.get("CUDA_VISIBLE_DEVICES") != ""


def value_and_grad(keras, model, loss):
    """f(x, y) -> (loss, gradients in model.trainable_variables order) by the backend's own autodiff; no update."""
    backend = keras.backend.backend()
    weights = model.trainable_variables
    if backend == "jax":
        import jax

        def f(values, frozen, x, y):
            y_pred, _ = model.stateless_call(values, frozen, x, training=True)
            return loss(y, y_pred)
        jitted = jax.jit(jax.value_and_grad(f))                 # one compile for the model, not one per op or call

        def run(x, y):
            return jitted([v.value for v in weights], [v.value for v in model.non_trainable_variables], x, y)
    elif backend == "torch":
        import torch

        def run(x, y):
            value = loss(y, model(x, training=True))
            return value, torch.autograd.grad(value, [v.value for v in weights])
    else:
        import tensorflow as tf

        def run(x, y):
            with tf.GradientTape() as tape:
                value = loss(y, model(x, training=True))
            return value, tape.gradient(value, weights)

    def as_numpy(x, y):
        value, grads = run(x, y)
        return float(keras.ops.convert_to_numpy(value)), [keras.ops.convert_to_numpy(g) for g in grads]
    return as_numpy


class Eager(Workload):
    """Define-by-run: `compile(run_eagerly=True)`; train_on_batch runs Keras's train step op by op."""

    options = {"run_eagerly": True}

    def setup(self, inputs, params):
        from implementations.keras import FRAMEWORKS
        self.backend = FRAMEWORKS[self.impl.split("/")[0]]["env"]["KERAS_BACKEND"]
        self.keras = keras = keras_for(self.backend)
        raw_core(self.backend).device_of(self.device)      # the backend's own skip or error for a missing GPU
        self.cpu_only = needs_cpu_scope(self.device)
        with self.scope():
            self.model = self.module.model(keras, self.size)
            self.loss = self.module.loss(keras)
            self.vars = {k: getattr(self.model.get_layer(layer), weight)
                         for k, (layer, weight) in ((k, self.module.where(k)) for k in params)}
            for k, v in params.items():
                self.vars[k].assign(self.module.to_keras(k, v))
            self._x, self._y = (keras.ops.convert_to_tensor(a) for a in self.module.data(inputs))
        self.train_steps = 0
        self._last = None
        self._value_and_grad = None

    def scope(self):
        """keras.device("cpu") where needed, else nothing."""
        return self.keras.device("cpu") if self.cpu_only else contextlib.nullcontext()

    def compile(self):
        with self.scope():
            self.model.compile(optimizer=self.keras.optimizers.SGD(learning_rate=self.lr), loss=self.loss,
                               **self.options)

    def grads(self):
        with self.scope():
            self._value_and_grad = self._value_and_grad or value_and_grad(self.keras, self.model, self.loss)
            loss, grads = self._value_and_grad(self._x, self._y)
        by_path = dict(zip((v.path for v in self.model.trainable_variables), grads))
        return loss, {k: self.module.to_canonical(k, by_path[v.path]) for k, v in self.vars.items()}

    def step(self):
        with self.scope():
            self._last = self.model.train_on_batch(self._x, self._y)

    def sync(self):
        """Nothing to wait for: train_on_batch returns the loss as a Python float, so every step has finished."""

    def params(self):
        return {k: self.module.to_canonical(k, self.keras.ops.convert_to_numpy(v.value)).copy()
                for k, v in self.vars.items()}

    def traces(self):
        """Compilations the backend counts (jax compiles op by op in eager mode too); 0 where it counts none."""
        count = getattr(raw_core(self.backend), "compile_count", None)
        return count() if count and self.backend == "jax" else 0


class Jit(Eager):
    """Define-and-run: `compile(jit_compile=True)`; the first train_on_batch traces and compiles the train step."""

    options = {"jit_compile": True}

    def compile(self):
        super().compile()
        step = self.model.train_step

        def counted(*args, **kwargs):   # Python runs the train step only while tracing it
            self.train_steps += 1
            return step(*args, **kwargs)
        self.model.train_step = counted
        saved = [self.keras.ops.convert_to_numpy(v.value) for v in self.model.trainable_variables]
        self.step()                      # trace and compile; then undo the update: build leaves params as given
        for v, s in zip(self.model.trainable_variables, saved):
            v.assign(s)

    def traces(self):
        """Traces of Keras's train step (its Python body runs once per trace)."""
        return self.train_steps
