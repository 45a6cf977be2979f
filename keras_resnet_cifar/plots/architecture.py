"""The study's Figure 14: the network drawn by `keras.utils.plot_model`, as a matplotlib Figure."""
import os
import tempfile

from matplotlib.figure import Figure
from matplotlib.image import imread

from keras_resnet_cifar.network_summary import plot_architecture


def architecture_figure(spec) -> Figure:
    """A Figure holding `plot_model`'s drawing of `spec`'s network at its own pixel size.

    Args:
        spec: a `ResNetSpec`.

    Returns:
        A matplotlib Figure (100 dpi, one figure pixel per drawing pixel). Needs pydot and Graphviz's
        `dot` (`network_summary.plot_architecture` says how to install them).

    Example:
        >>> architecture_figure(ResNetSpec.from_preset("tiny")).savefig("architecture.png")
    """
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "architecture.png")
        plot_architecture(spec, path)
        image = imread(path)
    fig = Figure(figsize=(image.shape[1] / 100, image.shape[0] / 100), dpi=100)
    fig.figimage(image)
    return fig
