"""MLP (slide 002): 1 -> hidden... -> 1 with ReLU between, L1 loss mean(|f(X) - Y|)."""
import tensorflow as tf


def layers(params):
    return len(params) // 2


def loss(params, inputs):
    h = inputs["X"]
    for k in range(1, layers(params) + 1):
        h = h @ params[f"W{k}"] + params[f"b{k}"]
        if k < layers(params):
            h = tf.nn.relu(h)
    return tf.reduce_mean(tf.abs(h - inputs["Y"]))
