"""Learning-rate schedules (study 2.1.3) as pure per-epoch formulas, and the callbacks applying them.

The learning rate is constant within an epoch and set at its start. `epoch` below is the
0-based index of an epoch (0 is the first); files such as `history.csv` count from 1.
With `warmup_epochs = w > 0`, epoch e < w uses lr * (e + 1) / (w + 1) (a linear ramp that
reaches `lr` at epoch w), and the schedule proper then runs on t = e - w:

    exp              lr * gamma ** t                                   (study: gamma 0.9)
    step             lr * step_gamma ** (t // step_epochs)             (study: x0.1 every 20)
    cosine           min_lr + (lr - min_lr) * (1 + cos(pi * t / T)) / 2, T = epochs - w
    cosine_restarts  the same within periods of restart_epochs, restart_epochs * restart_mult,
                     ... (SGDR; 20 and x2 restart at t = 20 and 60 as in the study's Figure 5)
    constant         lr
    plateau          lr, halved (plateau_factor) when validation loss has not improved for
                     plateau_patience (3) epochs: a callback, as it depends on the run

One schedule is set per step instead, by a `keras.optimizers.schedules.LearningRateSchedule`
of the optimizer's step count (so a resumed run, which restores that count, continues it):

    onecycle         the piecewise-linear one-cycle of Page 2018 and airbench: step s of
                     T = epochs * S (S steps per epoch) gets lr * (s + 1) / W while
                     s < W = warmup_epochs * S, then lr * (T - s) / (T - W), down to zero at T
    triangular       airbench's: linear from lr * lr_start_factor at step 0 to lr at step
                     P = int(T * lr_peak_fraction), then linear to lr * lr_end_factor at step T

`lr` above is the Keras rate, `OptimConfig.keras_lr()` (the configured lr unless `reference_batch`
rescales it); `min_lr` is rescaled alike.
"""
import math

import keras
from keras_resnet_cifar.errors import UserError

PER_STEP = ("onecycle", "triangular")  # set by the optimizer at every step, not by EpochLR


def lr_at_step(optim, step, steps_per_epoch):
    """The rate of a per-step schedule at step `step` (0-based) as a Python float; see the module doc."""
    lr, total = optim.keras_lr(), optim.epochs * steps_per_epoch
    if optim.schedule == "triangular":
        peak = int(total * optim.lr_peak_fraction)
        if step < peak:
            return lr * (optim.lr_start_factor + (1 - optim.lr_start_factor) * step / peak)
        return lr * (1 + (optim.lr_end_factor - 1) * min(step - peak, total - peak) / (total - peak))
    warm = optim.warmup_epochs * steps_per_epoch
    if step < warm:
        return lr * (step + 1) / warm
    return lr * max(total - step, 0) / (total - warm)


@keras.saving.register_keras_serializable(package="keras_resnet_cifar")
class OneCycle(keras.optimizers.schedules.LearningRateSchedule):
    """`lr_at_step` of "onecycle" as a Keras schedule of the optimizer's step count.

    Args:
        lr: the peak rate.
        warmup_steps: steps of the linear ramp from 0 (0: start at the peak).
        total_steps: steps of the whole run; the rate reaches 0 there.
    """

    def __init__(self, lr, warmup_steps, total_steps):
        self.lr, self.warmup_steps, self.total_steps = float(lr), int(warmup_steps), int(total_steps)

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        ramp = self.lr * (step + 1.0) / max(self.warmup_steps, 1)
        decay = self.lr * keras.ops.maximum(self.total_steps - step, 0.0) / (self.total_steps - self.warmup_steps)
        return keras.ops.where(step < self.warmup_steps, ramp, decay)

    def get_config(self):
        return {"lr": self.lr, "warmup_steps": self.warmup_steps, "total_steps": self.total_steps}


@keras.saving.register_keras_serializable(package="keras_resnet_cifar")
class Triangular(keras.optimizers.schedules.LearningRateSchedule):
    """`lr_at_step` of "triangular" as a Keras schedule of the optimizer's step count.

    Args:
        lr: the peak rate.
        peak_step: the step at the peak (>= 1).
        total_steps: steps of the whole run.
        start, end: the rates at step 0 and at total_steps, as multiples of lr.
    """

    def __init__(self, lr, peak_step, total_steps, start, end):
        self.lr, self.peak_step, self.total_steps = float(lr), max(int(peak_step), 1), int(total_steps)
        self.start, self.end = float(start), float(end)

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        rise = self.start + (1 - self.start) * step / self.peak_step
        fall = 1 + (self.end - 1) * keras.ops.minimum(step - self.peak_step, self.total_steps - self.peak_step) / max(
            self.total_steps - self.peak_step, 1)
        return self.lr * keras.ops.where(step < self.peak_step, rise, fall)

    def get_config(self):
        return {"lr": self.lr, "peak_step": self.peak_step, "total_steps": self.total_steps, "start": self.start,
                "end": self.end}


def step_schedule(optim, steps_per_epoch):
    """The optimizer's learning rate for `optim`: a `LearningRateSchedule` for a per-step schedule,
    else None (the rate is then a variable that `EpochLR` sets each epoch)."""
    if optim.schedule not in PER_STEP:
        return None
    if not steps_per_epoch:
        raise UserError(f"schedule {optim.schedule!r} is set per step: pass steps_per_epoch")
    total = optim.epochs * steps_per_epoch
    if optim.schedule == "triangular":
        return Triangular(optim.keras_lr(), int(total * optim.lr_peak_fraction), total, optim.lr_start_factor,
                          optim.lr_end_factor)
    return OneCycle(optim.keras_lr(), optim.warmup_epochs * steps_per_epoch, total)


