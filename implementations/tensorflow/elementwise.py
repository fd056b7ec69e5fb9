"""Elementwise (slide 000): c = sum(x*y*z) or sum(x+y+z); GradientTape or tf.gradients finds the gradients."""
import tensorflow as tf


def loss(params, inputs, op="mul"):
    x, y, z = params["x"], params["y"], params["z"]
    return tf.reduce_sum(x * y * z) if op == "mul" else tf.reduce_sum(x + y + z)
