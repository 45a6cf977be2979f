"""A network too large for memory is refused before it is built, with the estimate and what is free.

The estimate comes from the analytic counter (`params.count_network`), no TensorFlow op:

    weights      4 B x (trainable + non-trainable parameters): variables stay float32 under
                 mixed precision
    build        2 x weights: the variables plus the initializers' temporaries
    training     weights x (2 + optimizer slots: sgd 0, sgd/sgdn momentum 1, adagrad 1,
                 adadelta/adam/adamw 2), the 2 being weights and gradients, plus activations:
                 batch x the values one image's forward pass keeps for the backward pass x bytes
                 per value (4, or 2 under mixed precision). Kept per unit: 4 tensors of its
                 output size (each conv's output, which its BN needs; the first activation's
                 output, which the second conv needs; the unit's output); a projection
                 shortcut 1 more; the stem 2

These are lower bounds (no workspace, no prefetch, no framework overhead), so a refusal is
certain to be right: a model is refused only when the bound exceeds the memory available
(MemAvailable in /proc/meminfo, else free physical pages). With a GPU visible the activations
live in GPU memory, which this does not check; the weights bound still applies (they are
saved through host memory).
"""
import os

from keras_resnet_cifar.params import count_network

_SLOTS = {"sgd": 0, "sgdn": 1, "adagrad": 1, "adadelta": 2, "adam": 2, "adamw": 2}


def estimate_bytes(spec, *, batch_size=None, optimizer=None, momentum=0.9, activation_bytes=4):
    """Lower bounds of the memory `spec`'s network needs: {"weights", "build", "training"} in bytes.

    Args:
        spec: a `ResNetSpec`.
        batch_size: images per step; None leaves "training" out.
        optimizer: the optimizer's name (see `_SLOTS`). Default None: no slots.
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
        slots = _SLOTS.get(optimizer, 0) if not (optimizer in ("sgd", "sgdn") and not momentum) else 0
        found["training"] = weights * (2 + slots) + batch_size * activation_floats(spec, count) * activation_bytes
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


def check_fits(spec, *, batch_size=None, optimizer=None, momentum=0.9, activation_bytes=4, available=None):
    """Raise ValueError when `spec`'s network cannot fit in memory (build, or training at `batch_size`).

    Args:
        spec: a `ResNetSpec`.
        batch_size, optimizer, momentum, activation_bytes: see `estimate_bytes`; without
            `batch_size` only building is checked.
        available: bytes free; default `available_bytes()` (unknown: nothing is checked).
    """
    available = available_bytes() if available is None else available
    if not available:
        return
    need = estimate_bytes(spec, batch_size=batch_size, optimizer=optimizer, momentum=momentum,
                          activation_bytes=activation_bytes)
    if batch_size is not None and _gpu_visible():
        need.pop("training")
    stage, needed = ("training", need["training"]) if "training" in need else ("building", need["build"])
    if needed <= available:
        return
    count = count_network(spec)
    batch = f" at batch size {batch_size}" if stage == "training" else ""
    raise ValueError(
        f"model: blocks {list(spec.blocks)}, channels {list(spec.channels)} has "
        f"{count.trainable + count.non_trainable:,} parameters ({_gib(need['weights'])} of weights); {stage} it"
        f"{batch} needs at least {_gib(needed)}, but {_gib(available)} of memory is available. "
        f"Fix: narrower --channels or fewer --blocks{', or a smaller --batch-size' if batch else ''}")


def _gpu_visible():
    from keras_resnet_cifar.training.runtime import accelerators  # on the backend in use, TF or not

    return bool(accelerators())


def _gib(value):
    return f"{value / 2**30:,.1f} GiB" if value >= 2**30 else f"{value / 2**20:,.1f} MiB"
