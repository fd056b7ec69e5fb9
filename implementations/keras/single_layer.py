"""Single layer (slide 003) as a Keras model: one Dense layer without bias, loss 0.5 * sum((y_pred - Y)**2)."""


def model(keras, size):
    """X [n, d_in] -> X @ W [n, d_out]; the Dense kernel is W in its canonical [in, out] layout."""
    return keras.Sequential([keras.Input((size["d_in"],)), keras.layers.Dense(size["d_out"], use_bias=False, name="W")])


def loss(keras):
    """Half the summed squared error (a Keras loss reduces to the mean unless told otherwise)."""
    def half_sum_squares(y_true, y_pred):
        return 0.5 * keras.ops.sum(keras.ops.square(y_pred - y_true))
    return half_sum_squares


def data(inputs):
    """(x, y) as the model takes them."""
    return inputs["X"], inputs["Y"]


def where(name):
    """The layer and weight that hold canonical param `name`."""
    return "W", "kernel"


def to_keras(name, array):
    """Canonical layout -> Keras's (the same for Dense kernels)."""
    return array


def to_canonical(name, array):
    """Keras's layout -> canonical."""
    return array
