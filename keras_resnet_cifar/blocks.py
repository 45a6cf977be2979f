"""The five residual units of He et al. 2016 ("Identity Mappings", Fig. 4).

Each unit is a plain function `x -> x` that names its layers `{name}_conv1`,
`{name}_bn1`, `{name}_act1`, ..., `{name}_add`, and `{name}_shortcut_conv/bn`
when it projects. The layers of each ordering (a..e) are the table
`spec.BLOCK_ORDERS`, which docs/model.md and `--help` show.

The shortcut s is the identity, or a projection (skip_kernel conv + BN) when the
stride or the width changes; in (e) it projects the pre-activated input, as in
the paper's code.

With `spec.zero_init_residual` the branch's last layer starts at zero, so every unit
starts as its shortcut (Goyal et al. 2017): the scale of bn2 in (a), (c) and (d), the
kernel of conv2 in (b) and (e), whose branch ends with that convolution.
"""
import keras

from keras_resnet_cifar.layers import activation, batch_norm, conv


def _shortcut(x, spec, filters, stride, name):
    if stride == 1 and x.shape[-1] == filters:
        return x
    s = conv(x, spec, filters, spec.skip_kernel, stride, f"{name}_shortcut_conv")
    return batch_norm(spec, f"{name}_shortcut_bn")(s)


def residual_unit(x, spec, filters, kernel, stride, name):
    """One residual unit of `spec.block_order`, `filters` wide, first conv at `stride`."""
    order = spec.block_order
    zero = spec.zero_init_residual
    add = keras.layers.Add(name=f"{name}_add")
    if order == "e":
        pre = activation(spec, f"{name}_act1")(batch_norm(spec, f"{name}_bn1")(x))
        r = conv(pre, spec, filters, kernel, stride, f"{name}_conv1")
        r = activation(spec, f"{name}_act2")(batch_norm(spec, f"{name}_bn2")(r))
        r = conv(r, spec, filters, kernel, 1, f"{name}_conv2", zero=zero)
        return add([r, _shortcut(pre, spec, filters, stride, name)])
    if order == "d":
        r = activation(spec, f"{name}_act1")(x)
        r = batch_norm(spec, f"{name}_bn1")(conv(r, spec, filters, kernel, stride, f"{name}_conv1"))
        r = activation(spec, f"{name}_act2")(r)
        r = batch_norm(spec, f"{name}_bn2", zero=zero)(conv(r, spec, filters, kernel, 1, f"{name}_conv2"))
        return add([r, _shortcut(x, spec, filters, stride, name)])

    r = conv(x, spec, filters, kernel, stride, f"{name}_conv1")
    r = activation(spec, f"{name}_act1")(batch_norm(spec, f"{name}_bn1")(r))
    r = conv(r, spec, filters, kernel, 1, f"{name}_conv2", zero=zero and order == "b")
    s = _shortcut(x, spec, filters, stride, name)
    if order == "a":
        r = batch_norm(spec, f"{name}_bn2", zero=zero)(r)
        return activation(spec, f"{name}_out")(add([r, s]))
    if order == "b":
        return activation(spec, f"{name}_out")(batch_norm(spec, f"{name}_bn2")(add([r, s])))
    # order == "c"
    r = activation(spec, f"{name}_act2")(batch_norm(spec, f"{name}_bn2", zero=zero)(r))
    return add([r, s])
