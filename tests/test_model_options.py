"""Builder options of the fast recipe (issue 10): zero-init residual, BN without scale, stem width."""
import random

import keras
import numpy as np
import pytest

from keras_resnet_cifar import build_resnet, count_params
from keras_resnet_cifar.params import count_network
from keras_resnet_cifar.spec import ResNetSpec

SMALL = dict(blocks=[2, 1], channels=[4, 8], input_shape=(8, 8, 3), pool_size=2)


def _unit_names(model):
    return [layer.name[:-4] for layer in model.layers if layer.name.endswith("_add")]


@pytest.mark.parametrize("order", list("abcde"))
@pytest.mark.parametrize("bn_scale", [True, False])
def test_zero_init_residual_starts_every_branch_at_zero(order, bn_scale):
    if not bn_scale and order in "acd":
        pytest.skip("rejected combination (tested below)")
    keras.utils.set_random_seed(0)
    model = build_resnet(**SMALL, block_order=order, zero_init_residual=True, bn_scale=bn_scale)
    branches = [model.get_layer(f"{name}_add").input[0] for name in _unit_names(model)]
    probe = keras.Model(model.input, branches)
    x = np.random.rand(4, 8, 8, 3).astype("float32")
    for training in (False, True):
        for value in probe(x, training=training):
            np.testing.assert_array_equal(keras.ops.convert_to_numpy(value), 0.0)
    # Without the option the same branches carry signal.
    plain = build_resnet(**SMALL, block_order=order, bn_scale=bn_scale)
    values = keras.Model(plain.input, [plain.get_layer(f"{n}_add").input[0] for n in _unit_names(plain)])(x)
    assert all(np.abs(keras.ops.convert_to_numpy(v)).max() > 0 for v in values)


def test_zero_init_residual_branch_learns_after_one_step():
    keras.utils.set_random_seed(0)
    model = build_resnet(**SMALL, zero_init_residual=True)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss=keras.losses.CategoricalCrossentropy(from_logits=True))
    x = np.random.rand(8, 8, 8, 3).astype("float32")
    y = keras.utils.to_categorical(np.arange(8) % 10, 10)
    model.train_on_batch(x, y)
    gamma = keras.ops.convert_to_numpy(model.get_layer("stage1_block1_bn2").gamma)
    assert np.abs(gamma).max() > 0


def test_bn_without_scale_has_no_gamma_and_matches_keras():
    from keras_resnet_cifar.layers import FusedBatchNormalization

    model = build_resnet(**SMALL, bn_scale=False)
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert norms and all(layer.gamma is None and layer.beta is not None for layer in norms)
    x = (np.random.randn(6, 5, 5, 3) * 2 + 1).astype("float32")
    ours = FusedBatchNormalization(scale=False, epsilon=1e-5)
    ref = keras.layers.BatchNormalization(scale=False, epsilon=1e-5)
    for layer in (ours, ref):
        layer.build(x.shape)
        layer.beta.assign(np.array([0.5, -1.0, 2.0], "float32"))
    for training in (False, True):  # inference first: the moving variances then differ (unbiased in ours)
        np.testing.assert_allclose(ours(x, training=training), ref(x, training=training), rtol=1e-4, atol=1e-4)


def test_stem_channels_sets_the_stem_width_and_projects_stage_one():
    model = build_resnet(**SMALL, stem_channels=6)
    assert model.get_layer("stem_conv").filters == 6
    assert model.get_layer("stage1_block1_shortcut_conv").filters == 4
    names = {layer.name for layer in build_resnet(**SMALL).layers}
    assert "stage1_block1_shortcut_conv" not in names


def test_counts_match_built_model_with_the_new_options():
    rng = random.Random(10)
    for _ in range(30):
        order = rng.choice("abcde")
        bn_scale = rng.random() < 0.5
        options = dict(SMALL, block_order=order, bn_scale=bn_scale, stem_channels=rng.choice([None, 3, 4, 6]),
                       zero_init_residual=rng.random() < 0.5 and (bn_scale or order in "be"))
        model = build_resnet(**options)
        assert count_params(**options) == sum(int(np.prod(w.shape)) for w in model.trainable_weights), options
        moving = sum(int(np.prod(w.shape)) for w in model.non_trainable_weights)
        assert count_network(ResNetSpec(**options)).non_trainable == moving, options


def test_defaults_build_the_study_network():
    spec = ResNetSpec(blocks=[3, 3, 2, 3], channels=[64, 128, 128, 256])
    assert (spec.zero_init_residual, spec.bn_scale, spec.stem_channels) == (False, True, None)
    assert count_params([3, 3, 2, 3], [64, 128, 128, 256]) == 4_935_242


@pytest.mark.parametrize("kwargs, error, words", [
    (dict(zero_init_residual=True, bn_scale=False, block_order="a"), ValueError, "bn_scale"),
    (dict(zero_init_residual=1), ValueError, "model.zero_init_residual: received 1; accepted: true or false"),
    (dict(bn_scale="no"), ValueError, "model.bn_scale: received 'no'"),
    (dict(stem_channels=0), ValueError, "model.stem_channels: received 0; accepted: an integer >= 1, or null"),
    (dict(stem_channels=2.5), ValueError, "model.stem_channels: received 2.5"),
])
def test_invalid_options_are_refused_with_their_name(kwargs, error, words):
    with pytest.raises(error, match=words):
        ResNetSpec(blocks=[1], channels=[4], **kwargs)
