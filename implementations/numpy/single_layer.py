"""Single layer (slide 003): y_pred = X @ W, loss = 0.5 * sum((y_pred - Y)**2)."""
import numpy as np


def loss(params, inputs, xp=np):
    y_pred = inputs["X"] @ params["W"]
    return 0.5 * xp.sum((y_pred - inputs["Y"]) ** 2)


def loss_and_grads(params, inputs, xp=np):
    X, Y, W = inputs["X"], inputs["Y"], params["W"]
    y_pred = X @ W
    diff = y_pred - Y
    loss = 0.5 * xp.sum(diff ** 2)
    grad_y_pred = diff
    grad_W = X.T @ grad_y_pred
    return loss, {"W": grad_W}
