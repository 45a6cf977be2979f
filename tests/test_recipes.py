"""The named recipes (recipes.py): each tier resolves to a config train accepts; unknown names are refused."""
import pytest

from keras_resnet_cifar.config import DataConfig, TrainConfig
from keras_resnet_cifar.params import count_network
from keras_resnet_cifar.recipes import recipe_config


@pytest.mark.parametrize("minutes", [5, 15, 60])
def test_recipe_resolves_to_a_config_train_accepts(minutes):
    base = TrainConfig(data=DataConfig(source="somewhere.tar.gz"), seed=3)
    config = recipe_config("fast", minutes, base=base)  # a TrainConfig checks itself
    assert (config.seed, config.data.source) == (3, "somewhere.tar.gz")
    assert config.data.val_fraction == 0 and config.data.tta and config.optim.schedule == "triangular"
    assert config.model.stem == "whiten" and config.model.stage_kind == "convpool"
    assert config.optim.reference_batch == 1024 and config.mixed_precision == "bf16"
    assert count_network(config.model).trainable < 5_000_000
    assert TrainConfig.from_json(config.to_json()) == config  # a recipe run's config.json reads back


def test_unknown_recipes_and_budgets_are_refused():
    with pytest.raises(ValueError, match="recipe: received 'slow'"):
        recipe_config("slow")
    with pytest.raises(ValueError, match="minutes: received 30.*5, 15, 60"):
        recipe_config("fast", 30)
