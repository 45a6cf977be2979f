"""The run configuration, one frozen self-checking config per concern, stored as `config.json`.

    TrainConfig
      model: ResNetSpec (the network; spec.py)
      data:  DataConfig, with augment: AugmentConfig
      optim: OptimConfig
      seed, deterministic, mixed_precision, ... (how the run executes)

Each setting is written once, as an `option` (fields.py): its default, check and help. Constructing a
config checks it and stores canonical values, so a config that exists is valid; the CLI's flags are made
from the same fields (cli/options.py). Study defaults (Table 4): ResNet24, SGD with Nesterov momentum 0.9,
lr 0.1, weight decay 1e-3, exponential decay 0.9 per epoch, batch 128, 50 epochs.
"""
import dataclasses
import json
from typing import ClassVar

from keras_resnet_cifar.constants import CIFAR10_MEAN, CIFAR10_STD
from keras_resnet_cifar.fields import Bool, Choice, Config, Int, Optional, Real, Sequence, Text, option, section
from keras_resnet_cifar.optimizer_table import MOMENTUM_OPTIMIZERS, OPTIMIZER_TABLE, OPTIMIZERS
from keras_resnet_cifar.spec import ResNetSpec
from keras_resnet_cifar.errors import UserError, UserTypeError

# The model config's older name: the class is ResNetSpec (spec.py), under which the package uses it;
# kept importable (here and from the package) because scripts and the README wrote `ModelConfig`.
ModelConfig = ResNetSpec
RECORDED = "recorded"  # config.json's key for what a run recorded beside its config (backend, device): not a setting

SCHEDULES = ("exp", "step", "cosine_restarts", "plateau", "cosine", "constant", "onecycle", "triangular")
PAD_MODES = ("zeros", "reflect")
PRECISIONS = ("auto", "on", "off", "bf16")
SWITCHES = ("auto", "on", "off")
STRATEGIES = ("auto", "one", "mirrored", "multiworker")
MUON_OPTIONS = ("muon_lr", "muon_momentum", "muon_ns_steps")  # OptimConfig fields only optimizer "muon" reads

_NON_NEGATIVE = Real("a number >= 0", lambda v: v >= 0)
_FRACTION = Real("a number in [0, 1)", lambda v: 0 <= v < 1)


@dataclasses.dataclass(frozen=True)
class AugmentConfig(Config):
    """Training-time augmentation; the defaults are the study's final recipe (crop + hflip).

    Order: crop -> hflip -> vflip -> [0, 1] -> normalize -> noise -> cutout, then mixup of the batch.

    Example:
        >>> AugmentConfig(vflip=True, noise_std=0.1).crop
        True
    """

    PATH: ClassVar[str] = "data.augment"

    crop: bool = option(True, Bool(), "random crop of the input size after zero padding, per image")
    pad: int = option(4, Int(0), "zero padding on each side before the crop")
    pad_mode: str = option("zeros", Choice(PAD_MODES), "what the crop's padding holds: zeros, or "
                           "reflect (the image mirrored at its border, airbench's translation)")
    hflip: bool = option(True, Bool(), "random left-right flip, p = 0.5")
    alternate_flip: bool = option(False, Bool(), "with hflip: each image is mirrored on alternate epochs, its first "
                                  "epoch's choice drawn once from the seed, instead of p = 0.5 every epoch (airbench)")
    vflip: bool = option(False, Bool(), "random upside-down flip, p = 0.5 (CIFAR objects are upright)")
    noise_std: float = option(0.0, _NON_NEGATIVE, "Gaussian noise std on normalized pixels (the study's "
                                                  "var = 1 is 1.0)")
    cutout: int = option(0, Int(0), "side of a zeroed square at a random centre per image; 0: off")
    mixup_alpha: float = option(0.0, _NON_NEGATIVE, "mixup of each batch with lambda ~ Beta(ALPHA, ALPHA); "
                                                    "0: off", aliases=("--mixup",))


