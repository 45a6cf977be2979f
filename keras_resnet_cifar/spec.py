"""The checked description of a network: every builder argument, validated once.

`ResNetSpec.create(...)` validates the builder's arguments without touching
TensorFlow, so the analytic counters (`params.py`), the builder (`model.py`) and
the tuner's budget check all see the same rules and the same error messages.
"""
import dataclasses
import math
import numbers

# One ordering per residual unit of He et al. 2016, "Identity Mappings", Fig. 4.
BLOCK_ORDERS = {
    "a": "original",
    "b": "bn_after_add",
    "c": "act_before_add",
    "d": "act_preact",
    "e": "full_preact",
}
_ORDER_ALIASES = {**{k: k for k in BLOCK_ORDERS}, **{v: k for k, v in BLOCK_ORDERS.items()}}

# Activation name -> (canonical name, default coefficient or None when it takes none).
ACTIVATIONS = {
    "relu": ("relu", None),
    "relu6": ("relu6", None),
    "leaky_relu": ("leaky_relu", 0.01),  # negative slope, PyTorch's default
    "elu": ("elu", 1.0),  # alpha
    "swish": ("swish", 1.0),  # beta in x * sigmoid(beta * x)
    "silu": ("swish", 1.0),
}


def _accepted(values):
    return ", ".join(repr(v) for v in values)


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _int_list(name, value, *, minimum=1):
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
        raise TypeError(f"{name}: received {value!r}; accepted: a non-empty list of integers >= {minimum}")
    items = list(value)
    if not items:
        raise ValueError(f"{name}: received an empty list; accepted: a non-empty list of integers >= {minimum}")
    for item in items:
        if not _is_int(item):
            raise TypeError(f"{name}: received {value!r} (item {item!r} is {type(item).__name__}); accepted: integers >= {minimum}")
        if item < minimum:
            raise ValueError(f"{name}: received {value!r} (item {item!r}); accepted: integers >= {minimum}")
    return tuple(int(i) for i in items)


def _odd_kernel(name, value):
    if not _is_int(value):
        raise TypeError(f"{name}: received {value!r} ({type(value).__name__}); accepted: an odd positive integer such as 1, 3 or 5")
    if value < 1 or value % 2 == 0:
        raise ValueError(f"{name}: received {value!r}; accepted: an odd positive integer such as 1, 3 or 5 (even kernels pad asymmetrically)")
    return int(value)


def _non_negative(name, value):
    if not _is_real(value):
        raise TypeError(f"{name}: received {value!r} ({type(value).__name__}); accepted: a number >= 0")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name}: received {value!r}; accepted: a finite number >= 0")
    return float(value)


def resolve_block_order(value):
    """Map "a".."e" or a descriptive name to its letter, or raise a clear ValueError."""
    if not isinstance(value, str) or value.lower() not in _ORDER_ALIASES:
        raise ValueError(
            f"block_order: received {value!r}; accepted: "
            + ", ".join(f"{k!r} ({v!r})" for k, v in BLOCK_ORDERS.items())
        )
    return _ORDER_ALIASES[value.lower()]


def resolve_activation(name, coef=None):
    """Return (canonical activation name, coefficient), or raise a clear error."""
    if not isinstance(name, str) or name.lower() not in ACTIVATIONS:
        raise ValueError(f"activation: received {name!r}; accepted: {_accepted(ACTIVATIONS)}")
    canonical, default = ACTIVATIONS[name.lower()]
    if coef is None:
        return canonical, default
    if default is None:
        raise ValueError(
            f"activation_coef: received {coef!r} for {canonical!r}, which takes no coefficient; "
            "accepted: None, or a coefficient with leaky_relu (slope), elu (alpha) or swish (beta)"
        )
    if not _is_real(coef) or not math.isfinite(coef):
        raise TypeError(f"activation_coef: received {coef!r}; accepted: a finite number or None")
    if canonical in ("elu", "swish") and coef <= 0:
        raise ValueError(f"activation_coef: received {coef!r} for {canonical!r}; accepted: a number > 0")
    return canonical, float(coef)


