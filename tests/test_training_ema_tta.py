"""Two averages of the fast recipe (issue 10): the weight EMA in training and the test-time augmentation."""
import keras
import numpy as np
import pytest

from keras_resnet_cifar.config import DataConfig, OptimConfig


def _linear_model(inputs=3, outputs=2):
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((inputs,)), keras.layers.Dense(outputs)])


def test_ema_weights_equal_the_formula_after_two_steps():
    from keras_resnet_cifar.training.checkpoint import ema_weights
    from keras_resnet_cifar.training.optimizers import make_optimizer

    model = _linear_model()
    optim = OptimConfig(optimizer="sgd", momentum=0.0, lr=0.5, weight_decay=0.0)
    model.compile(make_optimizer(optim, ema=0.9), keras.losses.MeanSquaredError())
    x, y = np.random.rand(8, 3).astype("float32"), np.random.rand(8, 2).astype("float32")
    after = []
    for _ in range(2):
        model.train_on_batch(x, y)
        after.append([keras.ops.convert_to_numpy(v).copy() for v in model.trainable_variables])
    assert not np.allclose(after[0][0], after[1][0])  # the weights moved
    with ema_weights(model):  # the first step's average is the weights; then 0.9 * average + 0.1 * weights
        for variable, w1, w2 in zip(model.trainable_variables, *after):
            np.testing.assert_allclose(keras.ops.convert_to_numpy(variable), 0.9 * w1 + 0.1 * w2, rtol=1e-6)
    for variable, w2 in zip(model.trainable_variables, after[1]):  # the trained weights are back
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(variable), w2)


def test_ema_momentum_comes_from_the_config_field_and_is_checked():
    from keras_resnet_cifar.recipes import recipe_config
    from keras_resnet_cifar.training.optimizers import make_optimizer

    assert OptimConfig().ema_momentum == 0.0 and not make_optimizer(OptimConfig()).use_ema
    optim = recipe_config("fast", 15).replace(optim={"ema_momentum": 0.99}).optim
    with pytest.raises(ValueError, match="whiten_bias_epochs: the freezing step needs steps_per_epoch"):
        make_optimizer(optim)
    optimizer = make_optimizer(optim, steps_per_epoch=48)  # the recipe freezes the whitening bias at a step
    assert optimizer.use_ema and optimizer.ema_momentum == optim.ema_momentum > 0
    with pytest.raises(ValueError, match=r"optim.ema_momentum: received 1.0; accepted: a number in \[0, 1\)"):
        optim.replace(ema_momentum=1.0)


def _flip_sensitive_model():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((32, 32, 3))
    return keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Flatten()(inputs)))


def test_tta_averages_the_flipped_and_unflipped_logits():
    from keras_resnet_cifar.training.evaluate import predict_logits

    x = np.random.rand(5, 32, 32, 3).astype("float32")
    dataset = x
    model = _flip_sensitive_model()
    plain, mirrored = model.predict(x, verbose=0), model.predict(x[:, :, ::-1], verbose=0)
    assert not np.allclose(plain, mirrored)
    np.testing.assert_allclose(predict_logits(model, dataset), plain, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(predict_logits(model, dataset, batch_size=2, tta=True), (plain + mirrored) / 2, rtol=1e-5, atol=1e-5)


def test_tta_translate_averages_mirrored_shifted_views_with_reflect_padding():
    from keras_resnet_cifar.training.evaluate import predict_logits

    x = np.random.default_rng(0).random((3, 32, 32, 3)).astype("float32")
    model = _flip_sensitive_model()

    def mirror_mean(v):
        return (model.predict(v, verbose=0) + model.predict(v[:, :, ::-1], verbose=0)) / 2
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
    up_left, down_right = padded[:, :32, :32], padded[:, 2:, 2:]
    assert not np.allclose(mirror_mean(up_left), mirror_mean(x))
    expected = (mirror_mean(x) + (mirror_mean(up_left) + mirror_mean(down_right)) / 2) / 2
    np.testing.assert_allclose(predict_logits(model, x, tta=True, translate=1), expected, rtol=1e-5, atol=1e-5)
    plain = (model.predict(x, verbose=0) + (model.predict(up_left, verbose=0) + model.predict(down_right, verbose=0))
             / 2) / 2
    np.testing.assert_allclose(predict_logits(model, x, translate=1), plain, rtol=1e-5, atol=1e-5)


def test_tta_share_augments_only_the_least_confident_images():
    from keras_resnet_cifar.training.evaluate import predict_logits

    x = np.random.default_rng(1).random((10, 32, 32, 3)).astype("float32")
    model = _flip_sensitive_model()
    plain, full = predict_logits(model, x), predict_logits(model, x, tta=True, translate=1)
    margins = np.abs(plain[:, 0] - plain[:, 1])  # two classes: the margin of the top two logits
    doubtful = np.argsort(margins)[:3]
    partial = predict_logits(model, x, tta=True, translate=1, share=0.3)
    for i in range(len(x)):
        np.testing.assert_allclose(partial[i], full[i] if i in doubtful else plain[i], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(predict_logits(model, x, tta=True, translate=1, share=1.0), full, rtol=1e-6)
    with pytest.raises(ValueError, match=r"data.tta_share: received 0.0; accepted: a number in \(0, 1\]"):
        DataConfig(tta_share=0.0)


def test_evaluate_model_reports_the_tta_loss():
    from keras_resnet_cifar.data import Split
    from keras_resnet_cifar.training.evaluate import evaluate_model

    images = np.random.default_rng(0).integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)
    split, model = Split(images=images, labels=np.array([0, 1, 0, 1, 0, 1])), _flip_sensitive_model()
    x = images.astype("float32") / 255
    logits = (model.predict(x, verbose=0) + model.predict(x[:, :, ::-1], verbose=0)) / 2
    log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    config = DataConfig(normalize=False)
    result = evaluate_model(model, split, ["a", "b"], batch_size=4, data_config=config, tta=True)
    assert result["tta"] is True
    assert result["test_loss"] == pytest.approx(-log_probs[np.arange(6), split.labels].mean(), rel=1e-4)
    assert evaluate_model(model, split, ["a", "b"], data_config=config)["tta"] is False
