"""CNN (slide 002): conv-relu-conv-relu-pool-conv-relu-pool-fc-relu-fc, softmax cross-entropy; hand-derived backprop.

Canonical layouts come in (NCHW, OIHW). Inside, activations are CHWB, batch innermost: every window shift below
then moves long contiguous runs (width x batch), a conv's matrix product comes out in CHWB, ready for the next
layer, and flattening in (C, H, W) order is free. Convolutions are matrix products over copied windows (im2col);
for the big layer, copying all k*k windows costs more than the product, so `row_conv` copies only the k windows
along the width and stacks the k kernel rows into the weight matrix instead.
"""
import numpy as np

CONVS = ("conv1", "conv2", "conv3")
POOL_AFTER = ("conv2", "conv3")
ROW_STACKED = ("conv2",)   # convs done by `row_conv`: measured faster than plain im2col there, slower elsewhere


def window_view(xp, x, k, axes):
    """x with a k-wide window along each of `axes` as new trailing axes: a strided view, no copy.

    What `sliding_window_view` does, without its checks: CuPy's copies the window shape to the GPU and tests
    it there, a blocking read-back on every call, so the step could never run ahead of the GPU.
    """
    shape = list(x.shape)
    for ax in axes:
        shape[ax] -= k - 1
    strides = x.strides + tuple(x.strides[ax] for ax in axes)
    return xp.lib.stride_tricks.as_strided(x, shape=tuple(shape) + (k,) * len(axes), strides=strides)


def windows(xp, x, k):
    """im2col: [C, H, W, B] -> [C*k*k, OH*OW*B], row (c, i, j) holding x[c, oh+i, ow+j, b]."""
    v = window_view(xp, x, k, (1, 2))                                       # [C, OH, OW, B, k, k], a view
    return v.transpose(0, 4, 5, 1, 2, 3).reshape(x.shape[0] * k * k, -1)   # the copy


def unwindows(xp, cols, x_shape, k):
    """col2im, the adjoint of `windows`: add every window entry back onto the input position it came from."""
    C, H, W, B = x_shape
    OH, OW = H - k + 1, W - k + 1
    cols = cols.reshape(C, k, k, OH, OW, B)
    x = xp.zeros(x_shape, dtype=cols.dtype)
    for i in range(k):
        for j in range(k):
            x[:, i:i + OH, j:j + OW] += cols[:, i, j]
    return x


def im2col_conv(xp, x, w, b):
    """Valid cross-correlation, stride 1, as one product: w as [O, C*k*k] times the windows of x."""
    O, C, k, _ = w.shape
    cols = windows(xp, x, k)
    out = w.reshape(O, -1) @ cols
    out += b[:, None]
    return out.reshape(O, x.shape[1] - k + 1, x.shape[2] - k + 1, x.shape[3]), cols


def im2col_conv_backward(xp, g, cols, x_shape, w, need_dx):
    """Gradients of `im2col_conv` w.r.t. w, b and (if asked) x, from the output gradient g."""
    O, C, k, _ = w.shape
    g = g.reshape(O, -1)
    grad_w = (cols @ g.T).T.reshape(w.shape)
    grad_x = unwindows(xp, w.reshape(O, -1).T @ g, x_shape, k) if need_dx else None
    return grad_w, g.sum(axis=1), grad_x


def row_windows(xp, x, k):
    """im2col along the width only: [C, H, W, B] -> [C*k, H*OW*B], row (c, j) holding x[c, h, ow+j, b]."""
    v = window_view(xp, x, k, (2,))                                          # [C, H, OW, B, k], a view
    return v.transpose(0, 4, 1, 2, 3).reshape(x.shape[0] * k, -1)


def stacked(w):
    """OIHW -> [(i, o), (c, j)]: the weight matrices of the k kernel rows i, stacked into one."""
    O, C, k, _ = w.shape
    return w.transpose(2, 0, 1, 3).reshape(k * O, C * k)


def row_conv(xp, x, w, b):
    """The same cross-correlation, copying x k times instead of k*k: one product applies every kernel row i
    at every input row h; output row oh then adds kernel row i's response at input row oh+i."""
    O, C, k, _ = w.shape
    _, H, W, B = x.shape
    OH, OW = H - k + 1, W - k + 1
    cols = row_windows(xp, x, k)
    rows = (stacked(w) @ cols).reshape(k, O, H, OW * B)
    out = rows[0, :, :OH] + b[:, None, None]
    for i in range(1, k):
        out += rows[i, :, i:i + OH]
    return out.reshape(O, OH, OW, B), cols