def lr_for_epoch(optim, epoch):
    """The learning rate a schedule gives epoch `epoch` (0-based), as a Python float.

    Args:
        optim: an `OptimConfig` (schedule, lr, gamma, step_gamma, step_epochs, restart_epochs,
            restart_mult, min_lr, warmup_epochs, epochs).
        epoch: int >= 0, the epoch's index.

    Returns:
        float; for "plateau" the rate before any reduction.

    Example:
        >>> lr_for_epoch(OptimConfig(schedule="exp", lr=0.1, gamma=0.9), 2)
        0.081...
    """
    if optim.schedule in PER_STEP:  # sampled at each epoch's first step, one step per epoch
        return lr_at_step(optim, epoch, 1)
    warmup, lr = optim.warmup_epochs, optim.keras_lr()
    if epoch < warmup:
        return lr * (epoch + 1) / (warmup + 1)
    t = epoch - warmup
    if optim.schedule == "exp":
        return lr * optim.gamma ** t
    if optim.schedule == "step":
        return lr * optim.step_gamma ** (t // optim.step_epochs)
    if optim.schedule == "cosine":
        return _cosine(optim, t, max(optim.epochs - warmup, 1))
    if optim.schedule == "cosine_restarts":
        period = float(optim.restart_epochs)
        while t >= period:
            t -= period
            period *= optim.restart_mult
        return _cosine(optim, t, period)
    return float(lr)


def schedule_curve(optim, epochs=None):
    """Per-epoch learning rates [epoch 1, epoch 2, ...] for plotting (the study's Figure 5).

    Args:
        optim: an `OptimConfig`.
        epochs: how many epochs; default `optim.epochs`.

    Returns:
        list of floats. "plateau" depends on the run's validation loss, so its curve here is
        the rate before any reduction; a run's `history.csv` column `lr` has the real one.

    Example:
        >>> schedule_curve(OptimConfig(schedule="step", lr=0.1, step_epochs=2), 5)
        [0.1, 0.1, 0.01, 0.01, 0.001]
    """
    return [lr_for_epoch(optim, epoch) for epoch in range(optim.epochs if epochs is None else epochs)]


def lr_callbacks(optim):
    """The callbacks that apply `optim`'s schedule in `model.fit`, in the order they must run.

    Args:
        optim: an `OptimConfig`.

    Returns:
        list: `[PlateauLR]` for "plateau" (it needs validation data), then `EpochLR`.

    Example:
        >>> model.fit(ds, epochs=3, callbacks=lr_callbacks(config.optim))
    """
    found = [PlateauLR(optim)] if optim.schedule == "plateau" else []
    return found + [EpochLR(optim)]


class EpochLR(keras.callbacks.Callback):
    """Sets the optimizer's learning rate at each epoch's start and logs the rate used as `lr`.

    Under "plateau" it sets only the warmup ramp and the first rate, then leaves the rate to
    `PlateauLR` (the optimizer keeps it, and a resumed run restores it with the optimizer).
    Under a per-step schedule (`PER_STEP`) the optimizer sets the rate; this only logs it.

    Args:
        optim: an `OptimConfig`.
    """

    def __init__(self, optim):
        super().__init__()
        self.optim = optim
        self._lr = None

    def on_epoch_begin(self, epoch, logs=None):
        optimizer = self.model.optimizer
        if self.optim.schedule in PER_STEP:  # the optimizer's own schedule: log its rate at this step
            pass
        elif self.optim.schedule != "plateau" or epoch <= self.optim.warmup_epochs:
            optimizer.learning_rate = lr_for_epoch(self.optim, epoch)
        self._lr = _as_float(optimizer.learning_rate)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs.pop("learning_rate", None)  # ReduceLROnPlateau's post-reduction value
            logs["lr"] = self._lr


def _as_float(rate):
    """A learning rate (a Keras or tf.distribute variable, a backend tensor) as a float. Not
    keras.ops.convert_to_numpy, which NumPy 2 warns about for a variable on TensorFlow (no copy= in __array__)."""
    return float(rate.numpy() if hasattr(rate, "numpy") else keras.ops.convert_to_numpy(rate))


class PlateauLR(keras.callbacks.ReduceLROnPlateau):
    """`ReduceLROnPlateau` on validation loss whose counters survive a resume.

    Args:
        optim: an `OptimConfig` (plateau_patience, plateau_factor).
        initial_state: a `get_state()` dict from an earlier process, or None.
    """

    def __init__(self, optim, initial_state=None):
        super().__init__(monitor="val_loss", mode="min", factor=optim.plateau_factor,
                         patience=optim.plateau_patience, verbose=0)
        self.initial_state = initial_state

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        if self.initial_state:
            self.best = self.initial_state["best"]
            self.wait = self.initial_state["wait"]
            self.cooldown_counter = self.initial_state["cooldown_counter"]

    def get_state(self):
        best = None if self.best is None else float(self.best)
        return {"best": best, "wait": int(self.wait), "cooldown_counter": int(self.cooldown_counter)}


def _cosine(optim, t, period):
    low, high = optim.min_lr * optim.lr_factor(), optim.keras_lr()
    return low + (high - low) * (1 + math.cos(math.pi * t / period)) / 2
