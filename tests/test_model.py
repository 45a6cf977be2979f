import numpy as np
import pytest

import keras

from keras_resnet_cifar import build_resnet, stage_output_names
from keras_resnet_cifar.spec import BLOCK_ORDERS

TINY = dict(blocks=[1, 2, 1, 1], channels=[4, 8, 8, 16])


def _layer_types(model, prefix):
    return [(layer.name, type(layer).__name__) for layer in model.layers if layer.name.startswith(prefix)]


@pytest.mark.parametrize("order", list(BLOCK_ORDERS) + [o.alias for o in BLOCK_ORDERS.values()])
def test_every_order_outputs_logits_of_shape_batch_by_classes(order):
    model = build_resnet(**TINY, block_order=order, num_classes=7)
    x = np.random.rand(3, 32, 32, 3).astype("float32")
    logits = model(x, training=False).numpy()
    assert logits.shape == (3, 7)
    assert np.isfinite(logits).all()
    # logits, not probabilities: rows do not sum to one
    assert not np.allclose(logits.sum(axis=1), 1.0)
    assert model.layers[-1].get_config()["activation"] == "linear"


def _after(model, layer_name):
    """Names of the layers that consume `layer_name`'s output."""
    layer = model.get_layer(layer_name)
    return [node.operation.name for node in layer._outbound_nodes]


def test_order_a_activation_after_add():
    model = build_resnet(**TINY, block_order="a")
    assert _after(model, "stage2_block1_add") == ["stage2_block1_out"]
    assert isinstance(model.get_layer("stage2_block1_out"), keras.layers.ReLU)
    assert _after(model, "stage2_block1_bn2") == ["stage2_block1_add"]


def test_order_b_has_batchnorm_after_add_then_activation():
    model = build_resnet(**TINY, block_order="b")
    assert _after(model, "stage2_block1_add") == ["stage2_block1_bn2"]
    assert isinstance(model.get_layer("stage2_block1_bn2"), keras.layers.BatchNormalization)
    assert _after(model, "stage2_block1_bn2") == ["stage2_block1_out"]
    assert _after(model, "stage2_block1_conv2") == ["stage2_block1_add"]


def test_order_c_has_no_activation_after_add():
    model = build_resnet(**TINY, block_order="c")
    assert _after(model, "stage2_block1_act2") == ["stage2_block1_add"]
    nxt = _after(model, "stage2_block1_add")
    assert all(not isinstance(model.get_layer(n), keras.layers.ReLU) for n in nxt)


def test_order_d_starts_with_activation_and_ends_with_bn():
    model = build_resnet(**TINY, block_order="d")
    assert "stage2_block1_act1" in _after(model, "stage1_out")
    assert _after(model, "stage2_block1_bn2") == ["stage2_block1_add"]


def test_order_e_full_preactivation_and_final_bn_act_before_pool():
    model = build_resnet(**TINY, block_order="e")
    assert "stage2_block1_bn1" in _after(model, "stage1_out")
    assert _after(model, "stage2_block1_conv2") == ["stage2_block1_add"]
    assert _after(model, "stage4_out") == ["final_bn"]
    assert _after(model, "final_bn") == ["final_act"]
    assert _after(model, "final_act") == ["pool"]
    # projection takes the pre-activated input
    assert "stage2_block1_shortcut_conv_subsample" in _after(model, "stage2_block1_act1")


def test_stage_output_names():
    model = build_resnet(**TINY)
    assert stage_output_names(model) == ["stage1_out", "stage2_out", "stage3_out", "stage4_out"]
    assert stage_output_names([1, 1]) == ["stage1_out", "stage2_out"]
    shapes = [model.get_layer(n).output.shape[1:3] for n in stage_output_names(model)]
    assert shapes == [(32, 32), (16, 16), (8, 8), (4, 4)]


def test_identity_shortcut_only_when_shape_kept():
    model = build_resnet(**TINY)
    names = {layer.name for layer in model.layers}
    assert "stage1_block1_shortcut_conv" not in names  # stem width == stage 1 width
    assert "stage2_block1_shortcut_conv" in names  # stride 2
    assert "stage2_block2_shortcut_conv" not in names


def test_stride_two_pads_symmetrically_like_pytorch():
    """A stride-2 3x3 conv samples pixels (2i-1 .. 2i+1): PyTorch's padding=1, not 'same'."""
    model = build_resnet(blocks=[1, 1], channels=[1, 1], pool_size=1, input_shape=(8, 8, 1), name="probe")
    conv = model.get_layer("stage2_block1_conv1")
    kernel = np.zeros((3, 3, 1, 1), "float32")
    kernel[0, 0] = 1.0  # picks the top-left neighbour
    conv.set_weights([kernel])
    probe = keras.Model(model.input, conv.output)
    stage1 = keras.Model(model.input, model.get_layer("stage1_out").output)
    x = np.random.rand(1, 8, 8, 1).astype("float32")
    feature = stage1(x, training=False).numpy()[0, :, :, 0]
    out = probe(x, training=False).numpy()[0, :, :, 0]
    padded = np.pad(feature, 1)
    expected = padded[0:8:2, 0:8:2]  # top-left neighbour of pixel (2i, 2j)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("activation,coef,layer_type", [
    ("relu", None, "ReLU"), ("relu6", None, "ReLU"), ("leaky_relu", 0.2, "LeakyReLU"),
    ("elu", 0.5, "ELU"), ("swish", 2.0, "Swish"), ("silu", None, "Activation"),
])
def test_activations_and_coefficients(activation, coef, layer_type):
    model = build_resnet(**TINY, activation=activation, activation_coef=coef)
    layer = model.get_layer("stem_act")
    assert type(layer).__name__ == layer_type
    x = np.array([[-2.0, -0.5, 0.5, 8.0]], "float32")
    y = np.asarray(layer(x))
    c = coef
    expected = {
        "relu": np.maximum(x, 0), "relu6": np.clip(x, 0, 6),
        "leaky_relu": np.where(x > 0, x, c * x if c else 0.01 * x),
        "elu": np.where(x > 0, x, (c or 1.0) * (np.exp(x) - 1)),
        "swish": x / (1 + np.exp(-(c or 1.0) * x)), "silu": x / (1 + np.exp(-x)),
    }[activation]
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)


