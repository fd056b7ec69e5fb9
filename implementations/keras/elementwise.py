"""Elementwise (slide 000) is not a Keras model: it has no data and no update, while `train_on_batch` always fits a
model to (x, y) with an optimizer. Its cells are skipped with this reason (the registry reads it from here)."""

SKIP = ("elementwise is not a Keras model: the slide's x*y*z has no data to fit and no update, and Keras's "
        "train_on_batch always fits (x, y) with an optimizer")
