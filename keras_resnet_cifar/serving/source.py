"""What an export starts from: a run directory or a `.keras` file, with its normalization and class names."""
import dataclasses
import json
import os

from keras_resnet_cifar.config import DataConfig
from keras_resnet_cifar.constants import CIFAR10_CLASSES, CIFAR10_MEAN, CIFAR10_STD

_ACCEPTED = ("a run directory holding best.keras (with config.json and class_names.json beside it), "
             "or a Keras 3 model file MODEL.keras")


@dataclasses.dataclass(frozen=True)
class ExportSource:
    """A loaded model and what the serving signatures need to know about its training."""

    model: object  # keras.Model outputting logits
    model_path: str
    class_names: tuple
    normalize: bool
    mean: tuple
    std: tuple
    train_config: dict | None  # the run's config.json, copied beside the export
    notes: tuple = ()  # defaults taken, for the user to read


def load_source(source):
    """Load `source` (a run directory or a `.keras` file) with its preprocessing and class names.

    Args:
        source: path of a run directory containing `best.keras`, or of a `MODEL.keras` file.
            `config.json` and `class_names.json` are read from the same folder; when absent,
            the CIFAR-10 mean/std and class names are used and `notes` says so.

    Example:
        source = load_source("runs/resnet24")
        source.model, source.class_names, source.mean
    """
    source = os.fspath(source)
    if os.path.isdir(source):
        folder, model_path = source, os.path.join(source, "best.keras")
        if not os.path.isfile(model_path):
            raise FileNotFoundError(f"source: {source} has no best.keras; accepted: {_ACCEPTED}. "
                                    "Did the training run finish its first epoch?")
    elif os.path.isfile(source):
        if not source.endswith(".keras"):
            raise ValueError(f"source: received {source}; accepted: {_ACCEPTED}. Weights-only or legacy "
                             "files (.h5, .weights.h5) do not carry the architecture: save with model.save('m.keras')")
        folder, model_path = os.path.dirname(source) or ".", source
    else:
        raise FileNotFoundError(f"source: {source} does not exist; accepted: {_ACCEPTED}")

    notes = []
    model = _load_model(model_path)
    _refuse_non_finite(model, model_path)
    model = _as_float32(model, notes)
    train_config = _read_json(os.path.join(folder, "config.json"), dict)
    normalize, mean, std = _preprocessing(train_config, folder, notes)
    class_names = _class_names(folder, int(model.output_shape[-1]), notes)
    return ExportSource(model, model_path, class_names, normalize, mean, std, train_config, tuple(notes))


def _load_model(path):
    import keras

    import keras_resnet_cifar.layers  # noqa: F401  registers the package's custom layers for loading

    try:
        model = keras.saving.load_model(path, compile=False)
    except Exception as error:  # Keras raises many types for a damaged or foreign file
        raise ValueError(f"source: {path} is not a loadable Keras model ({type(error).__name__}: "
                         f"{str(error).splitlines()[0] if str(error) else ''}); accepted: {_ACCEPTED}") from None
    input_shape, output_shape = tuple(model.input_shape), tuple(model.output_shape)
    if len(input_shape) != 4 or input_shape[-1] != 3 or None in input_shape[1:] or len(output_shape) != 2:
        raise ValueError(f"source: {path} maps {input_shape} to {output_shape}; accepted: a model from "
                         "image batches (None, H, W, 3) to logits (None, num_classes), as build_resnet makes")
    return model


def _refuse_non_finite(model, path):
    """Refuse a model with NaN or infinite weights (a diverged run): served, it would answer NaN."""
    import numpy as np

    bad = []
    for variable in model.weights:
        values = np.asarray(variable.numpy())
        count = values.size - int(np.count_nonzero(np.isfinite(values)))
        if count:
            bad.append(f"{variable.path} holds {count} NaN/inf values of {values.size}")
    if bad:
        more = f" (and {len(bad) - 1} more variable{'s' if len(bad) > 2 else ''})" if len(bad) > 1 else ""
        raise ValueError(f"source: {path} has non-finite weights: {bad[0]}{more}; the training diverged and the "
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


def _read_json(path, kind):
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (ValueError, UnicodeDecodeError) as error:
        raise ValueError(f"source: {path} is not valid JSON ({error}); fix or delete it") from None
    if not isinstance(data, kind):
        raise ValueError(f"source: {path} holds a {type(data).__name__}; accepted: a JSON {kind.__name__}")
    return data


def _preprocessing(train_config, folder, notes):
    """(normalize, mean, std) from config.json's "data" section, or the CIFAR-10 defaults."""
    if train_config is None:
        notes.append(f"no config.json in {folder}: assuming the CIFAR-10 normalization "
                     f"mean={CIFAR10_MEAN} std={CIFAR10_STD}")
        return True, tuple(CIFAR10_MEAN), tuple(CIFAR10_STD)
    data = train_config.get("data", {})
    defaults = DataConfig()
    missing = [key for key in ("normalize", "mean", "std") if key not in data]
    if missing:
        notes.append(f"config.json has no data.{'/'.join(missing)}: using DataConfig's defaults for them")
    normalize = bool(data.get("normalize", defaults.normalize))
    mean, std = data.get("mean", defaults.mean), data.get("std", defaults.std)
    valid = all(isinstance(v, (list, tuple)) and len(v) == 3 and all(isinstance(c, (int, float)) for c in v)
                for v in (mean, std))
    if not valid or (normalize and min(std) <= 0):
        raise ValueError(f"source: config.json data.mean={mean!r} data.std={std!r}; accepted: three numbers "
                         "each, std > 0, in [0, 1] pixel units, e.g. mean [0.4914, 0.4822, 0.4465]")
    return normalize, tuple(float(c) for c in mean), tuple(float(c) for c in std)


def _class_names(folder, num_classes, notes):
    path = os.path.join(folder, "class_names.json")
    names = _read_json(path, list)
    if names is None:
        if num_classes != len(CIFAR10_CLASSES):
            raise FileNotFoundError(f"source: no class_names.json in {folder} and the model has {num_classes} "
                                    f"classes, not CIFAR-10's {len(CIFAR10_CLASSES)}; write a JSON list of "
                                    f"{num_classes} names, in label order, to {path}")
        notes.append(f"no class_names.json in {folder}: using the CIFAR-10 class names")
        return tuple(CIFAR10_CLASSES)
    if len(names) != num_classes or not all(isinstance(name, str) and name for name in names):
        raise ValueError(f"source: {path} holds {len(names)} entries {names[:12]}; accepted: {num_classes} "
                         "non-empty strings (the model's output size), in label order")
    return tuple(names)
