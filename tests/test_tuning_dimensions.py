"""The search dimensions as one table: a new row is searched everywhere (space, config, defaults, flags)."""
import json

import keras_tuner
import pytest

from keras_resnet_cifar.cli import build_parser
from keras_resnet_cifar.cli.options import config_from_args
from keras_resnet_cifar.cli.tune import space_from_args
from keras_resnet_cifar.tuning.settings import resolve_settings
from keras_resnet_cifar.config import TrainConfig
from keras_resnet_cifar.tuning import dimensions, leaderboard
from keras_resnet_cifar.tuning.dimensions import CHOICE, Dimension
from keras_resnet_cifar.tuning.hypermodel import declare
from keras_resnet_cifar.tuning.search import _check_resume
from keras_resnet_cifar.tuning.space import SearchSpace

SMOOTHING = Dimension("label_smoothing", "label_smoothings", "optim.label_smoothing", CHOICE, dimensions.floats,
                      cli={"type": float, "metavar": "LS"}, help="label smoothings (default: the config's)")


@pytest.fixture
def with_smoothing(monkeypatch):
    """The table with one more row: label smoothing, searched like mixup_alpha."""
    monkeypatch.setattr(dimensions, "DIMENSIONS", (*dimensions.DIMENSIONS, SMOOTHING))


def test_a_new_row_is_a_dimension_of_the_space_its_config_and_its_hyperparameters(with_smoothing):
    config = TrainConfig().replace(optim={"label_smoothing": 0.05})
    fixed = SearchSpace.create(config)  # not given: the training config's value, fixed
    assert fixed.label_smoothings == (0.05,) and fixed.default["label_smoothing"] == 0.05
    assert "label_smoothing" not in fixed.open_options()

    space = SearchSpace.create(config, label_smoothings=(0.1, 0.0, 0.1))
    assert space.label_smoothings == (0.0, 0.1) and space.describe()["label_smoothings"] == [0.0, 0.1]
    assert space.default["label_smoothing"] == 0.0  # the config's 0.05 is not a choice: the first one
    assert space.open_options() == ["label_smoothing"]
    values = dict(space.default, label_smoothing=0.1)
    trained = space.train_config(values, config)
    assert trained.optim.label_smoothing == 0.1 and trained.optim.lr == config.optim.lr

    hp = keras_tuner.HyperParameters()
    assert declare(space, hp)["label_smoothing"] == 0.0
    declared = {h.name: h for h in hp.space}
    assert declared["label_smoothing"].values == [0.0, 0.1]
    row = leaderboard.rank([{"trial_id": "0", "status": "COMPLETED", "values": values,
                             "metrics": {"val_accuracy": 0.5}}], space)[0]
    assert row["label_smoothing"] == 0.1  # an open dimension gets its leaderboard column


def test_a_new_row_gets_its_tune_flag_in_place_of_the_train_flag(with_smoothing):
    args = build_parser().parse_args(["tune", "--label-smoothings", "0", "0.2"])
    assert "config:optim.label_smoothing" not in vars(args)  # the searched setting's train flag is left out
    assert space_from_args(args, config_from_args(args)).label_smoothings == (0.0, 0.2)
    with pytest.raises(ValueError, match=r"label_smoothings: received \[-1.0\]; accepted: numbers >= 0"):
        space_from_args(build_parser().parse_args(["tune", "--label-smoothings", "-1"]), TrainConfig())


def test_a_search_stored_before_a_row_existed_resumes_with_that_dimension_fixed(tmp_path, monkeypatch):
    config = TrainConfig()
    search = {"tuner": "random", "epochs": 1}
    before = SearchSpace.create(config)
    (tmp_path / "oracle.json").write_text("{}")
    (tmp_path / "space.json").write_text(json.dumps({"space": before.describe(), "search": search,
                                                     "training": config.to_dict()}))
    old_trial = dict(before.default)  # has no label_smoothing
    monkeypatch.setattr(dimensions, "DIMENSIONS", (*dimensions.DIMENSIONS, SMOOTHING))

    fixed = SearchSpace.create(config)
    _check_resume(str(tmp_path), {"space": fixed.describe(), "search": search, "training": config.to_dict()},
                  TrainConfig)
    row = leaderboard.rank([{"trial_id": "0", "status": "COMPLETED", "values": old_trial,
                             "metrics": {"val_accuracy": 0.5}}], fixed)[0]
    assert row["hyperparameters"]["label_smoothing"] == 0.0
    assert fixed.train_config(row["hyperparameters"], config) == config.replace(model={"blocks": (3, 3, 2, 3)})

    opened = SearchSpace.create(config, label_smoothings=(0.0, 0.1))  # searching it is another search
    with pytest.raises(FileExistsError, match=r"space.label_smoothings: None -> \[0.0, 0.1\]"):
        _check_resume(str(tmp_path), {"space": opened.describe(), "search": search, "training": config.to_dict()},
                      TrainConfig)


def test_every_row_has_its_flag_and_sets_its_config_field():
    args = build_parser().parse_args(["tune"])
    config = TrainConfig()
    space = SearchSpace.create(config)
    for dim in dimensions.DIMENSIONS:
        assert hasattr(args, dim.field), dim.field
        assert f"config:{dim.path}" not in vars(args)
        assert dim.read(space.train_config(space.default, config)) == space.default[dim.name]


def test_unknown_dimension_keyword_names_the_accepted_ones():
    with pytest.raises(TypeError, match="unknown dimensions \\['learning_rates'\\]; accepted: kernel_sizes"):
        SearchSpace.create(learning_rates=(0.1,))


def test_a_per_stage_setting_must_be_one_value_unless_searched():
    config = TrainConfig().replace(model={"kernel_size": (3, 5, 5, 3)})
    with pytest.raises(ValueError, match=r"kernel_size: received per-stage \[3, 5, 5, 3\].*kernel_sizes=\(3, 5\)"):
        SearchSpace.create(config)
    space = SearchSpace.create(config, kernel_sizes=(3, 5))  # given: the config's per-stage sizes are not read
    assert space.kernel_sizes == (3, 5) and space.default["kernel_size"] == 3


@pytest.mark.parametrize("value", [1.5, 0, float("nan"), float("inf"), True, "5e6"])
def test_budgets_are_positive_whole_numbers_checked_once(value):
    with pytest.raises(ValueError, match=r"max_params: received .*; accepted: a positive whole number.*--max-params"):
        SearchSpace.create(max_params=value)


def test_a_whole_float_budget_is_the_flag_type():
    assert SearchSpace.create(max_params=4.5e6).max_params == 4_500_000
    args = build_parser().parse_args(["tune", "--max-params", "3e6", "--max-macs", "9e8"])
    settings = resolve_settings(TrainConfig(), max_macs=args.max_macs)
    space = space_from_args(args, settings.config, settings.max_macs)
    assert (space.max_params, space.max_macs) == (3_000_000, 900_000_000)
