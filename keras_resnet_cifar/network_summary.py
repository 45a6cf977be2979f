"""A per-stage table of a network and its architecture drawing (the study's Figure 14)."""
import importlib.util
import shutil

from keras_resnet_cifar.memory import available_bytes, check_fits
from keras_resnet_cifar.params import count_network
from keras_resnet_cifar.errors import UserFileNotFoundError


def format_summary(spec):
    """The table `keras-resnet-cifar summary` prints: one row per stage, then the totals."""
    count = count_network(spec)
    lines = [f"{'part':<8} {'blocks':>6} {'width':>6} {'output':>9} {'trainable':>12} {'MACs':>15}"]
    for row in count.rows:
        size = f"{row.output_size[0]}x{row.output_size[1]}"
        blocks = row.blocks if row.blocks else "-"
        lines.append(f"{row.name:<8} {blocks:>6} {row.width:>6} {size:>9} {row.params:>12,} {row.macs:>15,}")
    lines += [
        f"block order {spec.block_order}, activation {spec.activation}, kernels {list(spec.kernel_size)}, "
        f"skip kernel {spec.skip_kernel}, pool {spec.pool_size}",
        f"Trainable params: {count.trainable:,}",
        f"Non-trainable params: {count.non_trainable:,} (BatchNorm moving statistics)",
        f"MACs per image: {count.macs:,}",
    ]
    return "\n".join(lines)


def plot_architecture(spec, path):
    """Draw the built network with `keras.utils.plot_model`, or explain what to install."""
    if importlib.util.find_spec("pydot") is None or shutil.which("dot") is None:
        raise UserFileNotFoundError(
            "plotting the architecture needs pydot and Graphviz's `dot` program: "
            f"pydot {'found' if importlib.util.find_spec('pydot') else 'missing'}, "
            f"dot {'found' if shutil.which('dot') else 'missing'}. Install them with "
            "`pip install pydot` and `apt-get install graphviz` (or `brew install graphviz`, `conda install graphviz`)"
        )
    # Lazy: Keras and TensorFlow, which the table (and `summary --help`) must not load.
    import keras

    from keras_resnet_cifar.model import build_from_spec

    check_fits(spec, available_bytes())  # build_from_spec only makes layers: refuse an absurd width first
    keras.utils.plot_model(build_from_spec(spec), to_file=str(path), show_shapes=True,
                           show_layer_names=True, dpi=72)
