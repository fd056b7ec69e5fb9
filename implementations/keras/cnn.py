"""CNN (slide 002) as a Keras model: conv-relu-conv-relu-pool-conv-relu-pool-flatten-fc-relu-fc, softmax cross-entropy.

Keras's default layout is channels-last, as its users write it: the images go in as NHWC (transposed once,
with the data), conv kernels are HWIO, and Flatten reads (H, W, C); fc1's rows are permuted here so that it
sees the canonical (C, H, W) order. The gradients come back through the same permutations.
"""
import numpy as np

CONVS = {"conv1": 16, "conv2": 32, "conv3": 64}
POOL_AFTER = ("conv2", "conv3")
FC = {"fc1": 100, "fc2": 10}
LAST = (64, 3, 3)   # the last feature map, (C, H, W)


def model(keras, size):
    """Conv2D (5x5, valid), MaxPooling2D (2), Flatten, Dense; a layer per canonical param prefix."""
    layers = [keras.Input((28, 28, 1))]
    for name, filters in CONVS.items():
        layers.append(keras.layers.Conv2D(filters, 5, activation="relu", name=name))
        if name in POOL_AFTER:
            layers.append(keras.layers.MaxPooling2D(2))
    layers += [keras.layers.Flatten(), keras.layers.Dense(FC["fc1"], activation="relu", name="fc1"),
               keras.layers.Dense(FC["fc2"], name="fc2")]
    return keras.Sequential(layers)


def loss(keras):
    """Mean softmax cross-entropy of the logits against integer labels."""
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def data(inputs):
    """(x, y) as the model takes them: NCHW images -> NHWC."""
    return np.ascontiguousarray(inputs["X"].transpose(0, 2, 3, 1)), inputs["y"]


def where(name):
    """The layer and weight that hold canonical param `name` (conv2_w -> conv2's kernel)."""
    layer, _, kind = name.rpartition("_")
    return layer, "kernel" if kind == "w" else "bias"


def _fc1_rows():
    """Row r of Keras's fc1 kernel ((H, W, C) order) is canonical row _fc1_rows()[r] ((C, H, W) order)."""
    return np.arange(np.prod(LAST)).reshape(LAST).transpose(1, 2, 0).ravel()


def to_keras(name, array):
    """Canonical layout -> Keras's: OIHW -> HWIO kernels, fc1 rows from (C, H, W) to (H, W, C)."""
    if name.startswith("conv") and name.endswith("_w"):
        return np.ascontiguousarray(array.transpose(2, 3, 1, 0))
    if name == "fc1_w":
        return array[_fc1_rows()]
    return array


def to_canonical(name, array):
    """Keras's layout -> canonical: HWIO -> OIHW kernels, fc1 rows back to (C, H, W)."""
    if name.startswith("conv") and name.endswith("_w"):
        return np.ascontiguousarray(array.transpose(3, 2, 0, 1))
    if name == "fc1_w":
        out = np.empty_like(array)
        out[_fc1_rows()] = array
        return out
    return array
