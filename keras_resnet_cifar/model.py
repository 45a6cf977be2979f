"""`build_resnet`: the study's kuangliu-style BasicBlock ResNet as a Keras functional model."""
import keras

from keras_resnet_cifar.blocks import residual_unit
from keras_resnet_cifar.layers import activation, batch_norm, conv, regularizer
from keras_resnet_cifar.spec import ResNetSpec


def stage_output_names(model_or_blocks):
    """Names of the layers holding each stage's output, e.g. ["stage1_out", ..., "stage4_out"].

    Accepts a model built by `build_resnet` or the `blocks` list it was built from.
    """
    if isinstance(model_or_blocks, keras.Model):
        return [layer.name for layer in model_or_blocks.layers
                if layer.name.startswith("stage") and layer.name.endswith("_out")
                and "_block" not in layer.name]
    return [f"stage{i + 1}_out" for i in range(len(model_or_blocks))]


def build_resnet(blocks, channels, *, kernel_size=3, skip_kernel=1, pool_size=4, block_order="a",
                 activation="relu", activation_coef=None, l1=0.0, l2=0.0, bn_momentum=0.9,
                 bn_epsilon=1e-5, num_classes=10, input_shape=(32, 32, 3), name=None,
                 zero_init_residual=False, bn_scale=True, stem_channels=None) -> keras.Model:
    """Build a CIFAR ResNet of BasicBlocks as a Keras functional model that outputs logits.

    Stem: 3x3 conv (no bias) + BN + activation. Stage i holds `blocks[i]` residual
    units of width `channels[i]`; the first unit of every stage after the first has
    stride 2. Then average pooling of `pool_size`, flatten and a dense head (logits,
    no softmax). All arguments are validated before any TensorFlow op.

    Block orderings (He et al. 2016, Fig. 4), r the residual branch, s the shortcut:

        "a" original        conv-BN-act-conv-BN, add, act
        "b" bn_after_add    conv-BN-act-conv, add, BN, act
        "c" act_before_add  conv-BN-act-conv-BN-act, add
        "d" act_preact      act-conv-BN-act-conv-BN, add
        "e" full_preact     BN-act-conv-BN-act-conv, add (network ends with BN + act)

    Args:
        blocks: list of int, residual units per stage, e.g. [3, 3, 2, 3].
        channels: list of int, width per stage, same length as `blocks`.
        kernel_size: odd int, or one per stage. Default 3.
        skip_kernel: odd int, projection shortcut kernel. Default 1.
        pool_size: int, average-pooling window and stride before the head. Default 4.
        block_order: "a".."e" or its descriptive name. Default "a".
        activation: "relu", "relu6", "leaky_relu", "elu", "swish" or "silu". Default "relu".
        activation_coef: leaky_relu's slope (0.01), elu's alpha (1.0) or swish's beta
            (1.0); None takes the default. Default None.
        l1: float, L1 penalty on conv and dense kernels. Default 0.
        l2: float, L2 penalty on conv and dense kernels. Keras adds l2 * sum(w**2) to the
            loss, PyTorch's coupled `weight_decay=wd` adds wd / 2 * sum(w**2): use
            l2 = wd / 2 to reproduce it. Default 0.
        bn_momentum: float, Keras convention (0.9 equals PyTorch's 0.1). Default 0.9.
        bn_epsilon: float. Default 1e-5 (PyTorch's).
        num_classes: int >= 2. Default 10.
        input_shape: (height, width, channels). Default (32, 32, 3).
        name: model name. Default "resnet" plus the total depth.
        zero_init_residual: start every residual branch at zero, so each unit starts as its
            shortcut: the last BN's scale (orders a, c, d) or the last conv's kernel (b, e)
            is initialised to zero. Default False.
        bn_scale: False: BatchNorm without a learned scale (fixed at 1; offset kept), as
            in airbench. Default True.
        stem_channels: width of the stem convolution; None uses channels[0]. When it
            differs, stage 1's first unit projects its shortcut. Default None.

    Returns:
        A `keras.Model`; its stage outputs are the layers `stage_output_names(model)`.

    Example:
        >>> model = build_resnet(blocks=[3, 3, 2, 3], channels=[64, 128, 128, 256])
        >>> model.output_shape
        (None, 10)
    """
    spec = ResNetSpec.create(
        blocks, channels, kernel_size=kernel_size, skip_kernel=skip_kernel, pool_size=pool_size,
        block_order=block_order, activation=activation, activation_coef=activation_coef, l1=l1,
        l2=l2, bn_momentum=bn_momentum, bn_epsilon=bn_epsilon, num_classes=num_classes,
        input_shape=input_shape, name=name, zero_init_residual=zero_init_residual, bn_scale=bn_scale,
        stem_channels=stem_channels,
    )
    return build_from_spec(spec)


def build_from_spec(spec: ResNetSpec) -> keras.Model:
    """Build the network a validated `ResNetSpec` describes."""
    inputs = keras.Input(shape=spec.input_shape, name="images")
    x = conv(inputs, spec, spec.stem_channels or spec.channels[0], 3, 1, "stem_conv")
    x = activation(spec, "stem_act")(batch_norm(spec, "stem_bn")(x))
    for stage, (count, width) in enumerate(zip(spec.blocks, spec.channels)):
        for index in range(count):
            stride = 2 if stage > 0 and index == 0 else 1
            x = residual_unit(x, spec, width, spec.kernel_size[stage], stride,
                              f"stage{stage + 1}_block{index + 1}")
        x = keras.layers.Identity(name=f"stage{stage + 1}_out")(x)
    if spec.block_order == "e":
        x = activation(spec, "final_act")(batch_norm(spec, "final_bn")(x))
    x = keras.layers.AveragePooling2D(spec.pool_size, name="pool")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    logits = keras.layers.Dense(spec.num_classes, kernel_regularizer=regularizer(spec), name="logits")(x)
    depth = 2 + 2 * sum(spec.blocks)
    return keras.Model(inputs, logits, name=spec.name or f"resnet{depth}")


def load_model(path, **kwargs):
    """Load a `.keras` file written from a `build_resnet` model (its custom layers registered).

    Plain `keras.saving.load_model` works too once `keras_resnet_cifar.model` is imported.
    """
    return keras.saving.load_model(path, **kwargs)
