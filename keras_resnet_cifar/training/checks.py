"""Checks of a `TrainConfig` run before any training, so a bad value fails in seconds, not hours.

Every error says what was received, what is accepted, and the flag that sets it.
"""
import math

from keras_resnet_cifar.training.optimizers import OPTIMIZERS
from keras_resnet_cifar.training.runtime import PRECISIONS, STRATEGIES, SWITCHES
from keras_resnet_cifar.training.schedules import SCHEDULES


def check_config(config):
    """Raise ValueError on the first invalid value of `config` (no data needed)."""
    from keras_resnet_cifar.spec import ResNetSpec

    o, d = config.optim, config.data
    ResNetSpec.create(**config.model.builder_kwargs())  # the builder's own checks, without TensorFlow
    _choice("optimizer", o.optimizer, OPTIMIZERS, "--optimizer")
    _choice("schedule", o.schedule, SCHEDULES, "--schedule")
    _choice("strategy", config.strategy, STRATEGIES, "--strategy")
    _choice("mixed_precision", config.mixed_precision, PRECISIONS, "--mixed-precision")
    _choice("jit_compile", config.jit_compile, SWITCHES, "--jit-compile")
    _number("lr", o.lr, "a number > 0", lambda v: v > 0, "--lr")
    _integer("epochs", o.epochs, 1, "--epochs")
    _integer("batch_size", o.batch_size, 1, "--batch-size")
    _number("momentum", o.momentum, "0 <= momentum < 1", lambda v: 0 <= v < 1, "--momentum")
    _number("weight_decay", o.weight_decay, "a number >= 0", lambda v: v >= 0, "--weight-decay")
    _number("gamma", o.gamma, "0 < gamma <= 1", lambda v: 0 < v <= 1, "--gamma")
    _number("step_gamma", o.step_gamma, "0 < step_gamma <= 1", lambda v: 0 < v <= 1, "--step-gamma")
    _integer("step_epochs", o.step_epochs, 1, "--step-epochs")
    _integer("restart_epochs", o.restart_epochs, 1, "--restart-epochs")
    _number("restart_mult", o.restart_mult, "a number >= 1", lambda v: v >= 1, "--restart-mult")
    _number("min_lr", o.min_lr, "0 <= min_lr < lr", lambda v: 0 <= v < o.lr, "--min-lr")
    _integer("plateau_patience", o.plateau_patience, 1, "--plateau-patience")
    _number("plateau_factor", o.plateau_factor, "0 < factor < 1", lambda v: 0 < v < 1, "--plateau-factor")
    _integer("warmup_epochs", o.warmup_epochs, 0, "--warmup-epochs")
    if o.warmup_epochs >= o.epochs:
        raise ValueError(f"warmup_epochs: received {o.warmup_epochs} for {o.epochs} epochs; accepted: fewer "
                         "warmup epochs than epochs (--warmup-epochs, --epochs)")
    if o.early_stopping_patience is not None:
        _integer("early_stopping_patience", o.early_stopping_patience, 1, "--early-stopping")
    _number("label_smoothing", d.label_smoothing, "0 <= value < 1", lambda v: 0 <= v < 1, "--label-smoothing")
    _number("mixup_alpha", d.mixup_alpha, "a number >= 0 (0: no mixup)", lambda v: v >= 0, "--mixup")
    _integer("steps_per_execution", config.steps_per_execution, 1, "--steps-per-execution")
    _integer("histogram_freq", config.histogram_freq, 0, "--histogram-freq")
    _integer("seed", config.seed, 0, "--seed")
    if config.verbose not in (0, 1, 2):
        raise ValueError(f"verbose: received {config.verbose!r}; accepted: 0, 1 or 2 (--quiet gives 2)")


def check_data(config, data, replicas=1):
    """Raise ValueError when `config` cannot train on `data` (batch, classes, validation split)."""
    o = config.optim
    num_train, num_val = len(data.train.labels), len(data.val.labels)
    if o.batch_size > num_train:
        raise ValueError(f"batch_size: received {o.batch_size} but the training split has {num_train} images; "
                         f"accepted: at most {num_train} (lower --batch-size or raise --train-subset)")
    if o.batch_size % replicas:
        raise ValueError(f"batch_size: received {o.batch_size} for {replicas} replicas; accepted: a global batch "
                         f"divisible by {replicas} so each replica gets the same share (--batch-size)")
    if config.model.num_classes != data.num_classes:
        raise ValueError(f"num_classes: the model has {config.model.num_classes} outputs but the data has "
                         f"{data.num_classes} classes; pass --num-classes {data.num_classes}")
    if tuple(data.train.images.shape[1:]) != (32, 32, 3):
        raise ValueError(f"images: received shape {tuple(data.train.images.shape[1:])}; accepted: (32, 32, 3) "
                         "(CIFAR size; resize the data)")
    needs_val = [name for name, used in (("the plateau schedule", o.schedule == "plateau"),
                                         ("early stopping", o.early_stopping_patience is not None)) if used]
    if needs_val and num_val == 0:
        raise ValueError(f"{' and '.join(needs_val)} need a validation split but val_fraction is 0; "
                         "pass --val-fraction 0.1 or another schedule")


def _choice(name, value, accepted, flag):
    if value not in accepted:
        raise ValueError(f"{name}: received {value!r}; accepted: {', '.join(accepted)} ({flag})")


def _number(name, value, accepted, ok, flag):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not ok(value):
        raise ValueError(f"{name}: received {value!r}; accepted: {accepted} ({flag})")


def _integer(name, value, minimum, flag):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name}: received {value!r}; accepted: an integer >= {minimum} ({flag})")
