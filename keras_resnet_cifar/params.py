"""Exact trainable-parameter and multiply-accumulate counts, computed without TensorFlow.

These follow `model.build_resnet` layer by layer, so a budget can be checked in
microseconds before anything is built (the tuner checks thousands per second).
Only trainable weights count: BatchNorm's moving mean and variance are not trained,
so Keras's `model.count_params()` reads 4 * width higher per BN than this.
"""
import dataclasses

from keras_resnet_cifar.spec import (ResNetSpec, ends_with_bn, make_spec, stage_sizes, stem_size, stem_width,
                                     unit_stride)


@dataclasses.dataclass(frozen=True)
class StageCount:
    """One row of the per-stage table: sizes, trainable parameters and MACs."""

    name: str
    blocks: int
    width: int
    output_size: tuple
    params: int
    macs: int


@dataclasses.dataclass(frozen=True)
class NetworkCount:
    """Per-part counts and totals of a network."""

    rows: tuple  # StageCount for the stem, each stage and the head
    trainable: int
    non_trainable: int
    macs: int


def _conv(k, cin, cout, out_hw):
    params = k * k * cin * cout
    return params, params * out_hw[0] * out_hw[1]


def count_network(spec: ResNetSpec) -> NetworkCount:
    """Count every part of the network that `spec` describes."""
    height, width, in_channels = spec.input_shape
    stem_hw = (stem_size(spec, height), stem_size(spec, width))
    heights = stage_sizes(stem_hw[0], len(spec.blocks), spec.stage_kind)
    widths = stage_sizes(stem_hw[1], len(spec.blocks), spec.stage_kind)
    rows, bn_channels = [], 0
    per_bn = 2 if spec.bn_scale else 1  # trainable weights per BN channel: scale and offset, or offset
    stem = stem_width(spec)

    if spec.stem == "whiten":  # kernel frozen (not trainable), bias trained
        k = spec.whiten_kernel
        stem_params, stem_macs = _conv(k, in_channels, stem, stem_hw)
        frozen, stem_params = stem_params, stem
    else:
        stem_params, stem_macs = _conv(3, in_channels, stem, stem_hw)
        stem_params += per_bn * stem
        bn_channels += stem
        frozen = 0
    rows.append(StageCount("stem", 0, stem, stem_hw, stem_params, stem_macs))

    cin, in_hw = stem, stem_hw
    for stage, (count, cout) in enumerate(zip(spec.blocks, spec.channels)):
        out_hw = (heights[stage], widths[stage])
        k = spec.kernel_size[stage]
        params = macs = 0
        if spec.stage_kind == "convpool":  # conv at the input size, pool, BN, act, conv, BN, act
            p1, m1 = _conv(k, cin, cout, in_hw)
            p2, m2 = _conv(k, cout, cout, out_hw)
            params += p1 + p2 + 2 * per_bn * cout
            macs += m1 + m2
            bn_channels += 2 * cout
            cin = cout
        for index in range(count):
            p1, m1 = _conv(k, cin, cout, out_hw)
            p2, m2 = _conv(k, cout, cout, out_hw)
            params += p1 + p2
            macs += m1 + m2
            # Every ordering has two BNs per unit: on the unit's output width, except the
            # full pre-activation's first BN, which normalizes the unit's input.
            first_bn = cin if spec.block_order == "e" else cout
            params += per_bn * (first_bn + cout)
            bn_channels += first_bn + cout
            if unit_stride(spec, stage, index) != 1 or cin != cout:
                ps, ms = _conv(spec.skip_kernel, cin, cout, out_hw)
                params += ps + per_bn * cout
                macs += ms
                bn_channels += cout
            cin = cout
        in_hw = out_hw
        rows.append(StageCount(f"stage{stage + 1}", count, cout, out_hw, params, macs))

    head_params = 0
    if ends_with_bn(spec):  # the network ends with BN + activation before pooling
        head_params += per_bn * cin
        bn_channels += cin
    pooled = [(s - spec.pool_size) // spec.pool_size + 1 for s in (heights[-1], widths[-1])]
    features = pooled[0] * pooled[1] * cin
    dense = features * spec.num_classes + (spec.num_classes if spec.head_bias else 0)
    head_params += dense
    rows.append(StageCount("head", 0, spec.num_classes, (1, 1), head_params, features * spec.num_classes))

    return NetworkCount(
        rows=tuple(rows),
        trainable=sum(r.params for r in rows),
        non_trainable=2 * bn_channels + frozen,
        macs=sum(r.macs for r in rows),
    )


def count_params(blocks, channels, **options) -> int:
    """Exact number of trainable parameters of `build_resnet(blocks, channels, **options)`.

    Args:
        blocks: residual units per stage, e.g. [3, 3, 2, 3].
        channels: width per stage, e.g. [64, 128, 128, 256].
        **options: any other `build_resnet` keyword argument (kernel_size, skip_kernel,
            pool_size, block_order, num_classes, input_shape, ...).

    Example:
        >>> count_params([3, 3, 2, 3], [64, 128, 128, 256])
        4935242
    """
    return count_network(make_spec(blocks=blocks, channels=channels, **options)).trainable


def count_macs(blocks, channels, **options) -> int:
    """Multiply-accumulates of one forward pass of one image (convolutions and the dense head).

    BatchNorm, activations, additions and pooling are not counted.

    Example:
        >>> count_macs([1, 1, 1, 1], [64, 128, 256, 512])
        253432832
    """
    return count_network(make_spec(blocks=blocks, channels=channels, **options)).macs
