"""The search's settings: their defaults, and those that follow from what was asked for (epochs per
trial, a validation split).

The tune command parses its flags and passes what was given here; every default or adjustment it
makes is written (and tested) once, in this module.
"""
import dataclasses

from keras_resnet_cifar.config import TrainConfig
from keras_resnet_cifar.errors import UserError
from keras_resnet_cifar.params import count_network

TUNERS = ("hyperband", "bayesian", "random")  # oracle.ORACLES has one feasible oracle for each
DEFAULT_EPOCHS = {"hyperband": 9}  # epochs per trial when not given (hyperband: the most a trial gets)
OTHER_EPOCHS = 3  # the other tuners'
DEFAULT_MAX_TRIALS = 10  # trials of a random or Bayesian search (Hyperband: one full iteration)
DEFAULT_FACTOR = 3  # Hyperband's reduction factor
DEFAULT_DIRECTORY, DEFAULT_PROJECT = "tuner", "resnet_cifar"  # results go to directory/project
SEARCH_VAL_FRACTION = 0.1  # a base config that trains on every image (val_fraction 0) is searched with this
# A search of a recipe (`tune --recipe`) trains each trial as this proxy of the recipe's full training, the
# candidate of benchmarks/proxy_rank.py whose scores ranked networks most as full training did (RESULTS.md,
# "Proxies that rank"): epochs (Hyperband's most), training images, validation images, batch size. A flag
# given explicitly wins over each.
RECIPE_TRIAL = {"epochs": 4, "train_subset": 10_000, "val_subset": 2_000, "batch_size": 512}
# Finalists (finalists.py): the base network trained as the winner is, before the search, and this many of the
# search's best others after it; the best on validation wins. A search of a recipe has 2, as its proxy cannot
# separate networks half a point apart; another search's full training (the study's 50 epochs) is too long.
RECIPE_FINALISTS, OTHER_FINALISTS = 2, 0


@dataclasses.dataclass(frozen=True)
class SearchSettings:
    """What a search runs with: the base config (full training), epochs per trial, the MACs budget per image
    (None: no limit), notes to show, training images per trial (None: all), the trials' other changes
    to the base config (nested, as `TrainConfig.replace` takes them; the winner trains with the base) and
    the finalists: how many of the search's best networks train fully beside the base one, the winner
    chosen among them (`finalists.Finalists`)."""

    config: TrainConfig
    epochs: int
    notes: tuple = ()
    max_macs: float | None = None
    train_subset: int | None = None
    trial: dict = dataclasses.field(default_factory=dict)
    finalists: int = OTHER_FINALISTS


def resolve_settings(config, *, tuner="hyperband", epochs=None, asked=None, recipe=None, max_macs=None,
                     finalists=None):
    """The settings of a search asked for as `config`, `tuner`, `epochs` and the config flags `asked`.

    Trials are ranked on validation accuracy, so they need a validation split: an explicit `val_fraction`
    of 0 is refused; a base that has none (e.g. the fast recipe, which trains on all images) keeps it for
    the winner's training and its trials get SEARCH_VAL_FRACTION, said in a note.

    Args:
        config: the TrainConfig asked for (--config, --recipe and the flags).
        tuner: "hyperband", "bayesian" or "random".
        epochs: epochs per trial asked for, or None: 9 for hyperband, 3 otherwise (a recipe's: RECIPE_TRIAL's).
        asked: the config changes given explicitly as flags ({section: {field: value}}, as
            `cli.options.config_changes` returns them), or None.
        recipe: the recipe asked for (--recipe), or None. A search of a recipe is FLOP-fair by default: its
            MACs budget is the recipe's network's, so a winner trains in the recipe's time (said in a note);
            and its trials are RECIPE_TRIAL's proxy, except where a flag says otherwise (said in a note).
        max_macs: the MACs budget asked for explicitly (--max-macs), or None.
        finalists: networks to train fully after the search (--finalists), or None: RECIPE_FINALISTS for a
            recipe's search (said in a note), else OTHER_FINALISTS.

    Returns:
        SearchSettings.

    Example:
        >>> resolve_settings(TrainConfig(), tuner="random").epochs
        3
    """
    notes, asked = [], asked or {}
    asked_data, asked_optim = asked.get("data", {}), asked.get("optim", {})
    trial_data, trial_optim = {}, {}
    if config.data.val_fraction == 0:
        if asked_data.get("val_fraction") == 0:  # asked for: refused, never rewritten
            raise UserError("--val-fraction: received 0; accepted: a fraction in (0, 1), e.g. 0.1: trials are "
                             "ranked on validation accuracy, which needs held-out training images (the test split "
                             "is never used to choose)")
        trial_data["val_fraction"] = SEARCH_VAL_FRACTION
        notes.append(f"tune: trials are ranked on a validation split, {SEARCH_VAL_FRACTION:.0%} of the training "
                     "images; the winner's training keeps the config's val_fraction 0 (every image; pass "
                     "--val-fraction to choose another for both)")
    train_subset = config.data.train_subset
    if recipe is not None:
        proxy = {"epochs": epochs, "train_subset": asked_data.get("train_subset"),
                 "val_subset": asked_data.get("val_subset"), "batch_size": asked_optim.get("batch_size")}
        proxy = {name: RECIPE_TRIAL[name] if value is None else value for name, value in proxy.items()}
        epochs, train_subset = proxy["epochs"], proxy["train_subset"]
        trial_data["val_subset"], trial_optim["batch_size"] = proxy["val_subset"], proxy["batch_size"]
        notes.append(f"tune: each trial trains {epochs} epochs on {train_subset:,} images at batch "
                     f"{proxy['batch_size']}, ranked on {proxy['val_subset']:,} validation images: the proxy "
                     "of full training that ranked networks best (benchmarks/RESULTS.md; pass --epochs, "
                     "--train-subset, --val-subset or --batch-size to choose others)")
    trial = {name: changes for name, changes in (("data", trial_data), ("optim", trial_optim)) if changes}
    if epochs is None:
        epochs = DEFAULT_EPOCHS.get(tuner, OTHER_EPOCHS)
    if max_macs is None and recipe is not None:
        max_macs = count_network(config.model).macs
        notes.append(f"tune: --max-macs {max_macs:,}, the {recipe} recipe's network's MACs per image: a winner "
                     "trains in the recipe's time (pass --max-macs to choose another)")
    if finalists is None:
        finalists = RECIPE_FINALISTS if recipe is not None else OTHER_FINALISTS
        if finalists:
            notes.append(f"tune: finalists: the base network trains as the winner will ({config.optim.epochs} "
                         f"epochs, every image but the validation split) before the search, its {finalists} best "
                         "other networks after it, and the best on validation wins; with --max-minutes, the "
                         "finalists' time is part of it (--finalists 0: the proxy's best wins)")
    return SearchSettings(config, epochs, tuple(notes), max_macs, train_subset, trial, finalists)


def check_finalists(finalists):
    """`finalists` if it is a number of finalists (an integer >= 0), else a UserError."""
    if isinstance(finalists, bool) or not isinstance(finalists, int) or finalists < 0:
        raise UserError(f"finalists: received {finalists!r}; accepted: an integer >= 0, the networks trained fully "
                        "after the search (0: the proxy's best wins; --finalists)")
    return finalists
