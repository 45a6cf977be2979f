"""The study's Figure 15: a confusion matrix, rows the true class, columns the predicted one."""
import numpy as np
from matplotlib.figure import Figure

from keras_resnet_cifar.training.rundir import Run
from keras_resnet_cifar.errors import UserError


def plot_confusion(matrix, class_names, *, title="Confusion matrix (test)"):
    """Draw `matrix` (rows true, columns predicted) with its counts written in each cell.

    Args:
        matrix: (K, K) array of counts, e.g. from `evaluate.confusion_matrix`.
        class_names: K names, label order.
        title: str. Default "Confusion matrix (test)".

    Returns:
        A matplotlib `Figure`.

    Example:
        >>> fig = plot_confusion([[5, 1], [0, 4]], ["cat", "dog"])
        >>> fig.savefig("confusion.png")
    """
    matrix = np.asarray(matrix)
    k = len(class_names)
    if matrix.shape != (k, k):
        raise UserError(f"confusion: received a {matrix.shape} matrix for {k} class names; "
                         "pass one row and one column per class")
    size = max(4.0, 0.55 * k + 2)
    fig = Figure(figsize=(size + 1, size))
    ax = fig.add_subplot()
    image = ax.imshow(matrix, cmap="Blues")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(k), class_names, rotation=45, ha="right")
    ax.set_yticks(range(k), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    threshold = matrix.max() / 2 if matrix.size else 0
    for row in range(k):
        for col in range(k):
            ax.text(col, row, str(matrix[row, col]), ha="center", va="center", fontsize=8,
                    color="white" if matrix[row, col] > threshold else "black")
    fig.tight_layout()
    return fig


def plot_run_confusion(run_dir) -> Figure:
    """The test confusion matrix a finished run recorded in its metrics.json, with its class names."""
    run = Run.open(run_dir)
    metrics = run.metrics()
    names = run.class_names(len(metrics["confusion_matrix"]))
    return plot_confusion(metrics["confusion_matrix"], names, title=f"Confusion matrix, {metrics.get('num_test', '')} "
                                                                    f"test images ({metrics.get('data_source')})")
