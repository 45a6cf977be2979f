"""The record holders' network family in the builder (issue 16): whitening stem, conv-pool groups, GELU,
max-pool head without bias, output scale, identity-initialised convolutions."""
import keras
import numpy as np
import pytest

from keras_resnet_cifar import build_resnet
from keras_resnet_cifar.params import count_network
from keras_resnet_cifar.spec import ResNetSpec, make_spec

AIRBENCH = dict(stem="whiten", stage_kind="convpool", blocks=(0, 0, 0), channels=(64, 256, 256), activation="gelu",
                bn_scale=False, head="maxpool", pool_size=3, head_bias=False, output_scale=1 / 9, conv_init="dirac",
                bn_momentum=0.6, bn_epsilon=1e-12)
SMALL = {**AIRBENCH, "channels": (4, 8, 8)}


def _counts(model):
    def total(weights):
        return sum(int(np.prod(w.shape)) for w in weights)
    return total(model.trainable_weights), total(model.non_trainable_weights)


@pytest.mark.parametrize("options", [
    SMALL,
    {**SMALL, "blocks": (1, 0, 1), "block_order": "c"},  # ResNet-9's shape
    {**SMALL, "blocks": (1, 0, 2), "block_order": "e", "stem": "conv", "head": "avgpool", "head_bias": True},
    {**SMALL, "whiten_kernel": 3, "kernel_size": (3, 5, 3), "bn_scale": True},
    {**SMALL, "blocks": (0, 1), "channels": (4, 6), "pool_size": 2, "input_shape": (16, 16, 3)},
])
def test_analytic_counts_equal_the_built_model(options):
    model = build_resnet(**options)
    count = count_network(make_spec(**options))
    assert _counts(model) == (count.trainable, count.non_trainable)
    assert model.output_shape == (None, 10)


def test_airbench94_shape_has_the_peer_count():
    count = count_network(ResNetSpec(**AIRBENCH))
    # PyTorch counts every parameter: ours trainable, plus the frozen 2x2x3x24 whitening kernel and the
    # BN weights it keeps at 1 (64 + 256 + 256 per BN, two BNs a group): the peer's 1,972,792.
    assert count.trainable + 2 * 2 * 3 * 24 + 2 * (64 + 256 + 256) == 1_972_792
    assert count.trainable < 5_000_000


def test_layer_names_shapes_and_head():
    model = build_resnet(**SMALL)
    names = [layer.name for layer in model.layers]
    for name in ("stem_whiten", "stem_act", "stage1_conv1", "stage1_pool", "stage1_bn1", "stage1_act1",
                 "stage1_conv2", "stage1_bn2", "stage1_act2", "stage1_out", "stage3_out", "pool", "logits",
                 "logits_scale"):
        assert name in names
    assert model.get_layer("stem_whiten").output.shape[1:] == (31, 31, 24)
    assert [model.get_layer(f"stage{i}_out").output.shape[1] for i in (1, 2, 3)] == [15, 7, 3]
    assert isinstance(model.get_layer("pool"), keras.layers.MaxPooling2D)
    assert model.get_layer("logits").bias is None
    assert not any("shortcut" in n for n in names)
    nine = build_resnet(**{**SMALL, "blocks": (1, 0, 1), "block_order": "c"})
    assert "stage1_block1_add" in [layer.name for layer in nine.layers]
    assert "stage1_block1_shortcut_conv" not in [layer.name for layer in nine.layers]


def test_output_scale_multiplies_the_logits():
    keras.utils.set_random_seed(0)
    model = build_resnet(**SMALL)
    x = np.random.rand(2, 32, 32, 3).astype("float32")
    raw = keras.Model(model.input, model.get_layer("logits").output)(x)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(x)), keras.ops.convert_to_numpy(raw) / 9, rtol=1e-6)


def test_whitening_kernel_is_frozen_and_its_bias_trained():
    model = build_resnet(**SMALL)
    layer = model.get_layer("stem_whiten")
    assert not layer.kernel.trainable and layer.bias.trainable
    trainable = {v.path for v in model.trainable_weights}
    assert "stem_whiten/bias" in trainable and "stem_whiten/kernel" not in trainable


