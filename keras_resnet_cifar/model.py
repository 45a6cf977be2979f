"""`build_resnet`: the study's kuangliu-style BasicBlock ResNet as a Keras functional model."""
import keras

from keras_resnet_cifar.blocks import residual_unit
from keras_resnet_cifar.layers import PatchWhitening, Scale, activation, batch_norm, conv, regularizer
from keras_resnet_cifar.memory import check_fits
from keras_resnet_cifar.spec import ResNetSpec, ends_with_bn, make_spec, stem_width, unit_stride


def stage_output_names(model_or_blocks):
    """Names of the layers holding each stage's output, e.g. ["stage1_out", ..., "stage4_out"].

    Accepts a model built by `build_resnet` or the `blocks` list it was built from.
    """
    if isinstance(model_or_blocks, keras.Model):
        return [layer.name for layer in model_or_blocks.layers
                if layer.name.startswith("stage") and layer.name.endswith("_out")
                and "_block" not in layer.name]
    return [f"stage{i + 1}_out" for i in range(len(model_or_blocks))]


def build_resnet(blocks=(3, 3, 2, 3), channels=(64, 128, 128, 256), **options) -> keras.Model:
    """Build a CIFAR ResNet of BasicBlocks as a Keras functional model that outputs logits.

    Stem: 3x3 conv (no bias) + BN + activation. Stage i holds `blocks[i]` residual
    units of width `channels[i]`; the first unit of every stage after the first has
    stride 2. Then average pooling of `pool_size`, flatten and a dense head (logits,
    no softmax). All arguments are checked (by `ResNetSpec`) before any TensorFlow op.

    Block orderings (He et al. 2016, Fig. 4), r the residual branch, s the shortcut:

        "a" original        conv-BN-act-conv-BN, add, act
        "b" bn_after_add    conv-BN-act-conv, add, BN, act
        "c" act_before_add  conv-BN-act-conv-BN-act, add
        "d" act_preact      act-conv-BN-act-conv-BN, add
        "e" full_preact     BN-act-conv-BN-act-conv, add (network ends with BN + act)

    Args:
        blocks: list of int, residual units per stage. Default [3, 3, 2, 3] (ResNet24).
        channels: list of int, width per stage, same length as `blocks`. Default [64, 128, 128, 256].
        **options: any other field of `ResNetSpec`, each with its default and meaning there:
            kernel_size (odd int or one per stage, 3), skip_kernel (1), pool_size (4), block_order
            ("a".."e" or its name, "a"), activation ("relu"), activation_coef (None: the activation's
            default), l1 (0), l2 (0; PyTorch's coupled weight_decay wd is l2 = wd / 2), bn_momentum
            (0.9, Keras convention: PyTorch's 0.1), bn_epsilon (1e-5), num_classes (10),
            input_shape ((32, 32, 3)), name (None: "resnet" plus the depth), and beyond the study:
            zero_init_residual (False: True starts every residual branch at zero, so each unit starts
            as its shortcut), bn_scale (True: False is BatchNorm without a learned scale, as in
            airbench), stem_channels (None: channels[0]).

    Returns:
        A `keras.Model`; its stage outputs are the layers `stage_output_names(model)`.

    Example:
        >>> model = build_resnet(blocks=[3, 3, 2, 3], channels=[64, 128, 128, 256])
        >>> model.output_shape
        (None, 10)
    """
    return build_from_spec(make_spec(blocks=blocks, channels=channels, **options))


def build_from_spec(spec: ResNetSpec) -> keras.Model:
    """Build the network a validated `ResNetSpec` describes (refused first if it cannot fit in memory)."""
    check_fits(spec)
    inputs = keras.Input(shape=spec.input_shape, name="images")
    x = _stem(inputs, spec)
    for stage, (count, width) in enumerate(zip(spec.blocks, spec.channels)):
        prefix = f"stage{stage + 1}"
        if spec.stage_kind == "convpool":
            x = _conv_pool_group(x, spec, width, spec.kernel_size[stage], prefix)
        for index in range(count):
            x = residual_unit(x, spec, width, spec.kernel_size[stage], unit_stride(spec, stage, index),
                              f"{prefix}_block{index + 1}")
        x = keras.layers.Identity(name=f"{prefix}_out")(x)
    if ends_with_bn(spec):
        x = activation(spec, "final_act")(batch_norm(spec, "final_bn")(x))
    pool = keras.layers.MaxPooling2D if spec.head == "maxpool" else keras.layers.AveragePooling2D
    x = pool(spec.pool_size, name="pool")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    logits = keras.layers.Dense(spec.num_classes, use_bias=spec.head_bias, kernel_regularizer=regularizer(spec),
                                name="logits")(x)
    if spec.output_scale != 1.0:
        logits = Scale(spec.output_scale, name="logits_scale")(logits)
    return keras.Model(inputs, logits, name=spec.name or _default_name(spec))


def _default_name(spec):
    if spec.stage_kind == "convpool":
        return f"convpool{1 + 2 * len(spec.blocks) + 2 * sum(spec.blocks) + (spec.stem == 'conv')}"
    return f"resnet{2 + 2 * sum(spec.blocks)}"


def _stem(inputs, spec):
    if spec.stem == "whiten":
        k = spec.whiten_kernel
        x = PatchWhitening(stem_width(spec), k, padding="valid", use_bias=True, name="stem_whiten")(inputs)
        return activation(spec, "stem_act")(x)
    x = conv(inputs, spec, stem_width(spec), 3, 1, "stem_conv")
    return activation(spec, "stem_act")(batch_norm(spec, "stem_bn")(x))


def _conv_pool_group(x, spec, width, kernel, name):
    """conv -> maxpool 2 -> BN -> act -> conv -> BN -> act: one airbench/ResNet-9 group, halving the size."""
    x = conv(x, spec, width, kernel, 1, f"{name}_conv1")
    x = keras.layers.MaxPooling2D(2, name=f"{name}_pool")(x)
    x = activation(spec, f"{name}_act1")(batch_norm(spec, f"{name}_bn1")(x))
    x = conv(x, spec, width, kernel, 1, f"{name}_conv2")
    return activation(spec, f"{name}_act2")(batch_norm(spec, f"{name}_bn2")(x))


def load_model(path, **kwargs):
    """Load a `.keras` file written from a `build_resnet` model (its custom layers registered).

    Plain `keras.saving.load_model` works too once `keras_resnet_cifar.model` is imported.
    """
    return keras.saving.load_model(path, **kwargs)
