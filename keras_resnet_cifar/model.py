"""`build_resnet`: the study's kuangliu-style BasicBlock ResNet as a Keras functional model."""
import os

import keras

from keras_resnet_cifar.blocks import residual_unit
from keras_resnet_cifar.files import check_keras_file
from keras_resnet_cifar.layers import PatchWhitening, Scale, activation, batch_norm, conv, regularizer
from keras_resnet_cifar.memory import available_bytes, check_fits
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

    The architecture and every option (its default, check and meaning) are `ResNetSpec`'s fields
    (spec.py); an unknown option is refused naming the accepted ones. The options are checked, and a
    network too large to build in the memory available refused, before any TensorFlow op.

    Args:
        blocks: list of int, residual units per stage. Default [3, 3, 2, 3] (ResNet24).
        channels: list of int, width per stage, same length as `blocks`. Default [64, 128, 128, 256].
        **options: any other field of `ResNetSpec`, e.g. `block_order="e"`, `activation="elu"`.

    Returns:
        A `keras.Model`; its stage outputs are the layers `stage_output_names(model)`.

    Example:
        >>> model = build_resnet(blocks=[3, 3, 2, 3], channels=[64, 128, 128, 256])
        >>> model.output_shape
        (None, 10)
    """
    spec = make_spec(blocks=blocks, channels=channels, **options)
    # The user API fails fast on an absurd width; build_from_spec itself only makes layers (train and the
    # tuner check training's memory, runtime.check_memory).
    check_fits(spec, available_bytes())
    return build_from_spec(spec)


def build_from_spec(spec: ResNetSpec) -> keras.Model:
    """The network a `ResNetSpec` describes, as layers and nothing else (no memory or device probing)."""
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


def load_model(path, what="model", **kwargs):
    """Load a `.keras` file written from a `build_resnet` model (its custom layers registered).

    A truncated or damaged file is a ValueError naming it (Keras itself says "File not found", which is
    false). Plain `keras.saving.load_model` works too once `keras_resnet_cifar.model` is imported.

    Args:
        path: the `.keras` file.
        what: what the file is, for the error, e.g. "best checkpoint". Default "model".
        **kwargs: passed to `keras.saving.load_model` (e.g. compile=False).
    """
    if os.path.isfile(path):  # a missing one keeps Keras's own message, which is true
        check_keras_file(path, what)
    return keras.saving.load_model(path, **kwargs)
