"""`ResNetHyperModel`: the search space as Keras Tuner hyperparameters, built and trained per trial."""
import keras
import keras_tuner

from keras_resnet_cifar.tuning.space import SearchSpace


def declare(space, hp):
    """Register `space`'s hyperparameters in `hp` and return the active values (defaults if unset).

    Args:
        space: a SearchSpace.
        hp: a `keras_tuner.HyperParameters`.

    Returns:
        dict: hyperparameter name -> value, active ones only.

    Example:
        >>> declare(SearchSpace.create(), keras_tuner.HyperParameters())["stages"]
        4
    """
    default = space.default
    values = {"stages": _choice(hp, "stages", space.stages, default["stages"])}
    for i in range(1, max(space.stages) + 1):
        scope = {} if i <= min(space.stages) else {
            "parent_name": "stages", "parent_values": [s for s in space.stages if s >= i]}
        blocks = _int(hp, f"blocks_{i}", space.blocks, default.get(f"blocks_{i}", space.blocks[0]), scope)
        channels = _choice(hp, f"channels_{i}", space.widths, default.get(f"channels_{i}", space.widths[0]), scope)
        if i <= values["stages"]:
            values[f"blocks_{i}"], values[f"channels_{i}"] = blocks, channels
    for name, choices in (("kernel_size", space.kernel_sizes), ("block_order", space.block_orders),
                          ("activation", space.activations), ("optimizer", space.optimizers),
                          ("mixup_alpha", space.mixup_alpha)):
        values[name] = _choice(hp, name, choices, default[name])
    for name, bounds in (("lr", space.lr), ("weight_decay", space.weight_decay)):
        if bounds[0] == bounds[1]:
            values[name] = hp.Fixed(name, bounds[0])
        else:
            values[name] = hp.Float(name, bounds[0], bounds[1], sampling="log", default=default[name])
    return values


def space_hyperparameters(space):
    """A `keras_tuner.HyperParameters` holding `space`, for an oracle's `hyperparameters=`."""
    hp = keras_tuner.HyperParameters()
    declare(space, hp)
    return hp


def _choice(hp, name, choices, default, scope=None):
    if len(choices) == 1:
        return hp.Fixed(name, choices[0], **(scope or {}))
    return hp.Choice(name, list(choices), default=default, **(scope or {}))


def _int(hp, name, bounds, default, scope):
    if bounds[0] == bounds[1]:
        return hp.Fixed(name, bounds[0], **scope)
    return hp.Int(name, bounds[0], bounds[1], default=default, **scope)
