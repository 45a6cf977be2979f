"""Each private Keras Tuner name the package uses (tuning/compat.py) still exists in the installed version."""
import importlib

import keras_tuner
import pytest

from keras_resnet_cifar.tuning import compat


def test_the_imported_private_names_resolve():
    assert callable(compat.convert_to_metrics_dict) and callable(compat.exit_chief)
    assert callable(compat.get_service_grpc) and isinstance(compat.OracleServicer, type)


@pytest.mark.parametrize("where", sorted(compat.PRIVATE_MEMBERS), ids=lambda w: w[1])
def test_private_members_exist(where):
    module, name = where
    cls = getattr(importlib.import_module(module), name)
    members = compat.PRIVATE_MEMBERS[where]
    for method in members["methods"]:
        assert callable(getattr(cls, method, None)), f"{name}.{method} is gone"
    if members["attributes"]:
        oracle = cls(objective="val_accuracy", max_trials=1, seed=0)
        for attribute in members["attributes"]:
            assert hasattr(oracle, attribute), f"{name}().{attribute} is gone"


def test_the_pinned_range_is_the_installed_one():
    major, minor = (int(p) for p in keras_tuner.__version__.split(".")[:2])
    assert (major, minor) == (1, 4), "tuning/compat.py was checked on keras-tuner 1.4.x; re-check and re-pin"


def test_a_custom_gradient_traced_in_a_graph_registers_in_the_registry_the_search_empties():
    import tensorflow as tf

    registry = compat.custom_gradients()
    before = set(registry)

    @tf.custom_gradient
    def identity(x):
        return tf.identity(x), lambda dy: dy

    @tf.function
    def gradient(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = identity(x)
        return tape.gradient(y, x)

    assert float(gradient(tf.constant(2.0))) == 1.0
    added = set(registry) - before
    assert len(added) == 1 and added.pop().startswith(compat.CUSTOM_GRADIENT_PREFIX)
