"""Ways to compute the exact (erf) GELU on TensorFlow's CPU path, for `train_step.py --gelu NAME`.

Under mixed bfloat16, Keras's `Activation("gelu")` is `tf.nn.gelu`: x * erfc(-x / sqrt 2) / 2, each op an
Eigen kernel on bfloat16 tensors, and its gradient another chain (Exp, Square, Neg, Mul...) by autodiff;
op_profile.py measured the network's GELUs at 162 ms a step at batch 512 against 29 ms for PyTorch's
fused kernels. The variants (all the same function, erf-exact; `patch(name)` swaps them into the
model builder for a benchmark process):

- keras: Keras's own (the package's today);
- f32: the same ops on a float32 copy, cast back (Eigen vectorizes float32 erfc, not bfloat16's);
- custom: float32 maths with a hand-written gradient, dy * (cdf + x * pdf), reusing the forward's cdf;
- xla: `custom`'s maths in a jit-compiled function (XLA fuses each direction into one loop).
"""
import math

VARIANTS = ("keras", "f32", "custom", "xla")


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


def _xla_gelu(tf):
    @tf.function(jit_compile=True)
    def forward(x):
        xf = tf.cast(x, tf.float32)
        return tf.cast(0.5 * xf * tf.math.erfc(xf * -(1 / math.sqrt(2))), x.dtype)

    @tf.function(jit_compile=True)
    def backward(x, dy):
        xf = tf.cast(x, tf.float32)
        cdf = 0.5 * tf.math.erfc(xf * -(1 / math.sqrt(2)))
        pdf = tf.exp(-0.5 * tf.square(xf)) * (1 / math.sqrt(2 * math.pi))
        return tf.cast(tf.cast(dy, tf.float32) * (cdf + xf * pdf), x.dtype)

    @tf.custom_gradient
    def gelu(x):
        return forward(x), lambda dy: backward(x, dy)

    return gelu


def gelu_function(name):
    """The GELU of variant `name` as a function of a tensor (TensorFlow backend)."""
    import tensorflow as tf

    if name == "f32":
        return lambda x: tf.cast(tf.nn.gelu(tf.cast(x, tf.float32), approximate=False), x.dtype)
    return {"custom": _custom_gelu, "xla": _xla_gelu}[name](tf)


def patch(name):
    """Make the package's model builder use GELU variant `name` (this process only)."""
    if name == "keras":
        return
    import keras

    from keras_resnet_cifar import blocks, layers, model

    function = gelu_function(name)
    original = layers.activation

    def activation(spec, layer_name):
        if spec.activation != "gelu":
            return original(spec, layer_name)
        return keras.layers.Lambda(function, name=layer_name)

    blocks.activation = model.activation = layers.activation = activation