@dataclasses.dataclass(frozen=True)
class DataConfig(Config):
    """Where the images come from, the split, the normalization and the training-time augmentation."""

    PATH: ClassVar[str] = "data"

    source: str = option("tfds", Text(), "tfds, an image-folder tree ROOT/{train,test}/<class>/*.png|jpg, a "
                         ".tar.gz/.zip of one (e.g. ../shared/data/cifar10-png.tar.gz), or cifar-10-python.tar.gz",
                         aliases=("--data",))
    data_dir: str | None = option(None, Optional(Text()), "tfds data_dir, or the cache for extracted archives; "
                                  "none: ~/.cache/keras_resnet_cifar")
    val_fraction: float = option(0.1, _FRACTION, "share of train held out for validation, stratified; 0: none")
    train_subset: int | None = option(None, Optional(Int(1)), "keep N training images, stratified; none: all")
    val_subset: int | None = option(None, Optional(Int(1)), "keep N validation images, stratified (the images "
                                    "that rank epochs and trials; a small search validates faster); none: all")
    resize: bool = option(False, Bool(), "image folders: resize other sizes to 32x32 instead of refusing them")
    normalize: bool = option(True, Bool(), "per-channel (x - mean) / std after scaling to [0, 1]")
    mean: tuple = option(CIFAR10_MEAN, Sequence(Real("a number"), length=3), "per-channel mean in [0, 1] units")
    std: tuple = option(CIFAR10_STD, Sequence(Real("a number > 0", lambda v: v > 0), length=3),
                        "per-channel std in [0, 1] units")
    tta: bool = option(False, Bool(), "test-time augmentation: average each test image's logits with its "
                                      "horizontal mirror's")
    tta_translate: int = option(0, Int(0), "test-time augmentation: also average the views shifted by +-N pixels "
                                "both ways (reflect padding), half the weight for the shifts (airbench: 1)")
    tta_share: float = option(1.0, Real("a number in (0, 1]", lambda v: 0 < v <= 1), "test-time augmentation: "
                              "only this share of the test images, the least confident first (smallest margin "
                              "between the top two logits of the plain view), gets the extra views; 1: all")
    augment: AugmentConfig = section(AugmentConfig, "augmentation")

    def pixel_affine(self):
        """(scale, offset), three floats each, with model input = uint8 pixel * scale - offset per channel:
        the one definition of the preprocessing (x / 255, then (x - mean) / std when normalizing) that the
        pipeline, evaluation, plots and the serving signatures apply.

        Example:
            >>> scale, offset = DataConfig(normalize=False).pixel_affine(); scale[0] == 1 / 255, offset
            (True, (0.0, 0.0, 0.0))
        """
        if not self.normalize:
            return (1.0 / 255.0,) * 3, (0.0,) * 3
        return (tuple(1.0 / (255.0 * s) for s in self.std), tuple(m / s for m, s in zip(self.mean, self.std)))