def test_regularization_adds_losses():
    plain = build_resnet(**TINY)
    reg = build_resnet(**TINY, l1=1e-5, l2=1e-3)
    assert len(plain.losses) == 0
    n_kernels = sum(1 for layer in reg.layers if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)))
    assert len(reg.losses) == n_kernels
    conv = reg.get_layer("stem_conv")
    w = conv.kernel.numpy()
    expected = 1e-5 * np.abs(w).sum() + 1e-3 * np.square(w).sum()
    np.testing.assert_allclose(float(conv.kernel_regularizer(conv.kernel)), expected, rtol=1e-4)


def test_per_stage_kernel_sizes():
    model = build_resnet(**TINY, kernel_size=[3, 5, 3, 1])
    assert model.get_layer("stage2_block1_conv1").kernel.shape[:2] == (5, 5)
    assert model.get_layer("stage4_block1_conv2").kernel.shape[:2] == (1, 1)


def test_config_round_trip_gives_identical_outputs(tmp_path):
    model = build_resnet(**TINY, block_order="e", activation="swish", activation_coef=1.5, l2=1e-4)
    x = np.random.rand(2, 32, 32, 3).astype("float32")
    expected = model(x, training=False).numpy()

    clone = keras.Model.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(clone(x, training=False).numpy(), expected, rtol=1e-6, atol=1e-6)

    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(loaded(x, training=False).numpy(), expected, rtol=1e-6, atol=1e-6)
    assert [l.name for l in loaded.layers] == [l.name for l in model.layers]


def test_preset_builds_by_keyword_expansion():
    from keras_resnet_cifar import PRESETS

    model = build_resnet(**PRESETS["tiny"])
    assert model.name == "resnet10"


@pytest.mark.parametrize("training", [True, False])
def test_fused_batch_norm_matches_keras_batch_norm(training):
    from keras_resnet_cifar.layers import FusedBatchNormalization

    x = (np.random.randn(6, 5, 5, 3) * 2 + 1).astype("float32")
    ours = FusedBatchNormalization(momentum=0.9, epsilon=1e-5)
    ref = keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5)
    ours.build(x.shape)
    ref.build(x.shape)
    weights = [np.random.rand(3).astype("float32") + 0.5 for _ in range(4)]
    ours.set_weights(weights)
    ref.set_weights(weights)
    np.testing.assert_allclose(ours(x, training=training), ref(x, training=training), rtol=1e-4, atol=1e-4)
    flat = x.reshape(-1, 3)
    if training:  # moving statistics move towards the batch's, the variance unbiased as in PyTorch
        np.testing.assert_allclose(ours.moving_mean, 0.9 * weights[2] + 0.1 * flat.mean(0), rtol=1e-5)
        np.testing.assert_allclose(ours.moving_variance, 0.9 * weights[3] + 0.1 * flat.var(0, ddof=1), rtol=1e-4)
    else:
        np.testing.assert_allclose(ours.moving_mean, weights[2])


def test_fused_batch_norm_gradients_match_keras():
    import tensorflow as tf

    from keras_resnet_cifar.layers import FusedBatchNormalization

    x = tf.constant(np.random.randn(4, 3, 3, 2).astype("float32"))
    grads = []
    for layer in (FusedBatchNormalization(), keras.layers.BatchNormalization()):
        layer.build(x.shape)
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(layer(x, training=True) ** 3)
        grads.append(tape.gradient(loss, [x, layer.gamma, layer.beta]))
    for a, b in zip(*grads):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-3)


def test_strided_1x1_shortcut_equals_a_strided_convolution():
    model = build_resnet(**TINY)
    sub = model.get_layer("stage2_block1_shortcut_conv_subsample")
    conv = model.get_layer("stage2_block1_shortcut_conv")
    x = np.random.rand(2, 32, 32, 4).astype("float32")
    reference = keras.layers.Conv2D(8, 1, strides=2, use_bias=False)
    reference.build(x.shape)
    reference.set_weights(conv.get_weights())
    np.testing.assert_allclose(conv(sub(x)), reference(x), rtol=1e-5, atol=1e-6)


def test_training_with_odd_batches_does_not_crash():
    """TF 2.21's oneDNN gradient of a strided 1x1 conv corrupts memory on odd batches; the
    builder avoids that op. Run in a subprocess: the failure is a crash, not an exception."""
    import subprocess
    import sys

    code = (
        "import numpy as np, keras\n"
        "from keras_resnet_cifar import build_resnet, PRESETS\n"
        "m = build_resnet(**PRESETS['tiny'])\n"
        "m.compile('sgd', keras.losses.CategoricalCrossentropy(from_logits=True))\n"
        "x = np.random.rand(35, 32, 32, 3).astype('float32')\n"
        "y = keras.utils.to_categorical(np.random.randint(0, 10, 35), 10)\n"
        "for b in (5, 7, 3):\n"
        "    m.fit(x, y, batch_size=b, epochs=1, verbose=0)\n"
        "print('trained')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and "trained" in result.stdout, result.stderr[-2000:]
