"""The network's description: every builder option, its default, its check and its help, once.

`ResNetSpec` is the model config (`TrainConfig.model`): a frozen dataclass that checks
itself on construction and stores canonical values (aliases resolved, one kernel size per stage), so
the analytic counters (`params.py`), the builder (`model.py`), the tuner's budget check, config.json
and the CLI all see the same rules and the same messages. No TensorFlow here.
"""
import dataclasses
from typing import ClassVar

from keras_resnet_cifar.fields import (Bool, Choice, Config, Int, Optional, Real, Sequence, Text, flag_of,
                                       option, refuse)
from keras_resnet_cifar.presets import get_preset
from keras_resnet_cifar.errors import UserError, UserTypeError


@dataclasses.dataclass(frozen=True)
class BlockOrder:
    """One BN/activation ordering of a residual unit: its descriptive name, its layers (r the residual
    branch, s the shortcut) and a remark."""

    alias: str
    unit: str
    description: str = ""


# The orderings of He et al. 2016, "Identity Mappings", Fig. 4, by letter: the one table that the check,
# `--help`, the builder's docs and the table in docs/model.md (`block_order_table()`) read.
BLOCK_ORDERS = {
    "a": BlockOrder("original", "conv-BN-act-conv-BN, add, act"),
    "b": BlockOrder("bn_after_add", "conv-BN-act-conv, add, BN, act"),
    "c": BlockOrder("act_before_add", "conv-BN-act-conv-BN-act, add"),
    "d": BlockOrder("act_preact", "act-conv-BN-act-conv-BN, add"),
    "e": BlockOrder("full_preact", "BN-act-conv-BN-act-conv, add", "the network ends with BN + act"),
}

# Activation name -> (canonical name, default coefficient or None when it takes none).
ACTIVATIONS = {
    "relu": ("relu", None),
    "relu6": ("relu6", None),
    "leaky_relu": ("leaky_relu", 0.01),  # negative slope, PyTorch's default
    "elu": ("elu", 1.0),  # alpha
    "swish": ("swish", 1.0),  # beta in x * sigmoid(beta * x)
    "silu": ("swish", 1.0),
    "gelu": ("gelu", None),  # exact (erf) GELU, PyTorch's nn.GELU default; airbench's activation
}

# The two kinds of stage (`stage_kind`), and the two stems (`stem`).
STAGE_KINDS = {
    "residual": "residual units, the first of every stage after the first at stride 2 (the study's ResNets)",
    "convpool": "conv3x3 -> maxpool 2 -> BN -> act -> conv3x3 -> BN -> act, then `blocks` residual units "
                "(airbench: 0 each; ResNet-9: 1 after groups 1 and 3)",
}
STEMS = {
    "conv": "conv3x3 (no bias) -> BN -> act",
    "whiten": "patch whitening: a frozen kxk conv (valid padding, 2*3*k*k filters, with a trained bias) set from the "
              "eigenvectors of the training patches' covariance, then act (airbench)",
}
HEADS = ("avgpool", "maxpool")
CONV_INITS = ("he_normal", "dirac")

_ORDER = Choice(BLOCK_ORDERS, aliases={o.alias: k for k, o in BLOCK_ORDERS.items()},
                describe=", ".join(f"{k!r} ({o.alias!r})" for k, o in BLOCK_ORDERS.items()))
_ACTIVATION = Choice(sorted({c for c, _ in ACTIVATIONS.values()}),
                     aliases={k: c for k, (c, _) in ACTIVATIONS.items()}, describe=", ".join(map(repr, ACTIVATIONS)))
class _Odd(Int):
    def __init__(self):
        super().__init__(1)
        self.accepted = "an odd positive integer such as 1, 3 or 5 (even kernels pad asymmetrically)"

    def __call__(self, value, path, flag=None):
        value = super().__call__(value, path, flag)
        if value % 2 == 0:
            refuse(path, value, self.accepted, flag)
        return value


def block_order_table():
    """The Markdown table of `BLOCK_ORDERS` that docs/model.md shows (a test keeps the two equal)."""
    rows = [f"| {k} | {o.alias} | {o.unit}{'; ' + o.description if o.description else ''} |"
            for k, o in BLOCK_ORDERS.items()]
    return "\n".join(["| order | name | unit |", "|---|---|---|", *rows])


def resolve_block_order(value):
    """Map "a".."e" or a descriptive name to its letter, or raise a clear ValueError."""
    return _ORDER(value, "block_order", flag_of("block_order"))


def resolve_activation(name, coef=None):
    """Return (canonical activation name, coefficient), or raise a clear error."""
    canonical = _ACTIVATION(name, "activation", flag_of("activation"))
    default = ACTIVATIONS[canonical][1]
    if coef is None:
        return canonical, default
    if default is None:
        raise UserError(
            f"activation_coef: received {coef!r} for {canonical!r}, which takes no coefficient; "
            "accepted: None, or a coefficient with leaky_relu (slope), elu (alpha) or swish (beta) (--activation-coef)")
    coef = Real("a finite number, or null")(coef, "activation_coef", "--activation-coef")
    if canonical in ("elu", "swish") and coef <= 0:
        raise UserError(f"activation_coef: received {coef!r} for {canonical!r}; accepted: a number > 0")
    return canonical, coef