def stage_sizes(size, num_stages):
    """Spatial size after each stage: stage 1 keeps it, every later one halves it (rounding up)."""
    sizes = [size]
    for _ in range(1, num_stages):
        sizes.append(-(-sizes[-1] // 2))
    return sizes


@dataclasses.dataclass(frozen=True)
class ResNetSpec:
    """Validated builder arguments; see `build_resnet` for their meaning."""

    blocks: tuple
    channels: tuple
    kernel_size: tuple  # one odd size per stage
    skip_kernel: int = 1
    pool_size: int = 4
    block_order: str = "a"
    activation: str = "relu"
    activation_coef: float | None = None
    l1: float = 0.0
    l2: float = 0.0
    bn_momentum: float = 0.9
    bn_epsilon: float = 1e-5
    num_classes: int = 10
    input_shape: tuple = (32, 32, 3)
    name: str | None = None
    # Options for accuracy per FLOP (issue 10); the defaults build the study's network.
    zero_init_residual: bool = False
    bn_scale: bool = True
    stem_channels: int | None = None

    @classmethod
    def create(cls, blocks, channels, *, kernel_size=3, skip_kernel=1, pool_size=4, block_order="a",
               activation="relu", activation_coef=None, l1=0.0, l2=0.0, bn_momentum=0.9,
               bn_epsilon=1e-5, num_classes=10, input_shape=(32, 32, 3), name=None,
               zero_init_residual=False, bn_scale=True, stem_channels=None):
        """Validate every argument (no TensorFlow op) and return the resolved spec."""
        blocks = _int_list("blocks", blocks)
        channels = _int_list("channels", channels)
        if len(blocks) != len(channels):
            raise ValueError(
                f"blocks and channels: received {len(blocks)} and {len(channels)} entries "
                f"({list(blocks)} / {list(channels)}); accepted: one entry per stage in each, same length"
            )
        if _is_int(kernel_size):
            kernels = (_odd_kernel("kernel_size", kernel_size),) * len(blocks)
        else:
            kernels = _int_list("kernel_size", kernel_size)
            if len(kernels) != len(blocks):
                raise ValueError(
                    f"kernel_size: received {list(kernels)} ({len(kernels)} entries) for {len(blocks)} stages; "
                    "accepted: one odd integer, or one per stage"
                )
            kernels = tuple(_odd_kernel("kernel_size", k) for k in kernels)
        skip_kernel = _odd_kernel("skip_kernel", skip_kernel)
        if not _is_int(pool_size) or pool_size < 1:
            raise (TypeError if not _is_int(pool_size) else ValueError)(
                f"pool_size: received {pool_size!r}; accepted: an integer >= 1")
        order = resolve_block_order(block_order)
        activation, activation_coef = resolve_activation(activation, activation_coef)
        l1 = _non_negative("l1", l1)
        l2 = _non_negative("l2", l2)
        if not _is_real(bn_momentum) or not 0.0 <= bn_momentum < 1.0:
            raise ValueError(f"bn_momentum: received {bn_momentum!r}; accepted: a number in [0, 1) (Keras convention: 0.9 is PyTorch's 0.1)")
        if not _is_real(bn_epsilon) or not bn_epsilon > 0:
            raise ValueError(f"bn_epsilon: received {bn_epsilon!r}; accepted: a number > 0")
        if not _is_int(num_classes):
            raise TypeError(f"num_classes: received {num_classes!r} ({type(num_classes).__name__}); accepted: an integer >= 2")
        if num_classes < 2:
            raise ValueError(f"num_classes: received {num_classes!r}; accepted: an integer >= 2")
        input_shape = _int_list("input_shape", input_shape)
        if len(input_shape) != 3:
            raise ValueError(f"input_shape: received {list(input_shape)}; accepted: (height, width, channels), e.g. (32, 32, 3)")
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name: received {name!r}; accepted: a string or None")
        for axis, size in zip(("height", "width"), input_shape[:2]):
            final = stage_sizes(size, len(blocks))[-1]
            if final < pool_size:
                raise ValueError(
                    f"input_shape: received {list(input_shape)}: its {axis} {size} shrinks to {final} after "
                    f"{len(blocks)} stages ({len(blocks) - 1} of stride 2), smaller than pool_size={pool_size}; "
                    f"accepted: a {axis} of at least {pool_size * 2 ** (len(blocks) - 1)}, fewer stages, or a smaller pool_size"
                )
        zero_init_residual, bn_scale, stem_channels = _fast_options(
            zero_init_residual, bn_scale, stem_channels, order)
        return cls(blocks, channels, kernels, skip_kernel, int(pool_size), order, activation,
                   activation_coef, l1, l2, float(bn_momentum), float(bn_epsilon), int(num_classes),
                   input_shape, name, zero_init_residual, bn_scale, stem_channels)


def _fast_options(zero_init_residual, bn_scale, stem_channels, order):
    """Validate the builder options of issue 10 (zero-init residual, BN scale, stem width)."""
    for flag, value in (("zero_init_residual", zero_init_residual), ("bn_scale", bn_scale)):
        if not isinstance(value, bool):
            raise TypeError(f"{flag}: received {value!r} ({type(value).__name__}); accepted: True or False")
    if stem_channels is not None:
        if not _is_int(stem_channels):
            raise TypeError(f"stem_channels: received {stem_channels!r} ({type(stem_channels).__name__}); "
                            "accepted: an integer >= 1, or None for channels[0]")
        if stem_channels < 1:
            raise ValueError(f"stem_channels: received {stem_channels!r}; accepted: an integer >= 1, or None for channels[0]")
        stem_channels = int(stem_channels)
    if zero_init_residual and not bn_scale and order in ("a", "c", "d"):
        raise ValueError(
            f"zero_init_residual: block order {order!r} ends each residual branch with a BN, whose learned "
            "scale is what starts at zero, but bn_scale is False; accepted: bn_scale=True, or block order "
            "'b' or 'e' (their branch ends with a convolution, which then starts at zero)")
    return zero_init_residual, bn_scale, stem_channels
