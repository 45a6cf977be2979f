"""Small layer factories shared by the residual units: convolutions, BN, activations.

Every layer gets a stable name from its caller, e.g. `stage2_block1_conv1`.
"""
import functools
import math

import keras


@keras.saving.register_keras_serializable(package="keras_resnet_cifar")
class Swish(keras.layers.Layer):
    """x * sigmoid(beta * x); beta = 1 is SiLU. Table 3 of the study."""

    def __init__(self, beta=1.0, **kwargs):
        super().__init__(**kwargs)
        self.beta = float(beta)

    def call(self, x):
        return x * keras.ops.sigmoid(self.beta * x)

    def get_config(self):
        return {**super().get_config(), "beta": self.beta}


def activation(spec, name):
    """The spec's activation as a layer named `name`."""
    kind, coef = spec.activation, spec.activation_coef
    if kind == "relu":
        return keras.layers.ReLU(name=name)
    if kind == "relu6":
        return keras.layers.ReLU(max_value=6.0, name=name)
    if kind == "leaky_relu":
        return keras.layers.LeakyReLU(negative_slope=coef, name=name)
    if kind == "elu":
        return keras.layers.ELU(alpha=coef, name=name)
    if kind == "gelu":
        return GELU(name=name)
    if coef == 1.0:
        return keras.layers.Activation("silu", name=name)
    return Swish(beta=coef, name=name)


@keras.saving.register_keras_serializable(package="keras_resnet_cifar")
class GELU(keras.layers.Layer):
    """The exact (erf) GELU, x * Phi(x), as PyTorch's nn.GELU().

    Training on the TensorFlow backend, the forward and the gradient each run as one XLA-compiled
    loop in float32, cast back to the compute dtype (`_xla_gelu`): Keras's Activation("gelu") is a
    chain of Eigen ops on bfloat16, and autodiff's gradient a longer one (162 ms of a 512-image
    airbench94 step on our CPUs against 29-35 ms for PyTorch's fused kernels; this layer: 1.10x the
    whole step, benchmarks/RESULTS.md). Inference (so an exported SavedModel holds standard ops
    only) and the other backends use keras.ops.gelu, the same function.
    """

    def call(self, inputs, training=None):
        if training and keras.backend.backend() == "tensorflow":
            return _xla_gelu()(inputs)
        return keras.ops.gelu(inputs, approximate=False)


@functools.cache
def _xla_gelu():
    """The exact GELU with its gradient dy * (Phi(x) + x * phi(x)), each an XLA-compiled TensorFlow function."""
    import tensorflow as tf  # only called on the TensorFlow backend

    def phi(x):
        return 0.5 * tf.math.erfc(x * -(1 / math.sqrt(2)))

    @tf.function(jit_compile=True)
    def forward(x):
        xf = tf.cast(x, tf.float32)
        return tf.cast(xf * phi(xf), x.dtype)

    @tf.function(jit_compile=True)
    def backward(x, dy):
        xf = tf.cast(x, tf.float32)
        density = tf.exp(-0.5 * tf.square(xf)) * (1 / math.sqrt(2 * math.pi))
        return tf.cast(tf.cast(dy, tf.float32) * (phi(xf) + xf * density), x.dtype)

    @tf.custom_gradient
    def gelu(x):
        return forward(x), lambda dy: backward(x, dy)

    return gelu


@keras.saving.register_keras_serializable(package="keras_resnet_cifar")
class FusedBatchNormalization(keras.layers.BatchNormalization):
    """BatchNormalization that runs TensorFlow's fused kernel on 4-D NHWC inputs.

    Keras 3's BatchNormalization computes moments and normalizes in separate ops;
    on the TensorFlow backend the fused kernel (oneDNN on CPU, cuDNN on GPU) is 3-4x
    faster for a training step of a 128x32x32x64 batch (benchmarks/RESULTS.md).
    Same weights, same outputs; like PyTorch, the moving variance is updated with the
    unbiased batch variance. Without a learned scale (`scale=False`) or offset the kernel
    gets ones or zeros. Any other backend or input falls back to Keras's own code
    (TensorFlow is then never imported), whose moving variance takes the biased batch
    variance: smaller by a factor (n - 1) / n, n = batch x height x width >= 2,048 for
    ResNet24 at batch 128, so within 0.05%. Checkpoints load on either backend.
    """

    def call(self, inputs, training=None, mask=None):
        if (keras.backend.backend() != "tensorflow" or mask is not None or self.renorm
                or len(inputs.shape) != 4 or self.axis not in (-1, 3)):
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf  # this path runs on the TensorFlow backend only; the module imports without it

        x = inputs if inputs.dtype in (tf.float16, tf.bfloat16, tf.float32) else tf.cast(inputs, tf.float32)
        channels = inputs.shape[-1]
        gamma = tf.cast(self.gamma, tf.float32) if self.scale else tf.ones([channels], tf.float32)
        beta = tf.cast(self.beta, tf.float32) if self.center else tf.zeros([channels], tf.float32)
        if training and self.trainable:
            y, mean, variance = tf.compat.v1.nn.fused_batch_norm(
                x, gamma, beta, epsilon=self.epsilon, is_training=True, data_format="NHWC")
            self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
            self.moving_variance.assign(
                self.moving_variance * self.momentum + variance * (1.0 - self.momentum))
        else:
            y, _, _ = tf.compat.v1.nn.fused_batch_norm(
                x, gamma, beta, mean=tf.cast(self.moving_mean, tf.float32),
                variance=tf.cast(self.moving_variance, tf.float32), epsilon=self.epsilon,
                is_training=False, data_format="NHWC")
        return tf.cast(y, self.compute_dtype)


