"""Typed, frozen run configuration: model, data and optimization, stored as `config.json`.

Every run directory keeps the config that produced it, so a run describes itself
and its model can be rebuilt from it. Study defaults (Table 4): ResNet24, SGD with
Nesterov momentum 0.9, lr 0.1, weight decay 1e-3, exponential decay 0.9 per epoch,
batch 128, 50 epochs.
"""
import dataclasses
import json

from keras_resnet_cifar.constants import CIFAR10_MEAN, CIFAR10_STD
from keras_resnet_cifar.presets import get_preset


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """`build_resnet` keyword arguments (see its docstring)."""

    blocks: tuple = (3, 3, 2, 3)
    channels: tuple = (64, 128, 128, 256)
    kernel_size: int | tuple = 3
    skip_kernel: int = 1
    pool_size: int = 4
    block_order: str = "a"
    activation: str = "relu"
    activation_coef: float | None = None
    l1: float = 0.0
    bn_momentum: float = 0.9
    bn_epsilon: float = 1e-5
    num_classes: int = 10

    @classmethod
    def from_preset(cls, name, **overrides):
        return cls(**{**get_preset(name), **overrides})

    def builder_kwargs(self, l2=0.0):
        """Arguments for `build_resnet`; `l2` comes from the optimization's coupled weight decay."""
        kwargs = dataclasses.asdict(self)
        return {**kwargs, "blocks": list(self.blocks), "channels": list(self.channels), "l2": l2}


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Where the images come from, the split, and the training-time augmentation."""

    source: str = "tfds"  # "tfds", an image-folder tree, a .tar.gz/.zip of one, or cifar-10-python.tar.gz
    data_dir: str | None = None  # tfds data_dir, or the cache for extracted archives
    val_fraction: float = 0.1
    train_subset: int | None = None
    resize: bool = False  # image folders: resize other sizes to 32x32 instead of refusing them
    normalize: bool = True
    mean: tuple = CIFAR10_MEAN
    std: tuple = CIFAR10_STD
    crop: bool = True
    pad: int = 4
    hflip: bool = True
    vflip: bool = False
    noise_std: float = 0.0
    cutout: int = 0
    mixup_alpha: float = 0.0
    label_smoothing: float = 0.0


@dataclasses.dataclass(frozen=True)
class OptimConfig:
    """Optimizer, learning-rate schedule and the length of training."""

    optimizer: str = "sgdn"  # sgd, sgdn, adagrad, adadelta, adam, adamw
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 1e-3  # coupled L2 (PyTorch semantics: l2 = wd / 2) unless decoupled
    decoupled_weight_decay: bool = False
    schedule: str = "exp"  # exp, step, cosine_restarts, plateau, cosine, constant
    gamma: float = 0.9  # exp: factor per epoch
    step_gamma: float = 0.1  # step: factor every step_epochs
    step_epochs: int = 20
    restart_epochs: int = 20
    restart_mult: float = 2.0
    min_lr: float = 0.0  # cosine and cosine_restarts: the floor of each period
    plateau_patience: int = 3
    plateau_factor: float = 0.5
    warmup_epochs: int = 0
    epochs: int = 50
    batch_size: int = 128
    early_stopping_patience: int | None = None


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """A whole run: model, data, optimization and how to execute it."""

    model: ModelConfig = ModelConfig()
    data: DataConfig = DataConfig()
    optim: OptimConfig = OptimConfig()
    seed: int = 0
    deterministic: bool = False
    mixed_precision: str = "auto"  # auto (float16 where the GPU supports it), on, off, bf16
    jit_compile: str = "auto"  # auto, on, off
    steps_per_execution: int = 1
    strategy: str = "auto"  # auto, one, mirrored, multiworker
    histogram_freq: int = 1  # TensorBoard weight histograms every N epochs (0: none)
    verbose: int = 1  # Keras progress: 0 silent, 1 bar, 2 one line per epoch

    def to_dict(self):
        return dataclasses.asdict(self)

    def to_json(self):
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data):
        """Rebuild from `to_dict()` output; unknown keys are an error naming them."""
        data = dict(data)
        parts = {"model": ModelConfig, "data": DataConfig, "optim": OptimConfig}
        kwargs = {}
        for key, value in data.items():
            if key in parts:
                kwargs[key] = _make(parts[key], value, key)
            elif key in _field_names(cls):
                kwargs[key] = value
            else:
                raise ValueError(f"config: received unknown key {key!r}; accepted: {sorted(_field_names(cls))}")
        return cls(**kwargs)

    @classmethod
    def from_json(cls, text):
        return cls.from_dict(json.loads(text))

    def replace(self, **sections):
        """A copy with fields replaced, e.g. replace(optim={"lr": 0.05}, seed=1)."""
        changes = {}
        for key, value in sections.items():
            if isinstance(value, dict):
                changes[key] = dataclasses.replace(getattr(self, key), **value)
            else:
                changes[key] = value
        return dataclasses.replace(self, **changes)


def _field_names(cls):
    return {f.name for f in dataclasses.fields(cls)}


def _make(cls, value, section):
    unknown = set(value) - _field_names(cls)
    if unknown:
        raise ValueError(f"config.{section}: received unknown keys {sorted(unknown)}; accepted: {sorted(_field_names(cls))}")
    fixed = {k: tuple(v) if isinstance(v, list) else v for k, v in value.items()}
    return cls(**fixed)


def config_diff(old, new, prefix=""):
    """Differences between two config dicts as 'key: old -> new' lines (for refusing a resume)."""
    lines = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            lines += config_diff(a, b, f"{prefix}{key}.")
        elif _normal(a) != _normal(b):
            lines.append(f"{prefix}{key}: {a!r} -> {b!r}")
    return lines


def _normal(value):
    return list(value) if isinstance(value, tuple) else value
