"""The study's comparisons (Figures 4-9) as data: each experiment a grid of cells (preset x variant)."""
import dataclasses

from keras_resnet_cifar.config import TrainConfig
from keras_resnet_cifar.presets import get_preset
from keras_resnet_cifar.errors import UserError

STUDY_PRESETS = ("resnet10", "resnet16", "resnet24", "resnet48")

# Coefficients (Table 3's gamma) tried per activation: leaky_relu's slope, elu's alpha,
# swish's beta; None for an activation without one. Also drawn by `plot activations` (Fig 7).
ACTIVATION_GRID = {
    "relu": (None,),
    "relu6": (None,),
    "leaky_relu": (0.01, 0.1, 0.2),
    "elu": (0.5, 1.0, 2.0),
    "swish": (0.5, 1.0, 2.0),
}

_ORDER_NAMES = {"a": "original", "b": "BN after add", "c": "act before add", "d": "act pre-activation",
                "e": "full pre-activation"}


@dataclasses.dataclass(frozen=True)
class Variant:
    """One setting an experiment compares: folder-safe `name`, figure `label`, config `overrides`."""

    name: str
    label: str
    overrides: dict  # TrainConfig.replace sections, e.g. {"optim": {"optimizer": "sgd"}}


@dataclasses.dataclass(frozen=True)
class Experiment:
    """A comparison of the study: its variants, default presets and the curves its figure shows."""

    name: str
    figure: str
    title: str
    variants: tuple
    presets: tuple = ("resnet24",)
    curves: tuple = ("val_accuracy", "val_loss")


def _optimizers():
    # Customary rates (PyTorch's defaults for the Ada family); Keras's Adadelta default 0.001 barely moves.
    rates = {"adagrad": 0.01, "adadelta": 1.0, "sgd": 0.1, "sgdn": 0.1}
    labels = {"adagrad": "Adagrad", "adadelta": "Adadelta", "sgd": "SGD momentum", "sgdn": "SGD Nesterov"}
    return tuple(Variant(o, f"{labels[o]} (lr {lr:g})", {"optim": {"optimizer": o, "lr": lr}})
                 for o, lr in rates.items())


def _regularization():
    found = []
    for kind in ("l1", "l2"):
        for value in (1e-3, 1e-5):
            # L2 is the coupled weight decay of the study's default; L1 adds value * sum|w|.
            model, optim = ({"l1": value}, {"weight_decay": 0.0}) if kind == "l1" else ({"l1": 0.0}, {"weight_decay": value})
            found.append(Variant(f"{kind}-{value:.0e}", f"{kind.upper()} {value:g}", {"model": model, "optim": optim}))
    return tuple(found)


def _activations():
    return tuple(
        Variant(name if coef is None else f"{name}-{coef:g}", name if coef is None else f"{name} γ={coef:g}",
                {"model": {"activation": name, "activation_coef": coef}})
        for name, coefs in ACTIVATION_GRID.items() for coef in coefs)


EXPERIMENTS = {e.name: e for e in (
    Experiment("optimizers", "Figure 4", "Optimizers vs accuracy for ResNet10/16/24/48", _optimizers(),
               presets=STUDY_PRESETS),
    Experiment("schedules", "Figure 5", "Learning-rate schedules", tuple(
        Variant(s, label, {"optim": {"schedule": s}}) for s, label in (
            ("exp", "exponential γ=0.9"), ("step", "step ×0.1 / 20 epochs"),
            ("cosine_restarts", "cosine with restarts"), ("plateau", "reduce on plateau"))),
        curves=("lr", "val_accuracy", "val_loss")),
    Experiment("regularization", "Figure 6", "Cross-entropy loss with L1 / L2 penalties", _regularization(),
               curves=("loss", "val_loss", "val_accuracy")),
    Experiment("activations", "Figure 8", "Accuracy of the activations of Table 3", _activations()),
    Experiment("orderings", "Figure 9", "Residual block orderings (He et al. 2016)", tuple(
        Variant(o, f"({o}) {label}", {"model": {"block_order": o}}) for o, label in _ORDER_NAMES.items())),
    Experiment("mixup", "Section 2.1.7", "Mixup: without, and Beta(α, α) strengths", tuple(
        Variant("none" if a == 0 else f"alpha-{a:g}", "no mixup" if a == 0 else f"mixup α={a:g}",
                {"data": {"augment": {"mixup_alpha": a}}}) for a in (0.0, 0.2, 0.5, 1.0))),
)}


