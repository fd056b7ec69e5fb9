"""tensorflow/eager, /function and /session: GradientTape op by op, the same step traced by tf.function, a TF1 graph."""
import os
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

from bench.workload import SkipCell, Workload  # noqa: E402

_threads = [0]   # 0: TensorFlow's default (one thread per core)


def device_of(device):
    """The TensorFlow device name for "cpu"/"gpu": SkipCell for a CPU-only build; a CUDA build that starts no GPU
    is an error (a failed cell)."""
    if device == "gpu":
        if not tf.config.list_physical_devices("GPU"):
            if not tf.test.is_built_with_cuda():
                raise SkipCell("TensorFlow is a CPU-only build such as tensorflow-cpu (pip install 'tensorflow[and-cuda]')")
            raise RuntimeError("TensorFlow is built with CUDA but started no GPU: its CUDA libraries did not load "
                               "(TF_CPP_MIN_LOG_LEVEL=0 shows which)")
        tf.config.experimental.enable_tensor_float_32_execution(False)   # float32 means float32, not TF32
        return "/GPU:0"
    return "/CPU:0"


def set_threads(n):
    """Intra- and inter-op threads; TF fixes them when it runs its first op, so a late call only warns."""
    _threads[0] = n                                     # Session reads it when it builds its ConfigProto
    try:
        tf.config.threading.set_intra_op_parallelism_threads(n)
        tf.config.threading.set_inter_op_parallelism_threads(n)
    except RuntimeError as e:
        warnings.warn(f"tensorflow threads not set to {n} for eager/tf.function ({e}); set them before TF runs an op")


def default_device():
    """Where TensorFlow puts an op that names no device: the first GPU if it sees one, else the CPU."""
    return "/GPU:0" if tf.config.list_logical_devices("GPU") else "/CPU:0"


def sync_device(dev):
    """Block until the GPU has finished; CPU ops have already finished when they return."""
    if dev.startswith("/GPU"):
        tf.test.experimental.sync_devices()


class Eager(Workload):
    """Define-by-run: GradientTape records the ops as they run, then walks them backwards."""

    def setup(self, inputs, params):
        self.dev = device_of(self.device)
        with tf.device(self.dev):
            self._inputs = {k: tf.constant(v) for k, v in inputs.items()}
            self._params = {k: tf.Variable(v, name=k) for k, v in params.items()}
            self._lr = tf.constant(self.lr, tf.float32) if self.update else None
        self._plist = list(self._params.values())
        self.loss_and_grads, self.train_step = self._loss_and_grads, self._train_step   # Function wraps both
        self._last = None

    def _loss_and_grads(self):
        """Loss and gradients, every op on the cell's device: the backward pass too, or it runs on the default one."""
        with tf.device(self.dev):
            with tf.GradientTape() as tape:
                loss = self.fn(self._params, self._inputs, **self.cfg)
            return loss, tape.gradient(loss, self._plist)

    def _train_step(self):
        """Forward, backward and SGD; returns the loss, or the gradients when the task updates nothing."""
        loss, grads = self.loss_and_grads()
        if not self.update:
            return grads
        with tf.device(self.dev):
            for p, g in zip(self._plist, grads):
                p.assign_sub(self._lr * g)
        return loss

    def grads(self):
        loss, grads = self.loss_and_grads()
        return float(loss), {k: g.numpy() for k, g in zip(self._params, grads)}

    def step(self):
        self._last = self.train_step()

    def sync(self):
        sync_device(self.dev)

    def params(self):
        return {k: v.numpy().copy() for k, v in self._params.items()}


class Function(Eager):
    """Define-and-run, traced: tf.function turns the same Python step into a graph once, then calls it."""

    def compile(self):
        self.loss_and_grads = tf.function(self._loss_and_grads)
        self.train_step = tf.function(self._on_device(self._train_step))
        self.train_step.get_concrete_function()   # trace now (train_step's trace also traces loss_and_grads)
        self._elsewhere = self.dev != default_device()

    def _on_device(self, fn):
        """`fn` traced inside the cell's device scope: the call of the nested loss_and_grads function included."""
        def on_device():
            with tf.device(self.dev):
                return fn()
        return on_device

    def step(self):
        if not self._elsewhere:
            self._last = self.train_step()
        else:          # the call on the cell's device too, or its outputs are copied to the default device each step
            with tf.device(self.dev):
                self._last = self.train_step()

    def traces(self):
        if not self.built:
            return 0
        return (self.train_step.experimental_get_tracing_count()
                + self.loss_and_grads.experimental_get_tracing_count())


class Session(Workload):
    """Define-and-run, classic (the slides' style): a tf.compat.v1 Graph of placeholders and variables, run by a Session.

    Data and params are fed once, through placeholders, into variables; a step then runs the train op
    with no feed_dict and fetches nothing, so nothing crosses between host and device per step.
    """

    def setup(self, inputs, params):
        self.dev = device_of(self.device)
        self._init_values = {**inputs, **params}   # fed into the graph once, by compile()
        self._names = list(params)
        self._initial = params
        self.sess = None
        self._last = None

    def compile(self):
        self.graph = tf.Graph()
        feed = {}
        with self.graph.as_default(), tf.device(self.dev):
            variables = {}
            for k, v in self._init_values.items():
                value = tf.compat.v1.placeholder(tf.as_dtype(v.dtype), v.shape, name=f"{k}_value")
                feed[value] = v
                variables[k] = tf.Variable(value, trainable=k in self._names, name=k)
            params = {k: variables[k] for k in self._names}
            inputs = {k: v for k, v in variables.items() if k not in params}
            self._plist = list(params.values())
            self._loss = self.fn(params, inputs, **self.cfg)
            self._grads = tf.gradients(self._loss, self._plist)
            if self.update:
                self._train = tf.group(*[p.assign_sub(self.lr * g) for p, g in zip(self._plist, self._grads)])
            else:   # write the gradients somewhere: a group of unused tensors is pruned by Grappler
                buffers = [tf.Variable(tf.zeros(p.shape, p.dtype), trainable=False) for p in self._plist]
                variables.update({f"grad_{k}": b for k, b in zip(self._names, buffers)})
                self._train = tf.group(*[b.assign(g) for b, g in zip(buffers, self._grads)])
            init = tf.group(*[v.initializer for v in variables.values()])
        config = tf.compat.v1.ConfigProto(intra_op_parallelism_threads=_threads[0],
                                          inter_op_parallelism_threads=_threads[0], allow_soft_placement=True)
        self.sess = tf.compat.v1.Session(graph=self.graph, config=config)
        self.sess.run(init, feed_dict=feed)
        self.graph.finalize()                     # any later attempt to add an op raises: no rebuilds
        self._init_values = None

    def grads(self):
        loss, grads = self.sess.run((self._loss, self._grads))
        return float(loss), dict(zip(self._names, grads))

    def step(self):
        self.sess.run(self._train)

    def params(self):
        if self.sess is None:                     # not built yet: the params as given
            return {k: v.copy() for k, v in self._initial.items()}
        return dict(zip(self._names, self.sess.run(self._plist)))

    def traces(self):
        return 1 if self.sess is not None else 0