@dataclasses.dataclass(frozen=True)
class OptimConfig(Config):
    """Optimizer, loss, learning-rate schedule and the length of training."""

    PATH: ClassVar[str] = "optim"

    optimizer: str = option("sgdn", Choice(OPTIMIZERS), "; ".join(f"{name}: {kind.description}"
                                                              for name, kind in OPTIMIZER_TABLE.items()))
    lr: float = option(0.1, Real("a number > 0", lambda v: v > 0), "initial learning rate")
    momentum: float = option(0.9, _FRACTION, "sgd/sgdn momentum")
    weight_decay: float = option(1e-3, _NON_NEGATIVE, "coupled L2 (l2 = wd / 2, PyTorch's) unless "
                                                      "decoupled")
    decoupled_weight_decay: bool = option(False, Bool(), "decay in the optimizer (w -= lr * wd * w) instead of an "
                                                         "L2 loss; adamw always is")
    reference_batch: int | None = option(None, Optional(Int(1)), "sgd/sgdn: lr and weight_decay per N examples "
                                         "(airbench's decoupled form): Keras lr = lr * batch / (N * (1 + 1 / (1 - "
                                         "momentum))), and weight_decay / lr is added to every trainable variable's "
                                         "gradient (PyTorch's coupled decay, biases and BN included); "
                                         "none: lr is Keras's and weight_decay as below")
    bn_bias_lr_scale: float = option(1.0, Real("a number > 0", lambda v: v > 0), "sgd/sgdn: learning-rate factor "
                                     "of the BatchNorm offsets (beta); their decay is divided by it, so it scales "
                                     "the step only (airbench: 64)")
    whiten_bias_epochs: int | None = option(None, Optional(Int(0)), "sgd/sgdn: train the whitening stem's bias "
                                            "for the first N epochs only, then freeze it (airbench: 3; "
                                            "none: all epochs)")
    muon_lr: float = option(0.24, Real("a number > 0", lambda v: v > 0), "muon: the conv kernels' rate (the "
                            "orthogonalised step's size, whatever the batch or the loss's scale); the schedule "
                            "scales it as it scales lr (airbench94_muon: 0.24)")
    muon_momentum: float = option(0.6, _FRACTION, "muon: the conv kernels' Nesterov momentum (airbench94_muon: "
                                  "0.6; momentum is the other variables')")
    muon_ns_steps: int = option(3, Int(1, 10), "muon: Newton-Schulz iterations per step (airbench94_muon: 3)")
    lookahead_every: int = option(0, Int(0), "lookahead every N steps (airbench: 5; 0: off): average = a * "
                                  "average + (1 - a) * weights, then weights = average, a = 0.95**N * (step / "
                                  "total)**3, every N steps and at the end of each epoch")
    label_smoothing: float = option(0.0, _FRACTION, "label smoothing of the cross-entropy")
    schedule: str = option("exp", Choice(SCHEDULES), f"{', '.join(SCHEDULES)} (onecycle: per step, "
                           "linear from 0 to lr over warmup_epochs, then linear to 0 at the end)")
    gamma: float = option(0.9, Real("0 < gamma <= 1", lambda v: 0 < v <= 1), "exp: factor per epoch")
    step_gamma: float = option(0.1, Real("0 < step_gamma <= 1", lambda v: 0 < v <= 1),
                               "step: factor every step_epochs")
    step_epochs: int = option(20, Int(1), "step: epochs between steps")
    restart_epochs: int = option(20, Int(1), "cosine_restarts: first period in epochs")
    restart_mult: float = option(2.0, Real("a number >= 1", lambda v: v >= 1), "cosine_restarts: period growth")
    min_lr: float = option(0.0, _NON_NEGATIVE, "cosine schedules' floor")
    plateau_patience: int = option(3, Int(1), "plateau: epochs without a val-loss gain")
    plateau_factor: float = option(0.5, Real("0 < factor < 1", lambda v: 0 < v < 1), "plateau: factor")
    lr_peak_fraction: float = option(0.23, Real("a number in (0, 1)", lambda v: 0 < v < 1), "triangular: share of "
                                     "the steps spent rising to lr")
    lr_start_factor: float = option(0.2, _NON_NEGATIVE, "triangular: rate at step 0 as a multiple of lr")
    lr_end_factor: float = option(0.07, _NON_NEGATIVE, "triangular: rate at the last step as a multiple "
                                                       "of lr")
    warmup_epochs: int = option(0, Int(0), "linear warmup before the schedule")
    epochs: int = option(50, Int(1), "epochs to train")
    batch_size: int = option(128, Int(1), "global batch, split over replicas")
    ema_momentum: float = option(0.0, _FRACTION, "weight average (Keras optimizer EMA): after each step "
                                 "average = m * average + (1 - m) * weights; validation and best.keras use it; "
                                 "0: off")
    early_stopping_patience: int | None = option(None, Optional(Int(1)), "stop after N epochs without a better "
                                                 "validation accuracy; none: off", aliases=("--early-stopping",))

    def validate(self):
        for name in self.grouped_options():
            if self.optimizer not in MOMENTUM_OPTIMIZERS:
                raise UserError(f"optim.{name}: set with optimizer {self.optimizer!r}; accepted: optimizer "
                                 f"{' or '.join(MOMENTUM_OPTIMIZERS)}, or {name} left at its default "
                                 f"(--{name.replace('_', '-')}, --optimizer)")
        if self.optimizer != "muon":
            defaults = {f.name: f.default for f in dataclasses.fields(self)}
            for name in MUON_OPTIONS:
                if getattr(self, name) != defaults[name]:
                    raise UserError(f"optim.{name}: set with optimizer {self.optimizer!r}; accepted: optimizer "
                                    f"'muon', or {name} left at its default (--{name.replace('_', '-')}, "
                                    "--optimizer)")
        if self.optimizer == "muon" and self.decoupled_weight_decay:
            raise UserError("optim.decoupled_weight_decay: received true with optimizer 'muon', which normalises "
                            "its conv kernels instead of decaying them and decays the rest in PyTorch's coupled "
                            "form; accepted: false (drop --decoupled-weight-decay, or --optimizer sgdn/adamw)")
        if self.reference_batch is not None and self.decoupled_weight_decay:
            raise UserError("optim.decoupled_weight_decay: received true with reference_batch set, whose weight "
                             "decay is PyTorch's coupled one; accepted: one of the two (--decoupled-weight-decay, "
                             "--reference-batch)")
        if self.min_lr >= self.lr:
            raise UserError(f"optim.min_lr: received {self.min_lr!r} for lr {self.lr!r}; accepted: 0 <= min_lr < lr "
                             "(--min-lr, --lr)")
        if self.warmup_epochs >= self.epochs:
            raise UserError(f"optim.warmup_epochs: received {self.warmup_epochs} for {self.epochs} epochs; accepted: "
                             "fewer warmup epochs than epochs (--warmup-epochs, --epochs)")


    def grouped_options(self):
        """The names of the parameter-group options set away from their defaults (reference_batch,
        bn_bias_lr_scale, whiten_bias_epochs): any of them makes the optimizer `GroupSGD` (sgd/sgdn only)."""
        used = {"reference_batch": self.reference_batch is not None, "bn_bias_lr_scale": self.bn_bias_lr_scale != 1,
                "whiten_bias_epochs": self.whiten_bias_epochs is not None}
        return [name for name, set_ in used.items() if set_]

    def lr_factor(self):
        """Keras learning rate per unit of `lr`: 1, or with `reference_batch` N the decoupled form's
        batch / (N * (1 + 1 / (1 - momentum))) (airbench: 1.5 for lr 11.5 at batch 1024, momentum 0.85).

        Example:
            >>> round(OptimConfig(lr=11.5, momentum=0.85, batch_size=1024, reference_batch=1024).keras_lr(), 4)
            1.5
        """
        if self.reference_batch is None:
            return 1.0
        return self.batch_size / (self.reference_batch * (1 + 1 / (1 - self.momentum)))

    def keras_lr(self):
        """The peak rate the Keras optimizer sees (`lr * lr_factor()`)."""
        return self.lr * self.lr_factor()

    def gradient_decay(self):
        """With `reference_batch`: the coefficient c of the coupled decay g + c * w added in the optimizer
        to every trainable variable (weight_decay / lr: the decay per step is then weight_decay * batch /
        (N * (1 + 1 / (1 - momentum))) whatever the batch); with optimizer "muon" alone, weight_decay (PyTorch's
        coupled form, on the variables SGD steps; the conv kernels take none); else 0 (decay is the model's L2
        or Keras's)."""
        if self.reference_batch is not None:
            return self.weight_decay / self.lr
        return self.weight_decay if self.optimizer == "muon" else 0.0


