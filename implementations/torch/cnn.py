"""CNN (slide 002): conv-relu-conv-relu-pool-conv-relu-pool-fc-relu-fc, softmax cross-entropy.

Canonical layouts are PyTorch's own (NCHW, OIHW), so nothing is transposed.
"""
import torch
import torch.nn.functional as F

CONVS = ("conv1", "conv2", "conv3")
POOL_AFTER = ("conv2", "conv3")


def forward(params, inputs):
    h = inputs["X"]
    for name in CONVS:
        h = torch.relu(F.conv2d(h, params[f"{name}_w"], params[f"{name}_b"]))
        if name in POOL_AFTER:
            h = F.max_pool2d(h, 2)
    flat = h.flatten(1)                                     # (C, H, W) order
    a1 = torch.relu(flat @ params["fc1_w"] + params["fc1_b"])
    return a1 @ params["fc2_w"] + params["fc2_b"]


def loss(params, inputs):
    return F.cross_entropy(forward(params, inputs), inputs["y"])
