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

With `reference_batch`, `bn_bias_lr_scale` or `whiten_bias_epochs` (sgd/sgdn only) the optimizer is
`GroupSGD`: Keras's SGD step with per-variable learning-rate factors, PyTorch's coupled decay
(g + c * w, before the momentum) on every trainable variable, and the whitening bias frozen after
its epochs (no step at all then, as PyTorch's requires_grad=False), as airbench's param groups.

Which Keras class each name builds, with PyTorch's defaults where Keras's differ (Adagrad's initial
accumulator and epsilon, Adadelta's rho and epsilon), is the table in `optimizer_table.py`.
"""
import keras

from keras_resnet_cifar.optimizer_table import OPTIMIZER_TABLE
from keras_resnet_cifar.errors import UserError

_NO_DECAY = ["gamma", "beta", "bias"]  # BatchNorm scale/offset and biases


def is_decoupled(optim):
    """Whether `optim`'s weight decay is decoupled (in the optimizer) rather than an L2 loss."""
    return OPTIMIZER_TABLE[optim.optimizer].decoupled or bool(optim.decoupled_weight_decay)


def coupled_l2(optim):
    """The model's L2 coefficient for `optim`: weight_decay / 2 when coupled, else 0.

    Example:
        >>> coupled_l2(OptimConfig(weight_decay=1e-3))
        0.0005
    """
    return 0.0 if is_decoupled(optim) or optim.reference_batch is not None else optim.weight_decay / 2


def is_grouped(optim):
    """Whether `optim` needs `GroupSGD` (per-variable rates, in-optimizer coupled decay or a frozen bias)."""
    return bool(optim.grouped_options())


BN_OFFSET, WHITEN_BIAS = "/beta", "stem_whiten/bias"  # variable paths: BN offsets end so; the stem's bias


@keras.saving.register_keras_serializable(package="keras_resnet_cifar")
class GroupSGD(keras.optimizers.SGD):
    """Keras SGD (momentum, Nesterov) with airbench's parameter groups.

    For a variable v with gradient g: g' = g + (decay / s) * v, then Keras's SGD step at rate lr * s,
    where s is `bn_bias_lr_scale` for BatchNorm offsets (paths ending "/beta") and 1 otherwise (so the
    decay per step is the same for all). The whitening stem's bias takes no step at all from step
    `freeze_bias_step` on (None: never frozen).

    Args:
        learning_rate: float or schedule (the base rate).
        momentum, nesterov: as `keras.optimizers.SGD`.
        decay: the coupled decay coefficient c (0: none).
        bn_bias_lr_scale: s for BN offsets.
        freeze_bias_step: first step at which "stem_whiten/bias" stops, or None.
    """

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, decay=0.0, bn_bias_lr_scale=1.0,
                 freeze_bias_step=None, **kwargs):
        super().__init__(learning_rate, momentum=momentum, nesterov=nesterov, **kwargs)
        self.decay, self.bn_bias_lr_scale = float(decay), float(bn_bias_lr_scale)
        self.freeze_bias_step = None if freeze_bias_step is None else int(freeze_bias_step)

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        # (rate factor, whether it is the freezing bias) per variable, by index: on TensorFlow the update
        # step receives the backend variable, which has no Keras path
        self._rules = [(self.bn_bias_lr_scale if v.path.endswith(BN_OFFSET) else 1.0, v.path == WHITEN_BIAS)
                       for v in variables]

    def update_step(self, gradient, variable, learning_rate):
        ops = keras.ops
        index = self._get_variable_index(variable)
        scale, is_bias = self._rules[index]
        gradient = ops.cast(gradient, variable.dtype)
        if self.decay:
            gradient = gradient + ops.cast(self.decay / scale, variable.dtype) * variable
        lr = ops.cast(learning_rate, variable.dtype) * scale
        active = None
        if self.freeze_bias_step is not None and is_bias:
            active = ops.cast(ops.less(self.iterations, self.freeze_bias_step), variable.dtype)
        momentum = ops.cast(self.momentum, variable.dtype)
        if self.momentum == 0:
            step = -lr * gradient
        else:
            m = self.momentums[index]
            velocity = m * momentum - gradient * lr
            self.assign(m, velocity if active is None else active * velocity + (1 - active) * m)
            step = velocity * momentum - gradient * lr if self.nesterov else velocity
        self.assign_add(variable, step if active is None else active * step)

    def get_config(self):
        return {**super().get_config(), "decay": self.decay, "bn_bias_lr_scale": self.bn_bias_lr_scale,
                "freeze_bias_step": self.freeze_bias_step}


def make_optimizer(optim, *, learning_rate=None, ema=None, steps_per_epoch=None):
    """A new Keras optimizer for an `OptimConfig`.

    Args:
        optim: an `OptimConfig`; uses optimizer, lr, momentum, weight_decay,
            decoupled_weight_decay.
        learning_rate: float or a `keras.optimizers.schedules.LearningRateSchedule`;
            default `optim.lr` (an `EpochLR` callback then sets it each epoch).
        ema: the weight average's momentum (0: none); default `optim.ema_momentum`.
        steps_per_epoch: needed with `whiten_bias_epochs` (the step the bias freezes).

    Returns:
        A `keras.optimizers.Optimizer`, not yet built.

    Example:
        >>> opt = make_optimizer(OptimConfig(optimizer="sgdn", lr=0.1, momentum=0.9))
        >>> type(opt).__name__, opt.nesterov
        ('SGD', True)
    """
    kind = OPTIMIZER_TABLE[optim.optimizer]  # a checked name: OptimConfig accepts only the table's
    lr = optim.keras_lr() if learning_rate is None else learning_rate
    options = dict(kind.options)
    if kind.decoupled or (is_decoupled(optim) and optim.weight_decay):
        options["weight_decay"] = optim.weight_decay
    ema = optim.ema_momentum if ema is None else ema
    if ema:
        options.update(use_ema=True, ema_momentum=ema)
    if kind.momentum:
        options["momentum"] = optim.momentum
    if is_grouped(optim):  # sgd/sgdn only (OptimConfig refuses the group options with any other)
        if optim.whiten_bias_epochs is not None and not steps_per_epoch:
            raise UserError("optim.whiten_bias_epochs: the freezing step needs steps_per_epoch")
        freeze = None if optim.whiten_bias_epochs is None else optim.whiten_bias_epochs * steps_per_epoch
        optimizer = GroupSGD(lr, decay=optim.gradient_decay(), bn_bias_lr_scale=optim.bn_bias_lr_scale,
                             freeze_bias_step=freeze, **options)
    else:
        optimizer = getattr(keras.optimizers, kind.keras_class)(lr, **options)
    if optimizer.weight_decay:
        optimizer.exclude_from_weight_decay(var_names=_NO_DECAY)
    return optimizer