@keras.saving.register_keras_serializable(package="keras_resnet_cifar")
class DiracUniform(keras.initializers.Initializer):
    """PyTorch's default conv init, uniform(+-1/sqrt(fan_in)), with the first min(in, out) filters set
    to the identity (filter i passes input channel i through its centre tap), as airbench's `Conv`."""

    def __init__(self, seed=None):
        self.seed = seed

    def __call__(self, shape, dtype=None):
        kh, kw, cin, cout = shape
        bound = (kh * kw * cin) ** -0.5
        values = keras.random.uniform(shape, -bound, bound, dtype=dtype, seed=self.seed)
        keep = min(cin, cout)
        eye = keras.ops.pad(keras.ops.eye(keep, dtype=dtype)[None, None], [[kh // 2, kh - kh // 2 - 1],
                            [kw // 2, kw - kw // 2 - 1], [0, cin - keep], [0, 0]])
        return keras.ops.concatenate([eye, values[..., keep:]], axis=-1)

    def get_config(self):
        return {"seed": self.seed}


@keras.saving.register_keras_serializable(package="keras_resnet_cifar")
class PatchWhitening(keras.layers.Conv2D):
    """The whitening stem: a kxk valid conv with bias whose kernel is not trained (set once by
    `whitening.fit_whitening` from the training images, then saved with the model's weights)."""

    def build(self, input_shape):
        super().build(input_shape)
        self.kernel.trainable = False


@keras.saving.register_keras_serializable(package="keras_resnet_cifar")
class Scale(keras.layers.Layer):
    """x * factor (the logits' `output_scale`). Not keras.layers.Rescaling: that preprocessing layer needs
    TensorFlow's tf.data utilities, which a JAX-only machine does not have."""

    def __init__(self, factor, **kwargs):
        super().__init__(**kwargs)
        self.factor = float(factor)

    def call(self, x):
        return x * keras.ops.cast(self.factor, x.dtype)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


def batch_norm(spec, name, zero=False):
    """The spec's BN (learned scale unless `spec.bn_scale` is False); `zero`: scale starts at 0."""
    return FusedBatchNormalization(momentum=spec.bn_momentum, epsilon=spec.bn_epsilon, scale=spec.bn_scale,
                                   gamma_initializer="zeros" if zero else "ones", name=name)


def regularizer(spec):
    if spec.l1 == 0 and spec.l2 == 0:
        return None
    return keras.regularizers.L1L2(l1=spec.l1, l2=spec.l2)


def kernel_init(spec):
    """The spec's convolution initializer (`conv_init`)."""
    return DiracUniform() if spec.conv_init == "dirac" else "he_normal"


def conv(x, spec, filters, kernel, stride, name, zero=False):
    """Bias-free convolution padded like PyTorch's `padding=kernel // 2` at any stride;
    `zero`: the kernel starts at zero (a residual branch's last layer under zero_init_residual).

    Keras's padding="same" pads only bottom/right at stride 2, which shifts the sampling
    grid by one pixel against the study's network; explicit symmetric padding keeps the
    same weights giving the same outputs.
    """
    padding = "same"
    if stride != 1 and kernel == 1:
        # A 1x1 stride-s conv reads x[:, ::s, ::s]: subsample, then convolve at stride 1. Same
        # maths and weights; it also avoids TF 2.21's oneDNN CPU gradient of the strided 1x1
        # conv, which corrupts memory on odd batch sizes (tests/test_model.py reproduces it).
        x = keras.layers.AveragePooling2D(1, strides=stride, name=f"{name}_subsample")(x)
        stride = 1
    if stride != 1 and kernel > 1:
        x = keras.layers.ZeroPadding2D(kernel // 2, name=f"{name}_pad")(x)
        padding = "valid"
    return keras.layers.Conv2D(
        filters, kernel, strides=stride, padding=padding, use_bias=False,
        kernel_initializer="zeros" if zero else kernel_init(spec), kernel_regularizer=regularizer(spec), name=name,
    )(x)
