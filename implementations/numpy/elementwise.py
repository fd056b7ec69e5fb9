"""Elementwise (slide 000): c = sum(x*y*z) or sum(x+y+z), gradients by the chain rule."""
import numpy as np


def loss(params, inputs, xp=np, op="mul"):
    x, y, z = params["x"], params["y"], params["z"]
    return xp.sum(x * y * z) if op == "mul" else xp.sum(x + y + z)


def loss_and_grads(params, inputs, xp=np, op="mul"):
    x, y, z = params["x"], params["y"], params["z"]
    if op == "mul":
        a = x * y
        b = a * z
        c = xp.sum(b)
        grad_b = xp.ones_like(b)
        grad_a = grad_b * z           # b = a * z
        grad_z = grad_b * a
        grad_x = grad_a * y           # a = x * y
        grad_y = grad_a * x
    else:
        c = xp.sum(x + y + z)
        grad_x = grad_y = grad_z = xp.ones_like(x)
    return c, {"x": grad_x, "y": grad_y, "z": grad_z}
