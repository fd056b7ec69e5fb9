"""MLP (slide 002): 1 -> hidden... -> 1 with ReLU between, L1 loss mean(|f(X) - Y|)."""
import numpy as np


def layers(params):
    return len(params) // 2


def loss(params, inputs, xp=np):
    h = inputs["X"]
    for k in range(1, layers(params) + 1):
        h = h @ params[f"W{k}"] + params[f"b{k}"]
        if k < layers(params):
            h = xp.maximum(h, 0)
    return xp.mean(xp.abs(h - inputs["Y"]))


def loss_and_grads(params, inputs, xp=np):
    L = layers(params)
    hs, zs = [inputs["X"]], []
    for k in range(1, L + 1):
        z = hs[-1] @ params[f"W{k}"] + params[f"b{k}"]
        zs.append(z)
        hs.append(xp.maximum(z, 0) if k < L else z)
    diff = hs[-1] - inputs["Y"]
    loss = xp.mean(xp.abs(diff))
    grad_z = xp.sign(diff) / diff.size                  # d mean|r| / dr
    grads = {}
    for k in range(L, 0, -1):
        grads[f"W{k}"] = hs[k - 1].T @ grad_z
        grads[f"b{k}"] = grad_z.sum(axis=0)
        if k > 1:
            grad_z = (grad_z @ params[f"W{k}"].T) * (zs[k - 2] > 0)   # through ReLU
    return loss, grads