@dataclasses.dataclass(frozen=True)
class TrainConfig(Config):
    """A whole run: model, data, optimization and how to execute it.

    Example:
        >>> config = TrainConfig(model=ResNetSpec.from_preset("tiny"), optim={"epochs": 2})
        >>> config.replace(data={"augment": {"cutout": 8}}).data.augment.cutout
        8
    """

    model: ResNetSpec = section(ResNetSpec, "model")
    data: DataConfig = section(DataConfig, "data")
    optim: OptimConfig = section(OptimConfig, "optimization")
    seed: int = option(0, Int(0), "seeds the split, the initialisation and the augmentation")
    deterministic: bool = option(False, Bool(), "deterministic TF ops: two CPU runs give identical weights (slower)")
    mixed_precision: str = option("auto", Choice(PRECISIONS), "auto (float16 on GPUs with compute >= 7.0; on a "
                                  "CPU with AVX512_BF16/AMX, bf16 on TensorFlow; else float32), on (float16), off "
                                  "(float32), bf16 (mixed bfloat16)")
    jit_compile: str = option("auto", Choice(SWITCHES), "XLA: auto (on GPU, off on CPU), on, off")
    steps_per_execution: int = option(1, Int(1), "batches per compiled call")
    strategy: str = option("auto", Choice(STRATEGIES), "tf.distribute strategy: auto (mirrored on several GPUs), "
                           "one, mirrored, multiworker (reads TF_CONFIG)")
    histogram_freq: int = option(1, Int(0), "TensorBoard weight histograms every N epochs; 0: off")
    verbose: int = option(1, Int(0, 2), "Keras progress: 0 silent, 1 bar, 2 one line per epoch", cli=False,
                           on_resume="free")

    def to_json(self):
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data):
        """Rebuild from `to_dict()` output or a config.json (older layouts upgraded; its `recorded`
        provenance, written by train, left out); a wrong structure or value is refused naming its key
        path, the value and what is accepted."""
        if isinstance(data, dict) and RECORDED in data:
            data = {k: v for k, v in data.items() if k != RECORDED}
        return super().from_dict(upgrade(data))

    @classmethod
    def from_json(cls, text):
        return cls.from_dict(json.loads(text))

    @classmethod
    def coerce(cls, config):
        """`config` itself, or a `TrainConfig` from a dict of its sections; anything else is a TypeError."""
        if isinstance(config, cls):
            return config
        if isinstance(config, dict):
            return cls.from_dict(config)
        raise UserTypeError(f"config: received {type(config).__name__}; accepted: a TrainConfig or a dict such as "
                        "{'model': {...}, 'optim': {...}} (TrainConfig.from_dict)")


def upgrade(saved):
    """A config dict of the older flat layout in today's: augmentation fields written under data move to
    data.augment, data.label_smoothing to optim. Anything else is returned as it is, for from_dict to check."""
    if not isinstance(saved, dict) or not isinstance(saved.get("data"), dict):
        return saved
    result, data = dict(saved), dict(saved["data"])
    moved = {f.name: data.pop(f.name) for f in dataclasses.fields(AugmentConfig) if f.name in data}
    if moved and isinstance(data.get("augment", {}), dict):
        data["augment"] = {**moved, **data.get("augment", {})}
    if "label_smoothing" in data and isinstance(result.get("optim", {}), dict):
        result["optim"] = {"label_smoothing": data.pop("label_smoothing"), **result.get("optim", {})}
    result["data"] = data
    return result
