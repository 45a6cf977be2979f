"""The study's Figure 11: loss and accuracy per epoch, training and validation (and several runs overlaid)."""
import csv
import os

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from keras_resnet_cifar.plots.comparison import plot_runs
from keras_resnet_cifar.training.rundir import HISTORY
from keras_resnet_cifar.errors import UserFileNotFoundError


def read_history(path):
    """Rows of a run's history.csv as dicts of floats (epoch as int)."""
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return [{k: (int(float(v)) if k == "epoch" else float(v)) for k, v in row.items() if v != ""}
            for row in rows]


def plot_history(history, *, title=None):
    """Two panels, loss and accuracy against the (1-based) epoch, train and validation.

    Under mixup the training curve is `mixup_accuracy` (agreement with the dominant label of
    each mixed pair) and is labelled so.

    Args:
        history: a path to history.csv, or its rows (dicts with "epoch", "loss", ...).
        title: str or None.

    Returns:
        A matplotlib `Figure`.

    Example:
        >>> plot_history("runs/main/history.csv").savefig("history.png")
    """
    rows = read_history(history) if isinstance(history, (str, bytes)) or hasattr(history, "__fspath__") else history
    fig = Figure(figsize=(10, 4))
    panels = [("loss", [("loss", "train"), ("val_loss", "validation")]),
              ("accuracy", [("accuracy", "train"), ("mixup_accuracy", "train (vs mixup's dominant label)"),
                            ("val_accuracy", "validation")])]
    for index, (ylabel, series) in enumerate(panels):
        ax = fig.add_subplot(1, 2, index + 1)
        for key, label in series:
            points = [(row["epoch"], row[key]) for row in rows if key in row]
            if points:
                ax.plot(*zip(*points), marker="o" if len(points) < 20 else None, label=label)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def run_label(path):
    """A run folder's name in a legend: its last part, or the last two for a seed folder (exp/seed1)."""
    parts = os.path.normpath(path).split(os.sep)
    return os.path.join(*parts[-2:]) if parts[-1].startswith("seed") and len(parts) > 1 else parts[-1]


def plot_run_folders(run_dirs) -> Figure:
    """The history of one run folder (`plot_history`), or of several overlaid (`comparison.plot_runs`).

    Args:
        run_dirs: one or more folders written by `train` (each with its history.csv).

    Example:
        >>> plot_run_folders(["runs/a", "runs/b"]).savefig("runs.png")
    """
    paths = [os.path.join(run, HISTORY) for run in run_dirs]
    for path in paths:
        if not os.path.exists(path):
            raise UserFileNotFoundError(f"history: {path!r} does not exist; accepted: run folders written by `train`")
    if len(paths) == 1:
        return plot_history(paths[0], title=run_label(run_dirs[0]))
    return plot_runs({run_label(run): read_history(path) for run, path in zip(run_dirs, paths)})
