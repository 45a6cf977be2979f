"""The study's Figure 12: the distribution of each stage's kernel weights, epoch after epoch.

Reads the per-epoch samples training saves in RUN_DIR/weights/epoch_XXX.npz (format:
`keras_resnet_cifar.training.callbacks`): one panel per group (stem, stage1..N, head), one
histogram per epoch, coloured from early (dark) to late (bright).
"""
import glob
import os

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from keras_resnet_cifar.training.rundir import WEIGHT_SAMPLES
from keras_resnet_cifar.errors import UserError, UserFileNotFoundError


def read_weight_samples(run_dir):
    """The run's per-epoch samples: a list, by epoch, of {"epoch": int, "groups": {name: values}}.

    Args:
        run_dir: a training run directory (holding weights/epoch_XXX.npz).

    Returns:
        list of dicts sorted by epoch; values are float32 arrays.

    Example:
        >>> [s["epoch"] for s in read_weight_samples("runs/main")][:3]
        [1, 2, 3]
    """
    paths = sorted(glob.glob(os.path.join(os.fspath(run_dir), WEIGHT_SAMPLES, "epoch_*.npz")))
    if not paths:
        raise UserFileNotFoundError(
            f"weights: received {os.fspath(run_dir)!r}, which holds no weights/epoch_*.npz; accepted: a run "
            "directory written by `train` (it saves one file per epoch)")
    samples = []
    for path in paths:
        with np.load(path) as archive:
            groups = [str(g) for g in archive["groups"]]
            samples.append({"epoch": int(archive["epoch"]), "groups": {g: archive[g] for g in groups}})
    return sorted(samples, key=lambda s: s["epoch"])


def plot_weights(run, *, max_epochs=10, bins=60) -> Figure:
    """Per-group kernel-weight histograms across epochs (Figure 12).

    Args:
        run: a run directory, or `read_weight_samples` output.
        max_epochs: int >= 1, at most this many epochs drawn, evenly spaced, first and
            last included. Default 10.
        bins: int, histogram bins (shared by every epoch of a group). Default 60.

    Returns:
        A matplotlib Figure with one Axes per group, titled with the group's name, one
        line per drawn epoch labelled "epoch N".

    Example:
        >>> plot_weights("runs/main").savefig("weights.png")
    """
    samples = read_weight_samples(run) if isinstance(run, (str, os.PathLike)) else list(run)
    if isinstance(max_epochs, bool) or not isinstance(max_epochs, int) or max_epochs < 1:
        raise UserError(f"max_epochs: received {max_epochs!r}; accepted: an integer >= 1")
    picks = np.unique(np.linspace(0, len(samples) - 1, min(max_epochs, len(samples))).round().astype(int))
    chosen = [samples[i] for i in picks]
    groups = list(chosen[-1]["groups"])
    colors = colormaps["viridis"](np.linspace(0.0, 0.9, len(chosen)))
    columns = min(len(groups), 3)
    rows = -(-len(groups) // columns)
    fig = Figure(figsize=(4.2 * columns, 3.2 * rows), layout="constrained")
    for index, group in enumerate(groups):
        ax = fig.add_subplot(rows, columns, index + 1)
        values = [s["groups"][group] for s in chosen if group in s["groups"]]
        pooled = np.concatenate(values)
        # Few values (the head, a tiny model) get fewer bins, so the shape stays readable.
        edges = np.histogram_bin_edges(pooled, bins=int(min(bins, max(10, np.sqrt(pooled.size / len(values))))))
        for color, sample in zip(colors, chosen):
            if group in sample["groups"]:
                density, _ = np.histogram(sample["groups"][group], bins=edges, density=True)
                ax.stairs(density, edges, color=color, label=f"epoch {sample['epoch']}")
        ax.set_title(group)
        ax.set_xlabel("kernel value")
        ax.set_ylabel("density")
    fig.axes[-1].legend(fontsize="x-small")
    fig.suptitle("Kernel weight distribution per stage across epochs")
    return fig