def stage_sizes(size, num_stages, kind="residual"):
    """Spatial size after each stage. Residual stages: stage 1 keeps it, every later one halves it
    (rounding up, a stride-2 conv padded by one). Conv-pool groups: each halves it (rounding down,
    a 2x2 max pool)."""
    if kind == "convpool":
        sizes = [size // 2]
        for _ in range(1, num_stages):
            sizes.append(sizes[-1] // 2)
        return sizes
    sizes = [size]
    for _ in range(1, num_stages):
        sizes.append(-(-sizes[-1] // 2))
    return sizes


def stem_size(spec, size):
    """Spatial size after the stem: kept by the padded conv3x3, size - k + 1 after the valid whitening conv."""
    return size - spec.whiten_kernel + 1 if spec.stem == "whiten" else size


def stem_width(spec):
    """Channels out of the stem: 2 * c * k * k for whitening (each eigenvector and its negative), else
    `stem_channels` or channels[0]."""
    if spec.stem == "whiten":
        return 2 * spec.input_shape[2] * spec.whiten_kernel ** 2
    return spec.stem_channels or spec.channels[0]


def unit_stride(spec, stage, index):
    """Stride of unit `index` of stage `stage` (both 0-based): 2 for the first unit of every residual stage
    after the first, else 1 (conv-pool groups halve the size by their pool, their units keep it)."""
    return 2 if spec.stage_kind == "residual" and stage > 0 and index == 0 else 1


def ends_with_bn(spec):
    """Whether the network ends with BN + act before the head: full pre-activation units (order e) leave
    their sum unnormalized, so the last unit needs them."""
    return spec.block_order == "e" and sum(spec.blocks) > 0


@dataclasses.dataclass(frozen=True)
class ResNetSpec(Config):
    """The network `build_resnet` builds: every option, its default, check and help (`--help`).

    Stem: 3x3 conv (no bias) + BN + activation (or, `stem="whiten"`, a frozen patch-whitening conv).
    Stage i holds `blocks[i]` residual units of width `channels[i]` in the ordering `block_order`
    (`BLOCK_ORDERS`); the first unit of every residual stage after the first has stride 2
    (`stage_kind="convpool"`: each stage is first a conv-pool group that halves the size). Then
    pooling of `pool_size`, flatten and a dense head that outputs logits (no softmax).

    Example:
        >>> ResNetSpec(block_order="full_preact", kernel_size=3).block_order, ResNetSpec().kernel_size
        ('e', (3, 3, 3, 3))
    """

    PATH: ClassVar[str] = "model"

    blocks: tuple = option((3, 3, 2, 3), Sequence(Int(0)), "residual units per stage, e.g. 3 3 2 3 (>= 1 each "
                           "for residual stages; after each group for conv-pool stages, e.g. 0 0 0)")
    channels: tuple = option((64, 128, 128, 256), Sequence(Int(1)), "width per stage, e.g. 64 128 128 256")
    kernel_size: tuple = option(3, Sequence(_Odd(), scalar_ok=True, what="an odd integer, or one per stage"),
                                "odd kernel size, one or one per stage")
    skip_kernel: int = option(1, _Odd(), "projection shortcut kernel")
    pool_size: int = option(4, Int(1), "average pooling window and stride before the head")
    block_order: str = option("a", _ORDER, "BN/activation ordering of the residual units, a letter or its name: "
                              + "; ".join(f"{k} {o.alias}: {o.unit}" for k, o in BLOCK_ORDERS.items()))
    activation: str = option("relu", _ACTIVATION, ", ".join(ACTIVATIONS))
    activation_coef: float | None = option(None, Optional(Real("a finite number")),
                                           "leaky_relu slope, elu alpha or swish beta; none: the activation's "
                                           "own (0.01, 1.0, 1.0)")
    l1: float = option(0.0, Real("a number >= 0", lambda v: v >= 0), "L1 penalty on conv/dense kernels")
    l2: float = option(0.0, Real("a number >= 0", lambda v: v >= 0),
                       "L2 penalty on kernels; in training, added to --weight-decay's coupled wd / 2")
    bn_momentum: float = option(0.9, Real("a number in [0, 1) (Keras convention: 0.9 is PyTorch's 0.1)",
                                          lambda v: 0 <= v < 1), "BN moving-average momentum")
    bn_epsilon: float = option(1e-5, Real("a number > 0", lambda v: v > 0), "BN epsilon")
    num_classes: int = option(10, Int(2), "outputs of the head")
    input_shape: tuple = option((32, 32, 3), Sequence(Int(1), length=3, what="(height, width, channels), e.g. 32 32 3"),
                                "height width channels")
    name: str | None = option(None, Optional(Text()), "model name; none: resnet + depth")
    # Beyond the study, for accuracy per FLOP (the `fast` recipe); the defaults build the study's network.
    zero_init_residual: bool = option(False, Bool(), "start every residual branch at zero, so each unit starts as "
                                      "its shortcut: the last BN's scale (orders a, c, d) or the last conv (b, e)")
    bn_scale: bool = option(True, Bool(), "learned BN scale; --no-bn-scale fixes it at 1 (offset kept), as in "
                                          "airbench")
    stem_channels: int | None = option(None, Optional(Int(1)), "width of the stem convolution (none: channels[0]; "
                                       "another width gives stage 1's first unit a projection shortcut)")
    # The CIFAR-10 time-to-accuracy records' family (KellerJordan/cifar10-airbench, Page 2018's ResNet-9).
    stem: str = option("conv", Choice(STEMS), "; ".join(f"{k}: {v}" for k, v in STEMS.items()))
    whiten_kernel: int = option(2, Int(1), "whitening stem: patch size k")
    stage_kind: str = option("residual", Choice(STAGE_KINDS), "; ".join(f"{k}: {v}" for k, v in STAGE_KINDS.items()))
    head: str = option("avgpool", Choice(HEADS), "pooling before the dense head, window and stride pool_size "
                                                 "(airbench: maxpool 3)")
    head_bias: bool = option(True, Bool(), "bias in the dense head (airbench: none)")
    output_scale: float = option(1.0, Real("a number > 0", lambda v: v > 0), "factor on the logits (airbench: 1/9)")
    conv_init: str = option("he_normal", Choice(CONV_INITS), "convolution kernels: he_normal, or dirac: PyTorch's "
                            "default uniform(+-1/sqrt(fan_in)) with the first min(in, out) filters the identity "
                            "(airbench)")

    def validate(self):
        blocks, channels = self.blocks, self.channels
        if self.stage_kind == "residual" and min(blocks, default=1) < 1:
            raise UserError(f"model.blocks: received {list(blocks)}; accepted: >= 1 unit per residual stage (0 is "
                             "accepted with stage_kind 'convpool', whose groups need no unit) (--blocks)")
        if self.stem == "whiten" and self.stem_channels is not None:
            raise UserError(f"model.stem_channels: received {self.stem_channels!r} with stem 'whiten', whose width "
                             "is 2 * channels * k * k; accepted: null with that stem (--stem-channels, --stem)")
        if self.stem == "whiten" and self.whiten_kernel >= min(self.input_shape[:2]):
            raise UserError(f"model.whiten_kernel: received {self.whiten_kernel} for images "
                             f"{list(self.input_shape)}; accepted: smaller than the image (--whiten-kernel)")
        if len(blocks) != len(channels):
            raise UserError(
                f"model.blocks and model.channels: received {len(blocks)} and {len(channels)} entries "
                f"({list(blocks)} / {list(channels)}); accepted: one entry per stage in each, same length")
        kernels = self.kernel_size if isinstance(self.kernel_size, tuple) else (self.kernel_size,)
        if len(set(kernels)) == 1:  # one size for every stage, however many stages there are
            kernels = kernels[:1] * len(blocks)
        if len(kernels) != len(blocks):
            raise UserError(f"model.kernel_size: received {list(kernels)} ({len(kernels)} entries) for {len(blocks)} "
                             "stages; accepted: one odd integer, or one per stage (--kernel-size)")
        object.__setattr__(self, "kernel_size", kernels)
        object.__setattr__(self, "activation_coef", resolve_activation(self.activation, self.activation_coef)[1])
        for axis, size in zip(("height", "width"), self.input_shape[:2]):
            final = stage_sizes(stem_size(self, size), len(blocks), self.stage_kind)[-1]
            if final < self.pool_size:
                halvings = len(blocks) - (self.stage_kind == "residual")
                raise UserError(
                    f"model.input_shape: received {list(self.input_shape)}: its {axis} {size} shrinks to {final} "
                    f"after the stem and {len(blocks)} stages ({halvings} halving it), smaller than pool_size="
                    f"{self.pool_size}; accepted: a larger {axis}, fewer stages, or a smaller pool_size")
        if self.zero_init_residual and not self.bn_scale and self.block_order in ("a", "c", "d"):
            raise UserError(
                f"model.zero_init_residual: block order {self.block_order!r} ends each residual branch with a BN, "
                "whose learned scale is what starts at zero, but bn_scale is False; accepted: bn_scale true, or "
                "block order 'b' or 'e' (their branch ends with a convolution, which then starts at zero)")

    @classmethod
    def from_preset(cls, name, **overrides):
        """The preset `name` (presets.py) with `overrides`, e.g. `ResNetSpec.from_preset("tiny", l1=1e-5)`."""
        return cls(**{**get_preset(name), **overrides})


def make_spec(**options) -> ResNetSpec:
    """`ResNetSpec(**options)`, refusing an unknown option by name beside the accepted ones."""
    accepted = {f.name for f in dataclasses.fields(ResNetSpec)}
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise UserTypeError(f"build_resnet: received unknown options {unknown}; accepted: {sorted(accepted)}")
    return ResNetSpec(**options)
