"""CNN (slide 002): conv-relu-conv-relu-pool-conv-relu-pool-fc-relu-fc, softmax cross-entropy; im2col backprop.

Canonical layouts come in (NCHW, OIHW); inside, activations are NHWC so that im2col is one matmul.
"""
import numpy as np

CONVS = ("conv1", "conv2", "conv3")
POOL_AFTER = ("conv2", "conv3")


def windows(xp, x, k):
    """im2col: [B, H, W, C] -> [B*OH*OW, k*k*C], channels innermost so that the copy is contiguous."""
    v = xp.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(1, 2))   # [B, OH, OW, C, k, k]
    return v.transpose(0, 1, 2, 4, 5, 3).reshape(-1, k * k * x.shape[3]), v.shape[:3]


def conv(xp, x, w, b):
    """Valid cross-correlation, stride 1: NHWC x, OIHW w."""
    cols, (B, OH, OW) = windows(xp, x, w.shape[-1])
    out = cols @ w.transpose(0, 2, 3, 1).reshape(w.shape[0], -1).T      # OIHW -> O(HWI)
    return (out if b is None else out + b).reshape(B, OH, OW, w.shape[0]), cols


def conv_backward(xp, grad_out, cols, x_shape, w, need_dx):
    """Gradients of `conv` w.r.t. weights, bias and (if asked) its input."""
    k = w.shape[-1]
    g = grad_out.reshape(-1, w.shape[0])
    grad_w = (g.T @ cols).reshape(w.shape[0], k, k, w.shape[1]).transpose(0, 3, 1, 2)
    grad_b = g.sum(axis=0)
    grad_x = None
    if need_dx:   # col2im: scatter each kernel offset's column gradient back onto the input
        B, H, W, C = x_shape
        OH, OW = H - k + 1, W - k + 1
        grad_cols = (g @ w.transpose(0, 2, 3, 1).reshape(w.shape[0], -1)).reshape(B, OH, OW, k, k, C)
        grad_x = xp.zeros(x_shape, dtype=g.dtype)
        for i in range(k):
            for j in range(k):
                grad_x[:, i:i + OH, j:j + OW, :] += grad_cols[:, :, :, i, j, :]
    return grad_w, grad_b, grad_x


def maxpool(xp, x):
    B, H, W, C = x.shape
    r = x.reshape(B, H // 2, 2, W // 2, 2, C)
    out = r.max(axis=(2, 4))
    return out, r == out[:, :, None, :, None, :]


def maxpool_backward(grad_out, mask):
    B, h, _, w, _, C = mask.shape
    return (mask * grad_out[:, :, None, :, None, :]).reshape(B, 2 * h, 2 * w, C)


def forward(params, inputs, xp):
    """Logits and everything the backward pass needs."""
    h = inputs["X"].transpose(0, 2, 3, 1)                 # NCHW -> NHWC
    cache = {}
    for name in CONVS:
        z, cols = conv(xp, h, params[f"{name}_w"], params[f"{name}_b"])
        cache[name] = (h.shape, cols, z > 0)
        h = xp.maximum(z, 0)
        if name in POOL_AFTER:
            h, cache[name + "_pool"] = maxpool(xp, h)
    cache["flat_shape"] = h.shape
    flat = h.transpose(0, 3, 1, 2).reshape(h.shape[0], -1)   # flatten in (C, H, W) order
    z1 = flat @ params["fc1_w"] + params["fc1_b"]
    a1 = xp.maximum(z1, 0)
    logits = a1 @ params["fc2_w"] + params["fc2_b"]
    cache.update(flat=flat, z1=z1, a1=a1)
    return logits, cache


def cross_entropy(xp, logits, y):
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))
    return -log_probs[xp.arange(len(y)), y].mean(), log_probs


def loss(params, inputs, xp=np):
    logits, _ = forward(params, inputs, xp)
    return cross_entropy(xp, logits, inputs["y"])[0]


def loss_and_grads(params, inputs, xp=np):
    logits, cache = forward(params, inputs, xp)
    y = inputs["y"]
    loss, log_probs = cross_entropy(xp, logits, y)
    grad_logits = xp.exp(log_probs)
    grad_logits[xp.arange(len(y)), y] -= 1
    grad_logits /= len(y)
    grads = {"fc2_w": cache["a1"].T @ grad_logits, "fc2_b": grad_logits.sum(axis=0)}
    grad_z1 = (grad_logits @ params["fc2_w"].T) * (cache["z1"] > 0)
    grads["fc1_w"], grads["fc1_b"] = cache["flat"].T @ grad_z1, grad_z1.sum(axis=0)
    B, H, W, C = cache["flat_shape"]
    grad_h = (grad_z1 @ params["fc1_w"].T).reshape(B, C, H, W).transpose(0, 2, 3, 1)
    for name in reversed(CONVS):
        if name in POOL_AFTER:
            grad_h = maxpool_backward(grad_h, cache[name + "_pool"])
        x_shape, cols, active = cache[name]
        grad_z = grad_h * active                          # through ReLU
        grads[f"{name}_w"], grads[f"{name}_b"], grad_h = conv_backward(
            xp, grad_z, cols, x_shape, params[f"{name}_w"], need_dx=name != CONVS[0])
    return loss, grads
