"""Elementwise (slide 000): c = sum(x*y*z) or sum(x+y+z); autograd finds the gradients."""
import torch


def loss(params, inputs, op="mul"):
    x, y, z = params["x"], params["y"], params["z"]
    return torch.sum(x * y * z) if op == "mul" else torch.sum(x + y + z)
