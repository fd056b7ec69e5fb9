"""CNN (slide 002): conv-relu-conv-relu-pool-conv-relu-pool-fc-relu-fc, softmax cross-entropy.

Canonical layouts come in (NCHW, OIHW); TensorFlow's CPU convolutions want NHWC and HWIO, so the
images and kernels are transposed here, and the last feature map goes back to NCHW before flattening
so that fc1_w sees the canonical (C, H, W) order.
"""
import tensorflow as tf

CONVS = ("conv1", "conv2", "conv3")
POOL_AFTER = ("conv2", "conv3")


def forward(params, inputs):
    h = tf.transpose(inputs["X"], [0, 2, 3, 1])                 # NCHW -> NHWC
    for name in CONVS:
        w = tf.transpose(params[f"{name}_w"], [2, 3, 1, 0])     # OIHW -> HWIO
        h = tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(h, w, strides=1, padding="VALID"), params[f"{name}_b"]))
        if name in POOL_AFTER:
            h = tf.nn.max_pool2d(h, ksize=2, strides=2, padding="VALID")
    h = tf.transpose(h, [0, 3, 1, 2])                           # NHWC -> NCHW
    flat = tf.reshape(h, [tf.shape(h)[0], -1])                  # (C, H, W) order
    a1 = tf.nn.relu(flat @ params["fc1_w"] + params["fc1_b"])
    return a1 @ params["fc2_w"] + params["fc2_b"]


def loss(params, inputs):
    logits = forward(params, inputs)
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=inputs["y"], logits=logits))
