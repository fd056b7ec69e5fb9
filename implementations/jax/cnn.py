"""CNN (slide 002): conv-relu-conv-relu-pool-conv-relu-pool-fc-relu-fc, softmax cross-entropy.

Canonical layouts (NCHW, OIHW) are named in `dimension_numbers`; XLA picks its own layout inside.
"""
import jax
import jax.numpy as jnp
from jax import lax

CONVS = ("conv1", "conv2", "conv3")
POOL_AFTER = ("conv2", "conv3")


def conv2d(h, w, b):
    """Valid cross-correlation, stride 1, plus a per-channel bias."""
    out = lax.conv_general_dilated(h, w, window_strides=(1, 1), padding="VALID",
                                   dimension_numbers=("NCHW", "OIHW", "NCHW"))
    return out + b[:, None, None]


def max_pool2d(h):
    """2x2 max-pool, stride 2, over the H and W axes."""
    return lax.reduce_window(h, -jnp.inf, lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")


def forward(params, inputs):
    h = inputs["X"]
    for name in CONVS:
        h = jax.nn.relu(conv2d(h, params[f"{name}_w"], params[f"{name}_b"]))
        if name in POOL_AFTER:
            h = max_pool2d(h)
    flat = h.reshape(h.shape[0], -1)                        # (C, H, W) order
    a1 = jax.nn.relu(flat @ params["fc1_w"] + params["fc1_b"])
    return a1 @ params["fc2_w"] + params["fc2_b"]


def loss(params, inputs):
    log_probs = jax.nn.log_softmax(forward(params, inputs))
    return -jnp.mean(jnp.take_along_axis(log_probs, inputs["y"][:, None], axis=1))