@dataclasses.dataclass(frozen=True)
class Cell:
    """One trained setting of an experiment: `name` = "<preset>-<variant>", its full config."""

    name: str
    group: str
    variant: str
    label: str
    config: object  # TrainConfig, seed 0


def get_experiment(name):
    """The `Experiment` called `name`, or a ValueError listing the accepted names."""
    if name not in EXPERIMENTS:
        raise UserError(f"experiment: received {name!r}; accepted: {', '.join(EXPERIMENTS)}")
    return EXPERIMENTS[name]


def experiment_cells(name, *, presets=None, variants=None, epochs=None, train_subset=None, base_config=None,
                     scale_schedule=True):
    """The cells of experiment `name`: every preset x variant, each with its full `TrainConfig`.

    Args:
        name: one of `EXPERIMENTS` (optimizers, schedules, regularization, activations,
            orderings, mixup).
        variants: names of the variants to keep (e.g. ["a", "e"]). Default all of them.
        presets: model presets to run the variants on. Default the experiment's (all four of
            Table 1 for optimizers, resnet24 otherwise).
        epochs: int, overrides the base config's epochs. Default None (keep them).
        train_subset: int, train on this many images. Default None (all).
        base_config: the `TrainConfig` the variants change. Default `TrainConfig()`: the
            study's settings (ResNet24, SGD Nesterov, lr 0.1, wd 1e-3, exp 0.9, 50 epochs).
        scale_schedule: when `epochs` differs from the base's, stretch the schedule to keep
            its shape (step and restart periods x epochs/base, exp gamma ** (base/epochs)),
            so a 5-epoch CPU run still steps and restarts. Default True.

    Returns:
        list of `Cell`, presets outer, variants inner.

    Example:
        >>> [c.name for c in experiment_cells("orderings", presets=["tiny"])][:2]
        ['tiny-a', 'tiny-b']
    """
    experiment = get_experiment(name)
    base = base_config or TrainConfig()
    presets = tuple(presets or experiment.presets)
    known = [v.name for v in experiment.variants]
    unknown = [v for v in (variants or ()) if v not in known]
    if unknown:
        raise UserError(f"variants: received {unknown} for experiment {name!r}; accepted: {', '.join(known)}")
    chosen = [v for v in experiment.variants if not variants or v.name in variants]
    if epochs is not None and (isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1):
        raise UserError(f"epochs: received {epochs!r}; accepted: an integer >= 1 (--epochs)")
    cells = []
    for preset in presets:
        shape = {key: tuple(value) for key, value in get_preset(preset).items()}
        for variant in chosen:
            config = base.replace(model=shape).replace(**variant.overrides)
            if train_subset is not None:
                config = config.replace(data={"train_subset": train_subset})
            if epochs is not None:
                optim = _scaled(config.optim, epochs) if scale_schedule else config.optim
                config = config.replace(optim={**dataclasses.asdict(optim), "epochs": epochs})
            cells.append(Cell(f"{preset}-{variant.name}", preset, variant.name, variant.label, config))
    return cells


def _scaled(optim, epochs):
    ratio = epochs / optim.epochs
    if ratio == 1:
        return optim
    return dataclasses.replace(
        optim, gamma=optim.gamma ** (1 / ratio), step_epochs=max(1, round(optim.step_epochs * ratio)),
        restart_epochs=max(1, round(optim.restart_epochs * ratio)),
        warmup_epochs=min(round(optim.warmup_epochs * ratio), epochs - 1))
