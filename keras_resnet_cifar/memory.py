"""A network too large for memory is refused before it is built, with the estimate and what is free.

The estimate comes from the analytic counter (`params.count_network`), no TensorFlow op:

    weights      4 B x (trainable + non-trainable parameters): variables stay float32 under
                 mixed precision
    build        2 x weights: the variables plus the initializers' temporaries
    training     weights x (2 + the optimizer's slots per weight, `optimizer_table.slots`), the 2
                 being weights and gradients, plus activations:
                 batch x the values one image's forward pass keeps for the backward pass x bytes
                 per value (4, or 2 under mixed precision). Kept per unit: 4 tensors of its
                 output size (each conv's output, which its BN needs; the first activation's
                 output, which the second conv needs; the unit's output); a projection
                 shortcut 1 more; the stem 2

These are lower bounds (no workspace, no prefetch, no framework overhead), so a refusal is
certain to be right: a model is refused only when the bound exceeds the memory available
(`available_bytes()`: MemAvailable in /proc/meminfo, else free physical pages), which the caller
reads and passes in: `check_fits` is arithmetic only. With a GPU the activations live in GPU
memory, which this does not check; the weights bound still applies (they are saved through
host memory).
"""
import os

from keras_resnet_cifar.optimizer_table import slots
from keras_resnet_cifar.params import count_network
from keras_resnet_cifar.errors import UserError


def estimate_bytes(spec, *, batch_size=None, optimizer=None, momentum=0.9, activation_bytes=4):
    """Lower bounds of the memory `spec`'s network needs: {"weights", "build", "training"} in bytes.

    Args:
        spec: a `ResNetSpec`.
        batch_size: images per step; None leaves "training" out.
        optimizer: the optimizer's name (its slots: `optimizer_table.slots`). Default None: no slots.
        momentum: sgd with momentum 0 keeps no slot. Default 0.9.
        activation_bytes: 4 (float32) or 2 (mixed precision). Default 4.

    Example:
        >>> estimate_bytes(ResNetSpec(blocks=(1,), channels=(100_000,)))["build"] / 2**30
        1341.6...
    """
    count = count_network(spec)
    weights = 4 * (count.trainable + count.non_trainable)
    found = {"weights": weights, "build": 2 * weights}
    if batch_size is not None:
        kept = slots(optimizer, momentum) if optimizer is not None else 0
        found["training"] = weights * (2 + kept) + batch_size * activation_floats(spec, count) * activation_bytes
    return found


def activation_floats(spec, count=None):
    """Floats one image's forward pass keeps for the backward pass (the module's formula); `count` is
    `count_network(spec)` when the caller has it."""
    rows = (count or count_network(spec)).rows
    stem = rows[0]
    total = 2 * stem.output_size[0] * stem.output_size[1] * stem.width
    cin = stem.width
    for index, row in enumerate(rows[1:-1]):
        size = row.output_size[0] * row.output_size[1] * row.width
        total += 4 * size * row.blocks
        if index > 0 or cin != row.width:  # the first unit projects its shortcut
            total += size
        cin = row.width
    return total


def available_bytes():
    """Memory this process can still take: MemAvailable of /proc/meminfo, else free pages; None if unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_fits(spec, available, *, batch_size=None, optimizer=None, momentum=0.9, activation_bytes=4,
               accelerator=False):
    """Raise ValueError when `spec`'s network cannot fit in `available` bytes (build, or training at `batch_size`).

    Args:
        spec: a `ResNetSpec`.
        available: bytes free, e.g. `available_bytes()`; None or 0 (unknown): nothing is checked.
        batch_size, optimizer, momentum, activation_bytes: see `estimate_bytes`; without
            `batch_size` only building is checked.
        accelerator: whether training runs on a GPU, whose memory holds the activations (then only
            building is checked against `available`).

    Example:
        >>> check_fits(ResNetSpec(blocks=(1,), channels=(100_000,)), 16 * 2**30)
        Traceback (most recent call last):
        ValueError: model: blocks [1], channels [100000] has 180,067,900,010 parameters ...
    """
    if not available:
        return
    need = estimate_bytes(spec, batch_size=batch_size, optimizer=optimizer, momentum=momentum,
                          activation_bytes=activation_bytes)
    if batch_size is not None and accelerator:
        need.pop("training")
    stage, needed = ("training", need["training"]) if "training" in need else ("building", need["build"])
    if needed <= available:
        return
    count = count_network(spec)
    batch = f" at batch size {batch_size}" if stage == "training" else ""
    raise UserError(
        f"model: blocks {list(spec.blocks)}, channels {list(spec.channels)} has "
        f"{count.trainable + count.non_trainable:,} parameters ({_gib(need['weights'])} of weights); {stage} it"
        f"{batch} needs at least {_gib(needed)}, but {_gib(available)} of memory is available. "
        f"Fix: narrower --channels or fewer --blocks{', or a smaller --batch-size' if batch else ''}")


def _gib(value):
    return f"{value / 2**30:,.1f} GiB" if value >= 2**30 else f"{value / 2**20:,.1f} MiB"
