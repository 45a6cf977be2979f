"""The optimizer table: every row builds the Keras class it names with the slots the memory estimate counts,
and the config accepts exactly the table's names."""
import keras
import numpy as np
import pytest

from keras_resnet_cifar.config import OptimConfig
from keras_resnet_cifar.memory import estimate_bytes
from keras_resnet_cifar.optimizer_table import OPTIMIZER_TABLE, OPTIMIZERS, slots
from keras_resnet_cifar.spec import ResNetSpec
from keras_resnet_cifar.training.optimizers import make_optimizer
from keras_resnet_cifar.tuning.dimensions import optimizer as space_optimizer


def _per_weight_variables(optimizer, shape=(3, 5)):
    """Variables `optimizer` keeps for one weight of `shape` (its slots; iterations and the rate left out)."""
    optimizer.build([keras.Variable(np.zeros(shape, "float32"))])
    return sum(tuple(v.shape) == shape for v in optimizer.variables)


@pytest.mark.parametrize("name", OPTIMIZERS)
@pytest.mark.parametrize("momentum", [0.9, 0.0])
def test_every_row_builds_its_keras_class_with_the_stated_slots(name, momentum):
    optimizer = make_optimizer(OptimConfig(optimizer=name, momentum=momentum))
    assert type(optimizer).__name__ == OPTIMIZER_TABLE[name].keras_class
    assert _per_weight_variables(optimizer) == slots(name, momentum)


def test_the_memory_estimate_counts_the_table_slots():
    spec = ResNetSpec(blocks=(1,), channels=(8,))
    weights = estimate_bytes(spec)["weights"]
    base = estimate_bytes(spec, batch_size=2, optimizer="sgd", momentum=0.0)["training"]
    for name in OPTIMIZERS:
        training = estimate_bytes(spec, batch_size=2, optimizer=name)["training"]
        assert training - base == slots(name) * weights


def test_a_name_outside_the_table_is_refused_by_the_config_and_the_search_space():
    with pytest.raises(ValueError) as error:
        OptimConfig(optimizer="rmsprop")
    assert "optim.optimizer: received 'rmsprop'" in str(error.value)
    assert all(repr(name) in str(error.value) for name in OPTIMIZER_TABLE)
    assert [space_optimizer(name.upper()) for name in OPTIMIZERS] == list(OPTIMIZERS)
    with pytest.raises(ValueError, match="received 'rmsprop'"):
        space_optimizer("rmsprop")


def test_group_options_need_a_momentum_optimizer_of_the_table():
    assert isinstance(make_optimizer(OptimConfig(optimizer="sgd", bn_bias_lr_scale=4.0)), keras.optimizers.SGD)
    for name, kind in OPTIMIZER_TABLE.items():
        if not kind.momentum:
            with pytest.raises(ValueError, match="optim.bn_bias_lr_scale: set with optimizer"):
                OptimConfig(optimizer=name, bn_bias_lr_scale=4.0)


def test_the_docs_optimizer_table_is_the_one_the_table_renders():
    import os

    from keras_resnet_cifar.optimizer_table import optimizer_markdown

    with open(os.path.join(os.path.dirname(__file__), "..", "docs", "training.md"), encoding="utf-8") as handle:
        page = handle.read()
    assert optimizer_markdown() in page
    assert all(f"| {name} |" in optimizer_markdown() for name in OPTIMIZERS)
