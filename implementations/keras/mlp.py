"""MLP (slide 002) as a Keras model: Dense layers 1 -> hidden... -> 1, ReLU between, mean absolute error."""


def model(keras, size):
    """Dense layer k holds W{k} (kernel, canonical [in, out]) and b{k} (bias); no activation on the last."""
    widths = (*size["hidden"], 1)
    dense = [keras.layers.Dense(w, activation="relu" if k < len(widths) else None, name=f"layer{k}")
             for k, w in enumerate(widths, start=1)]
    return keras.Sequential([keras.Input((1,)), *dense])


def loss(keras):
    """mean(|f(X) - Y|)."""
    return keras.losses.MeanAbsoluteError()


def data(inputs):
    """(x, y) as the model takes them."""
    return inputs["X"], inputs["Y"]


def where(name):
    """The layer and weight that hold canonical param `name` (W2 -> layer2's kernel)."""
    return f"layer{name[1:]}", "kernel" if name[0] == "W" else "bias"


def to_keras(name, array):
    """Canonical layout -> Keras's (the same for Dense kernels and biases)."""
    return array


def to_canonical(name, array):
    """Keras's layout -> canonical."""
    return array
