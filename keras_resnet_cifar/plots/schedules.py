"""The study's Figure 5 (left): the learning rate of each schedule, epoch by epoch."""
import dataclasses

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from keras_resnet_cifar.config import SCHEDULES, OptimConfig
from keras_resnet_cifar.training.schedules import schedule_curve
from keras_resnet_cifar.errors import UserError

STUDY_SCHEDULES = ("exp", "step", "cosine_restarts", "plateau")

_LABELS = {"exp": "exponential", "step": "step", "cosine_restarts": "cosine with restarts",
           "plateau": "reduce on plateau (before any reduction)", "cosine": "cosine", "constant": "constant"}


def plot_schedules(schedules=STUDY_SCHEDULES, *, epochs=50, optim=None, log_scale=False) -> Figure:
    """One curve per schedule: the rate `schedules.schedule_curve` gives each epoch (1-based).

    Args:
        schedules: names from `config.SCHEDULES`. Default the study's four (exp, step,
            cosine_restarts, plateau).
        epochs: int >= 1, how many epochs to draw. Default 50, as in the study.
        optim: the `OptimConfig` whose other settings (lr, gamma, periods, warmup) apply.
            Default `OptimConfig()`: the study's (lr 0.1, gamma 0.9, x0.1 every 20 epochs,
            restarts after 20 then 40 epochs).
        log_scale: bool, logarithmic learning-rate axis. Default False.

    Returns:
        A matplotlib Figure with one Axes and one line per schedule. "plateau" depends on
        the run's validation loss, so its line is the rate before any reduction; a run's
        history.csv column `lr` holds the rate it really used.

    Example:
        >>> fig = plot_schedules(epochs=50)
        >>> [line.get_label() for line in fig.axes[0].lines][0]
        'exponential'
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise UserError(f"epochs: received {epochs!r}; accepted: an integer >= 1")
    unknown = [s for s in schedules if s not in SCHEDULES]
    if unknown or not schedules:
        raise UserError(f"schedules: received {list(schedules)!r}; accepted: one or more of {', '.join(SCHEDULES)}")
    optim = optim or OptimConfig()
    fig = Figure(figsize=(6.5, 4.0), layout="constrained")
    ax = fig.add_subplot()
    epoch_numbers = list(range(1, epochs + 1))
    for name in schedules:
        curve = schedule_curve(dataclasses.replace(optim, schedule=name, epochs=epochs), epochs)
        ax.plot(epoch_numbers, curve, label=_LABELS.get(name, name))
    ax.set_xlabel("epoch")
    ax.set_ylabel("learning rate")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if log_scale:
        ax.set_yscale("log")
    ax.set_title(f"Learning-rate schedules (lr {optim.lr:g}, {epochs} epochs)")
    ax.grid(alpha=0.3)
    ax.legend()
    return fig
