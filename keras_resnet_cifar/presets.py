"""Named network configurations (the study's Table 1), as data.

Each preset is a dict of `build_resnet` keyword arguments, so
`build_resnet(**PRESETS["resnet24"])` builds the study's final network.
"""

from keras_resnet_cifar.errors import UserError

PRESETS = {
    # Table 1 of the study; trainable parameters with block order "a".
    "resnet10": {"blocks": (1, 1, 1, 1), "channels": (64, 128, 256, 512)},  # 4,903,242
    "resnet16": {"blocks": (2, 1, 2, 2), "channels": (64, 128, 256, 256)},  # 4,909,642
    "resnet24": {"blocks": (3, 3, 2, 3), "channels": (64, 128, 128, 256)},  # 4,935,242
    "resnet48": {"blocks": (8, 5, 5, 5), "channels": (64, 128, 128, 128)},  # 4,994,378
    # Beyond the study: a quick CPU model and a model for unit tests.
    "small": {"blocks": (1, 1, 1, 1), "channels": (16, 32, 64, 128)},
    "tiny": {"blocks": (1, 1, 1, 1), "channels": (4, 8, 8, 16)},
}


def get_preset(name):
    """Return a copy of the preset `name`'s builder arguments, or raise a clear ValueError."""
    if name not in PRESETS:
        raise UserError(
            f"preset: received {name!r}; accepted: {', '.join(sorted(PRESETS))}. "
            "Or pass blocks=[...] and channels=[...] yourself."
        )
    return {key: list(value) for key, value in PRESETS[name].items()}
