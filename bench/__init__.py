"""fwbench: the same deep-learning tasks in numpy, PyTorch, TensorFlow and JAX, timed honestly."""
__version__ = "0.1.0"

_LAB = ("measure", "Results", "Interrupted")    # the Python API (bench.lab), imported on first use


def __getattr__(name):
    if name in _LAB:
        from bench import lab
        return getattr(lab, name)
    raise AttributeError(f"module 'bench' has no attribute {name!r}")
