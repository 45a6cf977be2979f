"""`ResNetHyperModel`: the search space as Keras Tuner hyperparameters, built and trained per trial."""
import keras
import keras_tuner

from keras_resnet_cifar.data import steps_per_epoch
from keras_resnet_cifar.training.callbacks import training_callbacks
from keras_resnet_cifar.training.runtime import check_memory, precision_policy
from keras_resnet_cifar.training.train import build_model, compile_model, fit_stem, make_datasets
from keras_resnet_cifar.tuning import dimensions


class ResNetHyperModel(keras_tuner.HyperModel):
    """Builds, compiles and trains the network a trial's hyperparameters describe.

    Settings that are not searched come from `config` (the trial's epochs and training subset
    included); the model and training are the `train` command's (`train.build_model`,
    `train.compile_model`, its whitening fit, data pipeline and `callbacks.training_callbacks`: the
    schedule, lookahead, EMA, divergence guard and early stopping).

    Args:
        space: the SearchSpace (its budget is checked again in `build`, as a backstop).
        config: TrainConfig of everything not searched.
        data: a `CifarData` with a non-empty validation split.

    Example:
        >>> hypermodel = ResNetHyperModel(SearchSpace.create(), TrainConfig(), data)
        >>> model = hypermodel.build(keras_tuner.HyperParameters())  # the space's default, ResNet24
    """

    def __init__(self, space, config, data):
        super().__init__(name="resnet_cifar")
        self.space, self.config, self.data = space, config, data

    def declare_hyperparameters(self, hp):
        declare(self.space, hp)

    def trial_config(self, hp):
        """The TrainConfig of the trial `hp` describes (registering the space in `hp` if new)."""
        return self.space.train_config(declare(self.space, hp), self.config)

    def build(self, hp):
        values = declare(self.space, hp)
        problem = self.space.violation(values)
        if problem:  # the feasible oracles never propose one; kept for hand-made hyperparameters
            raise keras_tuner.errors.FailedTrialError(f"over budget, not built: {problem}")
        config = self.space.train_config(values, self.config)
        keras.utils.set_random_seed(config.seed)
        policy = precision_policy(config.mixed_precision)
        try:  # a trial too large for memory fails before its weights are made, and the search goes on
            check_memory(config, policy)
        except ValueError as error:
            raise keras_tuner.errors.FailedTrialError(f"too large for memory, not built: {error}") from None
        model = build_model(config, policy)
        compile_model(model, config, steps_per_epoch(self.data.train, config.optim.batch_size))
        fit_stem(model, config, self.data)  # a Hyperband continuation then loads its parent's weights over it
        return model

    def fit(self, hp, model, *args, epochs=1, initial_epoch=0, callbacks=(), verbose=0, **kwargs):
        config = self.trial_config(hp)
        train, val, steps = make_datasets(config, self.data, initial_epoch)
        # train's own, first: a NaN/inf loss raises TrainingDiverged before Keras Tuner's callbacks save
        # the epoch, and they see the lookahead/EMA weights that validation saw.
        own, _ = training_callbacks(config, steps=steps, precision=precision_policy(config.mixed_precision))
        return model.fit(train, epochs=epochs, initial_epoch=initial_epoch, steps_per_epoch=steps,
                         validation_data=val, shuffle=False, callbacks=[*own, *callbacks], verbose=verbose)


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
    # Choices before ranges: the order of declaration is the order the oracles draw in, so a seeded
    # search proposes what it always did.
    for dim in sorted(dimensions.DIMENSIONS, key=lambda d: d.kind == dimensions.LOG_RANGE):
        choices = space.dimension_values[dim.field]
        if dim.kind == dimensions.CHOICE:
            values[dim.name] = _choice(hp, dim.name, choices, default[dim.name])
        elif choices[0] == choices[1]:
            values[dim.name] = hp.Fixed(dim.name, choices[0])
        else:
            values[dim.name] = hp.Float(dim.name, choices[0], choices[1], sampling="log", default=default[dim.name])
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
