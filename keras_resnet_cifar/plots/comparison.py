"""Comparison panels (the study's Figures 4-6, 8, 9): runs' curves overlaid, mean ± std bars.

A curve of several seeds is their mean per epoch with a ±1 std band; bars show the mean
over seeds with the sample std as error bar (none for a single seed).
"""
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from keras_resnet_cifar.files import atomic_save

METRIC_LABELS = {
    "loss": "training loss (with penalty)", "val_loss": "validation loss",
    "accuracy": "training accuracy", "mixup_accuracy": "training accuracy (vs mixup's dominant label)",
    "val_accuracy": "validation accuracy", "lr": "learning rate",
    "best_val_accuracy": "best validation accuracy", "test_accuracy": "test accuracy",
}


def save_figure(fig, path, dpi=110):
    """Write `fig` as PNG to `path` atomically (a temp file beside it, then os.replace)."""
    atomic_save(path, lambda temp: fig.savefig(temp, format="png", dpi=dpi))
    return path


def _as_seeds(history):
    """A run's history rows, or a list of them (one per seed) -> a list of row lists."""
    history = list(history)
    return history if history and isinstance(history[0], (list, tuple)) else [history]


def _curve(histories, metric):
    series = [{row["epoch"]: row[metric] for row in rows if metric in row} for rows in histories]
    series = [s for s in series if s]
    if not series:
        return None
    epochs = sorted(set.intersection(*(set(s) for s in series)))
    values = np.array([[s[e] for e in epochs] for s in series], dtype=float)
    return epochs, values.mean(axis=0), (values.std(axis=0, ddof=1) if len(series) > 1 else None)


def draw_curves(ax, runs, metric, *, style="-", suffix=""):
    """Draw `metric` of each run on `ax`: runs maps label -> history rows (or a list per seed)."""
    for index, (label, history) in enumerate(runs.items()):
        curve = _curve(_as_seeds(history), metric)
        if curve is None:
            continue
        epochs, mean, std = curve
        color = f"C{index % 10}"
        ax.plot(epochs, mean, style, color=color, label=f"{label}{suffix}", marker="o" if len(epochs) < 12 else None)
        if std is not None:
            ax.fill_between(epochs, mean - std, mean + std, color=color, alpha=0.2, linewidth=0)
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(METRIC_LABELS.get(metric, metric))
    if metric == "lr" and ax.lines and all(min(line.get_ydata()) > 0 for line in ax.lines):
        ax.set_yscale("log")
    ax.grid(alpha=0.3)


def draw_bars(ax, rows, metrics=("best_val_accuracy", "test_accuracy")):
    """Grouped bars of each results row's `<metric>_mean` with `<metric>_std` error bars."""
    x = np.arange(len(rows))
    width = 0.8 / len(metrics)
    for index, metric in enumerate(metrics):
        means = [np.nan if row.get(f"{metric}_mean") is None else row[f"{metric}_mean"] for row in rows]
        stds = [row.get(f"{metric}_std") or 0.0 for row in rows]
        ax.bar(x + (index - (len(metrics) - 1) / 2) * width, means, width, yerr=stds if any(stds) else None, capsize=3,
               label=METRIC_LABELS.get(metric, metric))
    ax.set_xticks(x, [row["label"] for row in rows], rotation=45, ha="right", fontsize="small")
    runs = sorted({row.get("runs") for row in rows if row.get("runs")})
    ax.set_ylabel("accuracy" + (f" (mean ± std, {'/'.join(map(str, runs))} seeds)" if runs != [1] else ""))
    ax.grid(axis="y", alpha=0.3)


def plot_runs(runs, *, panels=("loss", "accuracy"), title=None) -> Figure:
    """Several runs overlaid, one panel per quantity: training dashed, validation solid.

    Args:
        runs: dict label -> history rows (`plots.history.read_history`), or a list of them
            (seeds of one setting: drawn as mean ± std).
        panels: quantities; each draws its training column (`accuracy` falls back to
            `mixup_accuracy`) and `val_<quantity>` when present. Default ("loss", "accuracy").
        title: str or None.

    Returns:
        A matplotlib Figure with one Axes per panel; line labels "<run> train" and
        "<run> validation".

    Example:
        >>> fig = plot_runs({"sgd": read_history("a/history.csv"), "adam": read_history("b/history.csv")})
    """
    fig = Figure(figsize=(5.0 * len(panels), 4.0), layout="constrained")
    for index, panel in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), index + 1)
        rows = [row for history in runs.values() for seed in _as_seeds(history) for row in seed]
        train_key = "mixup_accuracy" if panel == "accuracy" and not any("accuracy" in r for r in rows) else panel
        draw_curves(ax, runs, train_key, style="--", suffix=" train")
        if any(f"val_{panel}" in r for r in rows):
            draw_curves(ax, runs, f"val_{panel}", suffix=" validation")
        ax.set_ylabel(panel)
        ax.legend(fontsize="small")
    if title:
        fig.suptitle(title)
    return fig


def plot_results(rows, *, metrics=("best_val_accuracy", "test_accuracy"), title=None) -> Figure:
    """Bars of an experiment's results rows (`experiments.read_results`): mean ± std per cell.

    Example:
        >>> plot_results(read_results("exp/orderings/results.csv")).savefig("bars.png")
    """
    fig = Figure(figsize=(max(5.0, 0.7 * len(rows) + 2), 4.5), layout="constrained")
    ax = fig.add_subplot()
    draw_bars(ax, rows, metrics)
    ax.legend(fontsize="small")
    if title:
        ax.set_title(title)
    return fig


def plot_experiment(histories, rows, *, curves=("val_accuracy", "val_loss"), title=None) -> Figure:
    """An experiment's figure: per model (row), its cells' curves, then mean ± std bars.

    Args:
        histories: dict group (model preset) -> dict cell label -> list of history rows per seed.
        rows: results rows (dicts with group, label, <metric>_mean, <metric>_std, runs).
        curves: history columns drawn, one panel each. Default ("val_accuracy", "val_loss").
        title: str or None.

    Returns:
        A matplotlib Figure with len(groups) x (len(curves) + 1) Axes; each row's first
        panel is titled with its group.

    Example:
        >>> fig = plot_experiment({"resnet24": {"SGD": [rows]}}, read_results("results.csv"))
    """
    groups = list(dict.fromkeys([row["group"] for row in rows] + list(histories)))
    fig = Figure(figsize=(4.2 * (len(curves) + 1), 3.8 * max(len(groups), 1)), layout="constrained")
    axes = fig.subplots(max(len(groups), 1), len(curves) + 1, squeeze=False)
    for row_axes, group in zip(axes, groups):
        for ax, metric in zip(row_axes, curves):
            draw_curves(ax, histories.get(group, {}), metric)
        row_axes[0].set_title(group, loc="left", fontweight="bold")
        if row_axes[0].lines:
            row_axes[0].legend(fontsize="x-small")
        draw_bars(row_axes[-1], [row for row in rows if row["group"] == group])
        row_axes[-1].legend(fontsize="x-small")
    if title:
        fig.suptitle(title)
    return fig
