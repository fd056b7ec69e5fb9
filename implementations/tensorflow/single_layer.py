"""Single layer (slide 003): y_pred = X @ W, loss = 0.5 * sum((y_pred - Y)**2)."""
import tensorflow as tf


def loss(params, inputs):
    y_pred = inputs["X"] @ params["W"]
    return 0.5 * tf.reduce_sum(tf.square(y_pred - inputs["Y"]))
