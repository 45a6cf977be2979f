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

`muon` is `ConvMuon`: Muon (orthogonalised momentum) on the conv kernels, the flattened kernel's
update put through Keras's Newton-Schulz iteration, and `GroupSGD` on everything else, as airbench94_muon's
two optimizers; weight decay (PyTorch's coupled form) reaches only the SGD variables.

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
    in_optimizer = optim.reference_batch is not None or optim.optimizer == "muon"  # `gradient_decay` instead
    return 0.0 if is_decoupled(optim) or in_optimizer else optim.weight_decay / 2


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


@keras.saving.register_keras_serializable(package="keras_resnet_cifar")
class ConvMuon(GroupSGD):
    """Muon on convolution kernels, `GroupSGD` (Nesterov SGD with airbench's groups) on every other variable:
    airbench94_muon's pair of optimizers as one Keras optimizer.

    `keras.optimizers.Muon` orthogonalises 2-D variables only and gives every other one AdamW, so a conv
    kernel never gets the Muon step there. Here a 4-D kernel (kh, kw, in, out) with gradient g and buffer b
    takes, at rate r = `muon_lr` x (the scheduled rate / `learning_rate`'s peak):

        b = mu * b + g;  u = g + mu * b (Nesterov) or b
        w = w * sqrt(out) / ||w||          (each step; BatchNorm follows, so the scale is free)
        w = w - r * reshape(NS(reshape(u, (kh * kw * in, out))), w.shape)

    NS is Keras's quintic Newton-Schulz iteration (`keras.optimizers.Muon`'s, coefficients 3.4445, -4.7750,
    2.0315), which maps a matrix's singular values into about [0.5, 1.5] (near 1) and keeps its singular
    vectors. Rows and columns in another order than PyTorch's (out, in * kh * kw) change nothing: the
    iteration commutes with permutations. Kernels take no weight decay (the normalisation replaces it).
    1-D and 2-D variables (BN offsets, biases, the head) take `GroupSGD`'s step; any other rank is refused.

    Args:
        learning_rate: float or schedule: the SGD variables' rate (as `GroupSGD`).
        muon_lr: the kernels' rate at the schedule's peak.
        muon_momentum: mu.
        ns_steps: Newton-Schulz iterations.
        peak_lr: the peak of `learning_rate` (its value at the schedule's factor 1); default the float given.
        other keywords: as `GroupSGD`.
    """

    muon_a, muon_b, muon_c = 3.4445, -4.7750, 2.0315  # read by Keras's iteration below
    zeropower_via_newtonschulz5 = keras.optimizers.Muon.zeropower_via_newtonschulz5
    transpose_last_axis = keras.optimizers.Muon.transpose_last_axis

    def __init__(self, learning_rate=0.01, muon_lr=0.02, muon_momentum=0.95, ns_steps=3, peak_lr=None, **kwargs):
        super().__init__(learning_rate, **kwargs)
        if peak_lr is None:
            if not isinstance(learning_rate, (int, float)):
                raise UserError("ConvMuon: received a learning-rate schedule without peak_lr; accepted: a float "
                                "rate, or peak_lr= the schedule's peak (the kernels' rate follows rate / peak_lr)")
            peak_lr = learning_rate
        self.muon_lr, self.muon_momentum = float(muon_lr), float(muon_momentum)
        self.ns_steps, self.peak_lr = int(ns_steps), float(peak_lr)

    def build(self, variables):
        if self.built:
            return
        for v in variables:
            if len(v.shape) not in (0, 1, 2, 4):
                raise UserError(f"ConvMuon: variable {v.path!r} has shape {tuple(v.shape)} ({len(v.shape)}-D); "
                                "accepted: 4-D conv kernels (Muon step) and 0- to 2-D variables (SGD step); use "
                                "another optimizer (--optimizer sgdn) for a network with other layers")
        super().build(variables)

    def update_step(self, gradient, variable, learning_rate):
        if len(variable.shape) != 4:
            return super().update_step(gradient, variable, learning_rate)
        ops = keras.ops
        m = self.momentums[self._get_variable_index(variable)]
        gradient = ops.cast(gradient, variable.dtype)
        mu = ops.cast(self.muon_momentum, variable.dtype)
        buffer = m * mu + gradient
        self.assign(m, buffer)
        update = gradient + mu * buffer if self.nesterov else buffer
        out = variable.shape[-1]
        self.assign(variable, variable * (out ** 0.5 / ops.sqrt(ops.sum(ops.square(variable)))))
        matrix = self.zeropower_via_newtonschulz5(ops.reshape(update, (-1, out)), self.ns_steps)
        rate = ops.cast(learning_rate, variable.dtype) * ops.cast(self.muon_lr / self.peak_lr, variable.dtype)
        self.assign_sub(variable, rate * ops.reshape(matrix, variable.shape))

    def get_config(self):
        return {**super().get_config(), "muon_lr": self.muon_lr, "muon_momentum": self.muon_momentum,
                "ns_steps": self.ns_steps, "peak_lr": self.peak_lr}


def _group_options(optim, steps_per_epoch):
    """`GroupSGD`'s keywords for `optim`: the coupled decay, the BN offsets' factor, the bias's freezing step."""
    if optim.whiten_bias_epochs is not None and not steps_per_epoch:
        raise UserError("optim.whiten_bias_epochs: the freezing step needs steps_per_epoch")
    freeze = None if optim.whiten_bias_epochs is None else optim.whiten_bias_epochs * steps_per_epoch
    return {"decay": optim.gradient_decay(), "bn_bias_lr_scale": optim.bn_bias_lr_scale, "freeze_bias_step": freeze}


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
    if optim.optimizer == "muon":
        optimizer = ConvMuon(lr, muon_lr=optim.muon_lr, muon_momentum=optim.muon_momentum,
                             ns_steps=optim.muon_ns_steps, peak_lr=optim.keras_lr(),
                             **_group_options(optim, steps_per_epoch), **options)
    elif is_grouped(optim):  # sgd/sgdn only (OptimConfig refuses the group options with any other)
        optimizer = GroupSGD(lr, **_group_options(optim, steps_per_epoch), **options)
    else:
        optimizer = getattr(keras.optimizers, kind.keras_class)(lr, **options)
    if optimizer.weight_decay:
        optimizer.exclude_from_weight_decay(var_names=_NO_DECAY)
    return optimizer
