"""Single layer (slide 003): y_pred = X @ W, loss = 0.5 * sum((y_pred - Y)**2)."""
import jax.numpy as jnp


def loss(params, inputs):
    y_pred = inputs["X"] @ params["W"]
    return 0.5 * jnp.sum((y_pred - inputs["Y"]) ** 2)
