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
