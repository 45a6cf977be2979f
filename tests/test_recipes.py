"""The named recipes (recipes.py): each tier resolves to a config train accepts; unknown names are refused."""
import pytest

from keras_resnet_cifar.config import DataConfig, TrainConfig
from keras_resnet_cifar.params import count_network
from keras_resnet_cifar.recipes import RECIPES, recipe_config


@pytest.mark.parametrize("minutes", sorted(RECIPES["fast"]))
def test_recipe_resolves_to_a_config_train_accepts(minutes):
    base = TrainConfig(data=DataConfig(source="somewhere.tar.gz"), seed=3)
    config = recipe_config("fast", minutes, base=base)  # a TrainConfig checks itself
    assert (config.seed, config.data.source) == (3, "somewhere.tar.gz")
    assert config.data.val_fraction == 0 and config.data.tta and config.data.tta_translate == 1
    assert config.model.stem == "whiten" and config.model.stage_kind == "convpool"
    assert config.optim.reference_batch == 1024 and config.mixed_precision == "bf16"
    if config.optim.optimizer == "muon":  # airbench94_muon: a linear decay from the first step, no lookahead
        assert (config.optim.schedule, config.optim.warmup_epochs, config.optim.lookahead_every) == ("onecycle", 0, 0)
    else:  # airbench94: the triangular schedule and the lookahead
        assert config.optim.schedule == "triangular" and config.optim.lookahead_every == 5
    assert count_network(config.model).trainable < 5_000_000
    assert TrainConfig.from_json(config.to_json()) == config  # a recipe run's config.json reads back


def test_unknown_recipes_and_budgets_are_refused():
    with pytest.raises(ValueError, match="recipe: received 'slow'"):
        recipe_config("slow")
    with pytest.raises(ValueError, match="minutes: received 30.*5, 10, 15, 60"):
        recipe_config("fast", 30)


def test_the_ten_minute_tier_is_airbench94_muon_in_this_package_s_units():
    config = recipe_config("fast", 10)
    optim = config.optim
    assert (optim.optimizer, optim.muon_lr, optim.muon_momentum, optim.muon_ns_steps) == ("muon", 0.24, 0.6, 3)
    assert (optim.epochs, optim.batch_size, config.model.channels) == (8, 2000, (64, 256, 256))
    # PyTorch's head rate 0.67 on a summed loss and a head scaled by 1/256, in Keras's mean-loss units for a
    # head scaled by 1/9; BN offsets 0.053 (64x); decay 2e-6 x batch per step
    assert optim.keras_lr() == pytest.approx(0.67 * 2000 * (9 / 256) ** 2, rel=2e-3)
    assert optim.keras_lr() * optim.bn_bias_lr_scale == pytest.approx(0.053 * 2000, rel=2e-3)
    assert optim.keras_lr() * optim.gradient_decay() == pytest.approx(2e-6 * 2000, rel=2e-3)
