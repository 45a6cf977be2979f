import random

import numpy as np
import pytest

from keras_resnet_cifar import count_macs, count_params
from keras_resnet_cifar.presets import PRESETS
from keras_resnet_cifar.spec import ResNetSpec

TABLE_1 = {"resnet10": 4_903_242, "resnet16": 4_909_642, "resnet24": 4_935_242, "resnet48": 4_994_378}


@pytest.mark.parametrize("preset", sorted(TABLE_1))
def test_table_1_counts(preset):
    assert count_params(**PRESETS[preset]) == TABLE_1[preset]


def test_counting_does_not_import_tensorflow():
    import subprocess
    import sys

    code = ("import sys; from keras_resnet_cifar import count_params; "
            "n = count_params([3, 3, 2, 3], [64, 128, 128, 256]); "
            "print(n, 'tensorflow' in sys.modules, 'keras' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["4935242", "False", "False"]


def _random_config(rng):
    stages = rng.randint(1, 4)
    size = rng.choice([8, 16, 32])
    pool = rng.choice([1, 2])
    while size // 2 ** (stages - 1) < pool:
        stages -= 1
    kernel = rng.choice([1, 3, 5]) if rng.random() < 0.5 else [rng.choice([1, 3, 5]) for _ in range(stages)]
    return dict(
        blocks=[rng.randint(1, 2) for _ in range(stages)],
        channels=[rng.choice([2, 3, 4, 8]) for _ in range(stages)],
        kernel_size=kernel,
        skip_kernel=rng.choice([1, 3]),
        pool_size=pool,
        block_order=rng.choice("abcde"),
        activation=rng.choice(["relu", "relu6", "leaky_relu", "elu", "swish"]),
        num_classes=rng.randint(2, 12),
        input_shape=(size, rng.choice([size, 16]) if size >= 16 else size, rng.choice([1, 3])),
    )


def test_analytic_count_equals_built_trainable_weights_on_random_configs():
    from keras_resnet_cifar import build_resnet

    rng = random.Random(1234)
    for _ in range(200):
        config = _random_config(rng)
        model = build_resnet(**config)
        built = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
        assert count_params(**config) == built, config


@pytest.mark.parametrize("preset", sorted(TABLE_1))
@pytest.mark.parametrize("order", list("abcde"))
def test_presets_all_orders_match_built_model(preset, order):
    from keras_resnet_cifar import build_resnet

    model = build_resnet(**PRESETS[preset], block_order=order)
    built = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert count_params(**PRESETS[preset], block_order=order) == built
    moving = sum(int(np.prod(w.shape)) for w in model.non_trainable_weights)
    from keras_resnet_cifar.params import count_network

    assert count_network(ResNetSpec(**PRESETS[preset], block_order=order)).non_trainable == moving


def test_resnet48_keras_count_includes_moving_statistics():
    from keras_resnet_cifar import build_resnet

    model = build_resnet(**PRESETS["resnet48"])
    assert model.count_params() == 5_005_002
    assert count_params(**PRESETS["resnet48"]) == 4_994_378


def test_macs_by_hand_for_one_stage():
    # stem 3x3x3x4 on 8x8, one unit of two 3x3x4x4 convs on 8x8, pool 8 -> 4 features -> 2 classes
    macs = count_macs([1], [4], pool_size=8, num_classes=2, input_shape=(8, 8, 3))
    assert macs == 27 * 4 * 64 + 2 * 9 * 16 * 64 + 4 * 2


def test_macs_grow_with_width():
    assert count_macs([1, 1], [8, 16], input_shape=(16, 16, 3)) > count_macs([1, 1], [4, 8], input_shape=(16, 16, 3))


def test_every_public_name_resolves():
    import keras_resnet_cifar

    for name in keras_resnet_cifar.__all__:
        assert getattr(keras_resnet_cifar, name) is not None, name
    with pytest.raises(AttributeError):
        keras_resnet_cifar.not_a_name