def test_dirac_init_passes_the_first_channels_through():
    model = build_resnet(**SMALL)
    kernel = keras.ops.convert_to_numpy(model.get_layer("stage2_conv1").kernel)  # 3x3, 4 -> 8
    for i in range(4):
        expected = np.zeros((3, 3, 4))
        expected[1, 1, i] = 1
        np.testing.assert_array_equal(kernel[..., i], expected)
    rest = kernel[..., 4:]
    bound = (3 * 3 * 4) ** -0.5
    assert np.abs(rest).max() <= bound and np.abs(rest).std() > bound / 4  # PyTorch's default uniform
    he = build_resnet(**{**SMALL, "conv_init": "he_normal"})
    assert not np.allclose(keras.ops.convert_to_numpy(he.get_layer("stage2_conv1").kernel)[1, 1, :4, :4], np.eye(4))


def test_gelu_is_the_exact_erf_form():
    from math import erf, sqrt

    model = build_resnet(**SMALL)
    act = model.get_layer("stage1_act1")
    x = np.linspace(-3, 3, 13).astype("float32")
    expected = [v * 0.5 * (1 + erf(v / sqrt(2))) for v in x]
    np.testing.assert_allclose(keras.ops.convert_to_numpy(act(x)), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("options, match", [
    ({"stem": "patchify"}, r"model.stem: received 'patchify'; accepted: 'conv', 'whiten' \(--stem\)"),
    ({"stage_kind": "dense"}, r"model.stage_kind: received 'dense'; accepted: 'residual', 'convpool'"),
    ({"head": "attention"}, r"model.head: received 'attention'; accepted: 'avgpool', 'maxpool'"),
    ({"conv_init": "orthogonal"}, r"model.conv_init: received 'orthogonal'; accepted: 'he_normal', 'dirac'"),
    ({"output_scale": 0.0}, r"model.output_scale: received 0.0; accepted: a number > 0"),
    ({"stage_kind": "residual", "stem": "conv"}, r"model.blocks: received \[0, 0, 0\]; accepted: >= 1 unit"),
    ({"stem_channels": 16}, r"model.stem_channels: received 16 with stem 'whiten'"),
    ({"whiten_kernel": 32}, r"model.whiten_kernel: received 32 .*accepted: smaller than the image"),
    ({"pool_size": 4}, r"model.input_shape: received \[32, 32, 3\]: its height 32 shrinks to 3"),
])
def test_wrong_values_are_refused_naming_value_and_accepted(options, match):
    with pytest.raises(ValueError, match=match):
        ResNetSpec(**{**SMALL, **options})


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="the XLA-compiled path is TensorFlow's")
@pytest.mark.parametrize("dtype, tol", [("float32", 1e-6), ("bfloat16", 1e-2)])
def test_gelu_training_path_matches_autodiff_of_the_erf_form(dtype, tol):
    import tensorflow as tf

    from keras_resnet_cifar.layers import GELU

    # the input rounded to `dtype` first, so only the layer's own rounding is compared
    x = tf.cast(tf.constant(np.random.default_rng(0).normal(size=(4, 5, 5, 8)) * 3, tf.float32), dtype)
    x32 = tf.cast(x, tf.float32)
    weights = tf.cos(x32)
    with tf.GradientTape() as tape:
        tape.watch(x32)
        expected = tf.nn.gelu(x32, approximate=False)
        loss = tf.reduce_sum(expected * weights)
    expected_grad = tape.gradient(loss, x32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = GELU(dtype="mixed_bfloat16" if dtype == "bfloat16" else "float32")(x, training=True)
        loss = tf.reduce_sum(tf.cast(y, tf.float32) * weights)
    grad = tape.gradient(loss, x)
    assert y.dtype == x.dtype and grad.dtype == x.dtype
    np.testing.assert_allclose(tf.cast(y, tf.float32).numpy(), expected.numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(tf.cast(grad, tf.float32).numpy(), expected_grad.numpy(), rtol=tol, atol=tol)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="the XLA-compiled path is TensorFlow's")
def test_gelu_compiles_with_xla_in_training_only():
    """Training runs the XLA-compiled GELU; inference (what `export` traces) holds standard ops only."""
    import tensorflow as tf

    from keras_resnet_cifar.layers import GELU

    layer = GELU()

    def xla_functions(training):
        graph = tf.function(lambda x: layer(x, training=training)).get_concrete_function(
            tf.TensorSpec([2, 3], tf.float32)).graph.as_graph_def()
        return [f.signature.name for f in graph.library.function if "_XlaMustCompile" in f.attr]

    assert xla_functions(True) and not xla_functions(False)
