"""fwbench: the same deep-learning tasks in numpy, PyTorch, TensorFlow and JAX, timed honestly."""
__version__ = "0.1.0"
