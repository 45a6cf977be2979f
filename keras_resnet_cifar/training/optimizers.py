"""Optimizers of the study (Table 2) plus Adam and AdamW, and where their weight decay goes.

Weight decay `wd` is applied one of two ways:

- coupled (default; the study's PyTorch `weight_decay`): an L2 penalty l2 = wd / 2 on every
  conv and dense kernel, added to the loss by the model (`coupled_l2`), so the gradient gets
  + wd * w and adaptive optimizers rescale it like any gradient;
- decoupled (`adamw` always; any other optimizer with `decoupled_weight_decay=True`): Keras's
  optimizer `weight_decay`, w -= lr * wd * w after each step, on kernels only (BatchNorm and
  biases are excluded, as in the coupled case); the model then has no L2.

An exponential moving average of the weights (`ema_momentum` m > 0) is Keras's own optimizer
EMA: after every step, average = m * average + (1 - m) * weights (average = weights after the
first step), kept in the optimizer's variables (so the per-epoch resume checkpoint holds it).
It covers the trainable variables only; BatchNorm's moving statistics stay those of the
trained weights. `callbacks.make_callbacks` validates and checkpoints on the averaged weights.

Study optimizers use PyTorch's defaults where Keras's differ (Adagrad's initial accumulator
and epsilon, Adadelta's rho and epsilon), so `--lr` means what it meant in the study.
"""
import keras

from keras_resnet_cifar.config import OPTIMIZERS

_NO_DECAY = ["gamma", "beta", "bias"]  # BatchNorm scale/offset and biases


def is_decoupled(optim):
    """Whether `optim`'s weight decay is decoupled (in the optimizer) rather than an L2 loss."""
    return optim.optimizer == "adamw" or bool(optim.decoupled_weight_decay)


def coupled_l2(optim):
    """The model's L2 coefficient for `optim`: weight_decay / 2 when coupled, else 0.

    Example:
        >>> coupled_l2(OptimConfig(weight_decay=1e-3))
        0.0005
    """
    return 0.0 if is_decoupled(optim) else optim.weight_decay / 2


def make_optimizer(optim, *, learning_rate=None, ema=None):
    """A new Keras optimizer for an `OptimConfig`.

    Args:
        optim: an `OptimConfig`; uses optimizer, lr, momentum, weight_decay,
            decoupled_weight_decay.
        learning_rate: float or a `keras.optimizers.schedules.LearningRateSchedule`;
            default `optim.lr` (an `EpochLR` callback then sets it each epoch).
        ema: the weight average's momentum (0: none); default `optim.ema_momentum`.

    Returns:
        A `keras.optimizers.Optimizer`, not yet built.

    Example:
        >>> opt = make_optimizer(OptimConfig(optimizer="sgdn", lr=0.1, momentum=0.9))
        >>> type(opt).__name__, opt.nesterov
        ('SGD', True)
    """
    name = optim.optimizer
    if name not in OPTIMIZERS:
        raise ValueError(f"optimizer: received {name!r}; accepted: {', '.join(OPTIMIZERS)}")
    lr = optim.lr if learning_rate is None else learning_rate
    decay = {"weight_decay": optim.weight_decay} if is_decoupled(optim) and optim.weight_decay else {}
    ema = optim.ema_momentum if ema is None else ema
    if ema:
        decay.update(use_ema=True, ema_momentum=ema)
    if name in ("sgd", "sgdn"):
        optimizer = keras.optimizers.SGD(lr, momentum=optim.momentum, nesterov=name == "sgdn", **decay)
    elif name == "adagrad":
        optimizer = keras.optimizers.Adagrad(lr, initial_accumulator_value=0.0, epsilon=1e-10, **decay)
    elif name == "adadelta":
        optimizer = keras.optimizers.Adadelta(lr, rho=0.9, epsilon=1e-6, **decay)
    elif name == "adam":
        optimizer = keras.optimizers.Adam(lr, epsilon=1e-8, **decay)
    else:
        decay.pop("weight_decay", None)
        optimizer = keras.optimizers.AdamW(lr, weight_decay=optim.weight_decay, epsilon=1e-8, **decay)
    if optimizer.weight_decay:
        optimizer.exclude_from_weight_decay(var_names=_NO_DECAY)
    return optimizer
