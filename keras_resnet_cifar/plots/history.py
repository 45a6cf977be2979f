"""The study's Figure 11: loss and accuracy per epoch, training and validation."""
import csv

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator


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
