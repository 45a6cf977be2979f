"""The study's Figure 7: the five activations of Table 3, each drawn for its coefficient grid."""
import numpy as np
from matplotlib.figure import Figure

from keras_resnet_cifar.experiments.grids import ACTIVATION_GRID
from keras_resnet_cifar.layers import activation
from keras_resnet_cifar.spec import ResNetSpec
from keras_resnet_cifar.errors import UserError

_TITLES = {"relu": "ReLU", "relu6": "ReLU6", "leaky_relu": "Leaky ReLU", "elu": "ELU", "swish": "Swish"}
_COEF_SYMBOL = {"leaky_relu": "γ (slope)", "elu": "γ (alpha)", "swish": "γ (beta)"}


def activation_curve(name, coef, x):
    """Values of the network's own activation layer `name` with coefficient `coef` at points `x`.

    Uses the layer factory the builder uses, so the figure shows what the network computes.

    Args:
        name: str, an activation of `spec.ACTIVATIONS` ("relu", "relu6", "leaky_relu", "elu", "swish").
        coef: float or None, leaky_relu's slope, elu's alpha or swish's beta; None for the default.
        x: 1-D array of inputs.

    Returns:
        A float32 numpy array shaped like `x`.

    Example:
        >>> activation_curve("relu6", None, np.array([-1.0, 3.0, 9.0])).tolist()
        [0.0, 3.0, 6.0]
    """
    spec = ResNetSpec(blocks=(1,), channels=(1,), activation=name, activation_coef=coef)
    layer = activation(spec, "curve")
    return np.asarray(layer(np.asarray(x, dtype="float32")[:, None])).reshape(-1)


def plot_activations(grid=None, *, x_range=(-6.0, 8.0), points=281) -> Figure:
    """One panel per activation of Table 3, one curve per coefficient (the study's Figure 7).

    Args:
        grid: dict activation name -> tuple of coefficients (None: the default, or the only
            curve of an activation without one). Default: `experiments.ACTIVATION_GRID`, the
            grid the `activations` experiment trains.
        x_range: (low, high) input range. Default (-6, 8), wide enough to show ReLU6's cap.
        points: int, samples along x. Default 281.

    Returns:
        A matplotlib Figure with one Axes per activation, titled with its name; each curve's
        legend label gives its coefficient.

    Example:
        >>> fig = plot_activations({"relu": (None,), "elu": (0.5, 1.0)})
        >>> [ax.get_title() for ax in fig.axes]
        ['ReLU', 'ELU']
    """
    grid = ACTIVATION_GRID if grid is None else grid
    low, high = x_range
    if not low < high:
        raise UserError(f"x_range: received {x_range!r}; accepted: (low, high) with low < high, e.g. (-6, 8)")
    x = np.linspace(low, high, points, dtype="float32")
    fig = Figure(figsize=(3.2 * len(grid), 3.2), layout="constrained")
    axes = fig.subplots(1, len(grid), squeeze=False)[0]
    for ax, (name, coefs) in zip(axes, grid.items()):
        for coef in coefs:
            label = name if coef is None else f"{_COEF_SYMBOL.get(name, 'coef')} = {coef:g}"
            ax.plot(x, activation_curve(name, coef, x), label=label)
        ax.axhline(0, color="0.7", linewidth=0.8)
        ax.axvline(0, color="0.7", linewidth=0.8)
        ax.set_title(_TITLES.get(name, name))
        ax.set_xlabel("x")
        ax.legend(fontsize="small")
    axes[0].set_ylabel("activation(x)")
    return fig
