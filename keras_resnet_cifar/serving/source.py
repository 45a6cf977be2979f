"""What an export starts from: a run directory or a `.keras` file, with its normalization and class names."""
import dataclasses

from keras_resnet_cifar.config import DataConfig
from keras_resnet_cifar.training.divergence import non_finite_weights
from keras_resnet_cifar.training.rundir import Run
from keras_resnet_cifar.errors import UserError


@dataclasses.dataclass(frozen=True)
class ExportSource:
    """A loaded model and what the serving signatures need to know about its training."""

    model: object  # keras.Model outputting logits
    model_path: str
    class_names: tuple
    data: DataConfig  # its preprocessing (`pixel_affine`) is baked into the signatures
    train_config: dict | None  # the run's config.json, copied beside the export
    notes: tuple = ()  # defaults taken, for the user to read


def load_source(source):
    """Load `source` (a run directory or a `.keras` file) with its preprocessing and class names.

    Args:
        source: path of a run directory containing `best.keras`, or of a `MODEL.keras` file.
            `config.json` and `class_names.json` are read from the same folder (`rundir.Run`); when
            absent, the CIFAR-10 normalization and class names are used and `notes` says so.

    Example:
        source = load_source("runs/resnet24")
        source.model, source.class_names, source.data.pixel_affine()
    """
    run = Run.open(source)
    notes = []
    model = run.load_model()
    _check_shapes(model, run.model_path)
    _refuse_non_finite(model, run.model_path)
    model = _as_float32(model, notes)
    config = run.config()
    if config is None:
        notes.append(f"no config.json in {run.folder}: assuming the CIFAR-10 normalization of DataConfig()")
    class_names = run.class_names(int(model.output_shape[-1]), notes)
    return ExportSource(model, run.model_path, class_names, config.data if config else DataConfig(),
                        config.to_dict() if config else None, tuple(notes))


def _check_shapes(model, path):
    input_shape, output_shape = tuple(model.input_shape), tuple(model.output_shape)
    if len(input_shape) != 4 or input_shape[-1] != 3 or None in input_shape[1:] or len(output_shape) != 2:
        raise UserError(f"source: {path} maps {input_shape} to {output_shape}; accepted: a model from "
                         "image batches (None, H, W, 3) to logits (None, num_classes), as build_resnet makes")


def _refuse_non_finite(model, path):
    """Refuse a model with NaN or infinite weights (a diverged run): served, it would answer NaN."""
    bad = [f"{path} holds {count} NaN/inf values of {size}" for path, count, size in non_finite_weights(model)]
    if bad:
        more = f" (and {len(bad) - 1} more variable{'s' if len(bad) > 2 else ''})" if len(bad) > 1 else ""
        raise UserError(f"source: {path} has non-finite weights: {bad[0]}{more}; the training diverged and the "
                         "export would answer NaN. Accepted: a model with finite weights. Train again with a lower "
                         "--lr or --mixed-precision off, or export a model saved before the loss diverged")


def _as_float32(model, notes):
    """The model rebuilt to compute in float32 with the same weights, if it was saved under mixed precision.

    A run trained with mixed_float16 on a GPU saves that policy in every layer; served on
    CPU it would compute (and return logits) in float16: slower there and less precise.
    """
    policies = sorted({layer.dtype_policy.name for layer in model.layers if layer.dtype_policy.compute_dtype != "float32"})
    if not policies:
        return model
    config = model.get_config()
    for layer in config["layers"]:
        layer["config"]["dtype"] = "float32"
    rebuilt = type(model).from_config(config)
    rebuilt.set_weights(model.get_weights())
    notes.append(f"the model was saved under the {', '.join(policies)} dtype policy: exported computing in "
                 "float32 with the same weights")
    return rebuilt
