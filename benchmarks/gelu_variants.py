"""Ways to compute the exact (erf) GELU on TensorFlow's CPU path, for `train_step.py --gelu NAME`.

op_profile.py measured Keras's `Activation("gelu")` under mixed bfloat16 (`tf.nn.gelu`: x * erfc(-x /
sqrt 2) / 2, each op an Eigen kernel on bfloat16 tensors, and its gradient another chain by autodiff)
at 162 ms of a 512-image airbench94 step, against 29 ms for PyTorch's fused kernels. The variants (all
the same function, erf-exact; `patch(name)` swaps them into the model builder for a benchmark process):

- package: the package's `layers.GELU` (training: forward and gradient each one XLA-compiled float32
  loop, `layers._xla_gelu`); no patch;
- keras: Keras's own `Activation("gelu")` (the package's before issue 22);
- f32: Keras's ops on a float32 copy, cast back (Eigen vectorizes float32 erfc, not bfloat16's);
- custom: float32 maths with a hand-written gradient, dy * (cdf + x * pdf), not compiled.
"""
import math

VARIANTS = ("package", "keras", "f32", "custom")


def _custom_gelu(tf):
    @tf.custom_gradient
    def gelu(x):
        xf = tf.cast(x, tf.float32)
        cdf = 0.5 * tf.math.erfc(xf * -(1 / math.sqrt(2)))

        def grad(dy):
            pdf = tf.exp(-0.5 * tf.square(xf)) * (1 / math.sqrt(2 * math.pi))
            return tf.cast(tf.cast(dy, tf.float32) * (cdf + xf * pdf), x.dtype)

        return tf.cast(xf * cdf, x.dtype), grad

    return gelu


def gelu_layer(name, layer_name):
    """A GELU layer of variant `name` other than "package" (TensorFlow backend)."""
    import keras
    import tensorflow as tf

    if name == "keras":
        return keras.layers.Activation("gelu", name=layer_name)
    if name == "f32":
        function = lambda x: tf.cast(tf.nn.gelu(tf.cast(x, tf.float32), approximate=False), x.dtype)  # noqa: E731
    else:
        function = _custom_gelu(tf)
    return keras.layers.Lambda(function, name=layer_name)


def patch(name):
    """Make the package's model builder use GELU variant `name` (this process only)."""
    if name == "package":
        return
    from keras_resnet_cifar import blocks, layers, model

    original = layers.activation

    def activation(spec, layer_name):
        if spec.activation != "gelu":
            return original(spec, layer_name)
        return gelu_layer(name, layer_name)

    blocks.activation = model.activation = layers.activation = activation
