"""The search space and its analytic budget check (no TensorFlow model is built here)."""
import json

import pytest
from hypothesis import given, settings, strategies as st

from keras_resnet_cifar.config import TrainConfig
from keras_resnet_cifar.params import count_macs, count_params
from keras_resnet_cifar.presets import PRESETS
from keras_resnet_cifar.tuning.space import SearchSpace

TINY_WIDTHS = (4, 8, 16)


def test_default_space_defaults_to_the_study_resnet24_within_budget():
    space = SearchSpace.create()
    arch = space.architecture(space.default)
    assert arch["blocks"] == list(PRESETS["resnet24"]["blocks"])
    assert arch["channels"] == list(PRESETS["resnet24"]["channels"])
    assert space.count(space.default) == (4_935_242, count_macs([3, 3, 2, 3], [64, 128, 128, 256]))
    assert space.is_feasible(space.default)


def test_budget_below_smallest_model_is_reported_at_once():
    with pytest.raises(ValueError) as error:
        SearchSpace.create(max_params=20_000)  # the smallest, 1 block of 16 per stage, has 20,186
    message = str(error.value)
    assert "max_params=20,000" in message and "smallest model" in message and "20,186" in message
    assert "--max-params" in message
    assert SearchSpace.create(max_params=20_186).smallest()[1] == 20_186


def test_macs_budget_below_smallest_model_is_reported():
    with pytest.raises(ValueError, match="max_macs"):
        SearchSpace.create(max_macs=1_000_000)


def test_explicit_default_over_budget_is_rejected_with_the_numbers():
    with pytest.raises(ValueError) as error:
        SearchSpace.create(max_params=1_000_000, default={"blocks": [3, 3, 2, 3], "channels": [64, 128, 128, 256]})
    message = str(error.value)
    assert "default" in message and "4,935,242 trainable parameters > max_params 1,000,000" in message
    assert "smallest model" in message


def test_explicit_default_outside_the_space_is_rejected():
    with pytest.raises(ValueError, match="channels outside the widths"):
        SearchSpace.create(widths=(16, 32), default={"blocks": [1, 1, 1, 1], "channels": [16, 32, 64, 64]})


def test_implicit_default_falls_back_to_a_feasible_model():
    space = SearchSpace.create(max_params=100_000)  # ResNet24 does not fit
    assert space.is_feasible(space.default)
    assert space.count(space.default)[0] <= 100_000


def test_open_options_count_in_the_budget():
    # Full pre-activation (order e) has more BatchNorm parameters than the original (a).
    space = SearchSpace.create(block_orders=("a", "e"), kernel_sizes=(3, 5))
    values = dict(space.default, block_order="e", kernel_size=5)
    assert space.count(values)[0] == count_params([3, 3, 2, 3], [64, 128, 128, 256], block_order="e", kernel_size=5)
    assert space.count(values)[0] > space.count(dict(values, block_order="a"))[0]
    assert not space.is_feasible(values)
    assert "> max_params 5,000,000" in space.violation(values)


def test_fixed_dimensions_come_from_the_training_config():
    config = TrainConfig().replace(optim={"optimizer": "adam", "lr": 0.003}, model={"activation": "elu"})
    space = SearchSpace.create(config)
    assert space.optimizers == ("adam",) and space.lr == (0.003, 0.003) and space.activations == ("elu",)
    trained = space.train_config(dict(space.default, lr=0.01), config)
    assert trained.optim.lr == 0.01 and trained.optim.optimizer == "adam"
    assert trained.model.blocks == (3, 3, 2, 3) and trained.optim.batch_size == config.optim.batch_size


@pytest.mark.parametrize("kwargs, fragment", [
    ({"blocks": (3, 1)}, "blocks: received [3, 1]"),
    ({"widths": ()}, "widths: received an empty list"),
    ({"widths": (16, -4)}, "integers >= 1"),
    ({"lr": (0.1, 0.2, 0.3)}, "lr: received"),
    ({"optimizers": ("rmsprop",)}, "sgdn"),
    ({"block_orders": ("z",)}, "full_preact"),
    ({"stages": (5,)}, "pool_size"),
    ({"max_params": 0}, "max_params: received 0"),
])
def test_bad_dimensions_name_what_was_received_and_accepted(kwargs, fragment):
    with pytest.raises((ValueError, TypeError), match=None) as error:
        SearchSpace.create(**kwargs)
    assert fragment in str(error.value)


def test_description_is_json_and_changes_with_the_space():
    a, b = SearchSpace.create().describe(), SearchSpace.create(widths=(16, 32, 64, 128, 256)).describe()
    assert json.loads(json.dumps(a)) == a
    assert a["widths"] != b["widths"] and a["max_params"] == 5_000_000


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 4), st.lists(st.integers(1, 3), min_size=4, max_size=4),
       st.lists(st.sampled_from(TINY_WIDTHS), min_size=4, max_size=4), st.sampled_from("abcde"),
       st.sampled_from([1, 3, 5]))
def test_fast_count_equals_the_public_counters(stages, blocks, channels, order, kernel):
    space = SearchSpace.create(stages=(2, 3, 4), blocks=(1, 3), widths=TINY_WIDTHS, block_orders=tuple("abcde"),
                               kernel_sizes=(1, 3, 5))
    values = dict(space.default, stages=stages, block_order=order, kernel_size=kernel)
    for i in range(stages):
        values[f"blocks_{i + 1}"], values[f"channels_{i + 1}"] = blocks[i], channels[i]
    arch = space.architecture(values)
    options = {k: v for k, v in arch.items() if k not in ("blocks", "channels")}
    assert space.count(values) == (count_params(arch["blocks"], arch["channels"], **options),
                                   count_macs(arch["blocks"], arch["channels"], **options))


def test_the_fast_recipe_space_searches_the_convpool_family_under_the_budget():
    from keras_resnet_cifar.recipes import recipe_config
    from keras_resnet_cifar.spec import ResNetSpec

    config = recipe_config("fast", 15)
    space = SearchSpace.create(config, widths=(64, 128, 256, 384))
    assert space.stages == (3,) and space.blocks == (0, 1)  # the recipe's 3 groups, 0-1 units after each
    assert space.architecture(space.default)["blocks"] == [0, 0, 0]
    assert space.architecture(space.default)["channels"] == [64, 256, 256]
    ninelike = {**space.default, "blocks_1": 1, "blocks_3": 1, "channels_2": 384, "channels_3": 384}
    params, _ = space.count(ninelike)
    trial = space.train_config(ninelike, config)  # the recipe's stem, groups and head are kept
    assert (trial.model.stem, trial.model.stage_kind, trial.model.blocks) == ("whiten", "convpool", (1, 0, 1))
    from keras_resnet_cifar.params import count_network
    assert isinstance(trial.model, ResNetSpec) and count_network(trial.model).trainable == params
    assert space.is_feasible(ninelike) == (params <= 5_000_000)
    with pytest.raises(ValueError, match=r"blocks: received \[0, 2\]; accepted: .*integers >= 1"):
        SearchSpace.create(TrainConfig(), blocks=(0, 2))  # residual stages need a unit each


def test_tune_refuses_an_explicit_val_fraction_of_zero(capsys):
    from keras_resnet_cifar.cli import main

    code = main(["tune", "--preset", "tiny", "--val-fraction", "0", "--max-trials", "1", "--directory", "/nonexistent"])
    err = capsys.readouterr().err
    assert code == 2 and "--val-fraction: received 0" in err and "validation accuracy" in err
    assert "Traceback" not in err