def row_conv_backward(xp, g, cols, x_shape, w, need_dx):
    """Gradients of `row_conv`: g shifted down i rows is the gradient of kernel row i's response; then both
    products are single matmuls against those shifted copies, and col2im runs along the width only."""
    O, C, k, _ = w.shape
    _, H, W, B = x_shape
    OH, OW = H - k + 1, W - k + 1
    g = g.reshape(O, OH, OW * B)
    padded = xp.zeros((O, OH + 2 * (k - 1), OW * B), dtype=g.dtype)   # g with k-1 zero rows above and below
    padded[:, k - 1:k - 1 + OH] = g
    shifted = [padded[:, k - 1 - i:k - 1 - i + H] for i in range(k)]    # shifted[i][o, h] = g[o, h - i]
    g_rows = xp.stack(shifted).reshape(k * O, -1)
    grad_w = (g_rows @ cols.T).reshape(k, O, C, k).transpose(1, 2, 0, 3)
    grad_x = None
    if need_dx:
        grad_cols = (stacked(w).T @ g_rows).reshape(C, k, H, OW, B)
        grad_x = xp.zeros(x_shape, dtype=g.dtype)
        for j in range(k):                                  # window column j of output column ow is input ow+j
            grad_x[:, :, j:j + OW] += grad_cols[:, j]
    return grad_w, g.sum(axis=(1, 2)), grad_x


def conv(xp, x, w, b, rows=False):
    """Valid cross-correlation, stride 1: CHWB x, OIHW w -> CHWB out, and the windows the backward pass needs."""
    return (row_conv if rows else im2col_conv)(xp, x, w, b)


def conv_backward(xp, grad_out, cols, x_shape, w, need_dx, rows=False):
    """Gradients of `conv` w.r.t. weights, bias and (if asked) its input."""
    return (row_conv_backward if rows else im2col_conv_backward)(xp, grad_out, cols, x_shape, w, need_dx)


def maxpool(xp, x):
    """2x2 max pooling of CHWB x; also the mask of the window maxima."""
    C, H, W, B = x.shape
    r = x.reshape(C, H // 2, 2, W // 2, 2, B)
    rows = xp.maximum(r[:, :, 0], r[:, :, 1])              # max over the window's 2 rows, then its 2 columns
    out = xp.maximum(rows[:, :, :, 0], rows[:, :, :, 1])
    return out, r == out[:, :, None, :, None, :]


def maxpool_backward(grad_out, mask):
    """Route each pooled gradient to its window's maximum."""
    C, h, _, w, _, B = mask.shape
    return (mask * grad_out[:, :, None, :, None, :]).reshape(C, 2 * h, 2 * w, B)


def forward(params, inputs, xp):
    """Logits and everything the backward pass needs."""
    h = inputs["X"].transpose(1, 2, 3, 0)                 # NCHW -> CHWB
    cache = {}
    for name in CONVS:
        z, cols = conv(xp, h, params[f"{name}_w"], params[f"{name}_b"], rows=name in ROW_STACKED)
        cache[name] = (h.shape, cols, z > 0)
        h = xp.maximum(z, 0, out=z)                      # ReLU, in place
        if name in POOL_AFTER:
            h, cache[name + "_pool"] = maxpool(xp, h)
    cache["flat_shape"] = h.shape
    flat_t = h.reshape(-1, h.shape[-1])                   # [C*H*W, B]: flattened in (C, H, W) order, transposed
    z1 = (params["fc1_w"].T @ flat_t).T + params["fc1_b"]
    a1 = xp.maximum(z1, 0)
    logits = a1 @ params["fc2_w"] + params["fc2_b"]
    cache.update(flat_t=flat_t, z1=z1, a1=a1)
    return logits, cache


def cross_entropy(xp, logits, y):
    """Mean softmax cross-entropy, and the log-probabilities."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - xp.log(xp.exp(shifted).sum(axis=1, keepdims=True))
    return -log_probs[xp.arange(len(y)), y].mean(), log_probs


def loss(params, inputs, xp=np):
    """The task's loss at params."""
    logits, _ = forward(params, inputs, xp)
    return cross_entropy(xp, logits, inputs["y"])[0]


def loss_and_grads(params, inputs, xp=np):
    """The loss and the gradient of every param, by hand-derived backprop."""
    logits, cache = forward(params, inputs, xp)
    y = inputs["y"]
    loss, log_probs = cross_entropy(xp, logits, y)
    grad_logits = xp.exp(log_probs)                       # softmax - onehot, over the batch mean
    grad_logits[xp.arange(len(y)), y] -= 1
    grad_logits /= len(y)
    grads = {"fc2_w": cache["a1"].T @ grad_logits, "fc2_b": grad_logits.sum(axis=0)}
    grad_z1 = (grad_logits @ params["fc2_w"].T) * (cache["z1"] > 0)
    grads["fc1_w"], grads["fc1_b"] = cache["flat_t"] @ grad_z1, grad_z1.sum(axis=0)
    grad_h = (params["fc1_w"] @ grad_z1.T).reshape(cache["flat_shape"])
    for name in reversed(CONVS):
        if name in POOL_AFTER:
            grad_h = maxpool_backward(grad_h, cache[name + "_pool"])
        x_shape, cols, active = cache[name]
        grad_h *= active                                  # through ReLU
        grads[f"{name}_w"], grads[f"{name}_b"], grad_h = conv_backward(
            xp, grad_h, cols, x_shape, params[f"{name}_w"], need_dx=name != CONVS[0], rows=name in ROW_STACKED)
    return loss, grads
