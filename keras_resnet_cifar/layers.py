"""Small layer factories shared by the residual units: convolutions, BN, activations.

Every layer gets a stable name from its caller, e.g. `stage2_block1_conv1`.
"""
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
    if coef == 1.0:
        return keras.layers.Activation("silu", name=name)
    return Swish(beta=coef, name=name)


def batch_norm(spec, name):
    return keras.layers.BatchNormalization(momentum=spec.bn_momentum, epsilon=spec.bn_epsilon, name=name)


def regularizer(spec):
    if spec.l1 == 0 and spec.l2 == 0:
        return None
    return keras.regularizers.L1L2(l1=spec.l1, l2=spec.l2)


def conv(x, spec, filters, kernel, stride, name):
    """Bias-free convolution padded like PyTorch's `padding=kernel // 2` at any stride.

    Keras's padding="same" pads only bottom/right at stride 2, which shifts the sampling
    grid by one pixel against the study's network; explicit symmetric padding keeps the
    same weights giving the same outputs.
    """
    padding = "same"
    if stride != 1 and kernel > 1:
        x = keras.layers.ZeroPadding2D(kernel // 2, name=f"{name}_pad")(x)
        padding = "valid"
    return keras.layers.Conv2D(
        filters, kernel, strides=stride, padding=padding, use_bias=False,
        kernel_initializer="he_normal", kernel_regularizer=regularizer(spec), name=name,
    )(x)
