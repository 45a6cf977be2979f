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


@dataclasses.dataclass(frozen=True)
class SearchSettings:
    """What a search runs with: the base config (full training), epochs per trial, the MACs budget per image
    (None: no limit), and notes to show."""

    config: TrainConfig
    epochs: int
    notes: tuple = ()
    max_macs: float | None = None


def resolve_settings(config, *, tuner="hyperband", epochs=None, val_fraction=None, recipe=None, max_macs=None):
    """The settings of a search asked for as `config`, `tuner`, `epochs` and `val_fraction`.

    Trials are ranked on validation accuracy, so the base config needs a validation split: an explicit
    `val_fraction` of 0 is refused; a base that has none (e.g. the fast recipe, which trains on all
    images) gets SEARCH_VAL_FRACTION, said in a note.

    Args:
        config: the TrainConfig asked for (--config, --recipe and the flags).
        tuner: "hyperband", "bayesian" or "random".
        epochs: epochs per trial asked for, or None: 9 for hyperband, 3 otherwise.
        val_fraction: the val_fraction asked for explicitly (--val-fraction), or None.
        recipe: the recipe asked for (--recipe), or None. A search of a recipe is FLOP-fair by default: its
            MACs budget is the recipe's network's, so a winner trains in the recipe's time (said in a note).
        max_macs: the MACs budget asked for explicitly (--max-macs), or None.

    Returns:
        SearchSettings.

    Example:
        >>> resolve_settings(TrainConfig(), tuner="random").epochs
        3
    """
    notes = []
    if config.data.val_fraction == 0:
        if val_fraction == 0:  # asked for: refused, never rewritten
            raise UserError("--val-fraction: received 0; accepted: a fraction in (0, 1), e.g. 0.1: trials are "
                             "ranked on validation accuracy, which needs held-out training images (the test split "
                             "is never used to choose)")
        config = config.replace(data={"val_fraction": SEARCH_VAL_FRACTION})
        notes.append(f"tune: trials are ranked on a validation split: the recipe's val_fraction 0 -> "
                     f"{SEARCH_VAL_FRACTION} (pass --val-fraction to choose another)")
    if epochs is None:
        epochs = DEFAULT_EPOCHS.get(tuner, OTHER_EPOCHS)
    if max_macs is None and recipe is not None:
        max_macs = count_network(config.model).macs
        notes.append(f"tune: --max-macs {max_macs:,}, the {recipe} recipe's network's MACs per image: a winner "
                     "trains in the recipe's time (pass --max-macs to choose another)")
    return SearchSettings(config, epochs, tuple(notes), max_macs)
