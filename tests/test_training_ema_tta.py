"""Training ingredients of the fast recipe (issue 10): one-cycle per step, weight EMA, flip TTA, recipes."""
import keras
import numpy as np
import pytest

from keras_resnet_cifar.config import DataConfig, OptimConfig, TrainConfig


def _linear_model(inputs=3, outputs=2):
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((inputs,)), keras.layers.Dense(outputs)])


def test_onecycle_rate_of_every_step_matches_the_formula():
    from keras_resnet_cifar.training.schedules import step_schedule

    optim = OptimConfig(schedule="onecycle", lr=0.4, epochs=3, warmup_epochs=1)
    schedule = step_schedule(optim, steps_per_epoch=5)
    expected = [0.4 * (s + 1) / 5 for s in range(5)] + [0.4 * (15 - s) / 10 for s in range(5, 16)]
    assert [float(schedule(s)) for s in range(16)] == pytest.approx(expected)
    assert float(schedule(4)) == pytest.approx(0.4) and float(schedule(15)) == 0.0
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(schedule))
    assert float(restored(7)) == pytest.approx(expected[7])
    assert step_schedule(OptimConfig(schedule="cosine"), 5) is None


def test_training_applies_the_onecycle_rate_at_each_step_and_logs_it():
    from keras_resnet_cifar.training.schedules import EpochLR
    from keras_resnet_cifar.training.train import compile_model

    optim = OptimConfig(optimizer="sgd", momentum=0.0, weight_decay=0.0, schedule="onecycle", lr=0.4,
                        epochs=3, warmup_epochs=1, batch_size=4)
    model = compile_model(_linear_model(), TrainConfig(optim=optim, jit_compile="off"), steps_per_epoch=5)
    seen = []

    class Rate(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            seen.append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))

    history = model.fit(np.random.rand(20, 3), keras.utils.to_categorical(np.arange(20) % 2, 2), batch_size=4,
                        epochs=3, shuffle=False, verbose=0, callbacks=[EpochLR(optim), Rate()])
    expected = [0.4 * (s + 1) / 5 for s in range(5)] + [0.4 * (15 - s) / 10 for s in range(5, 15)]
    assert seen == pytest.approx(expected)
    assert history.history["lr"] == pytest.approx([expected[0], expected[5], expected[10]])


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


@pytest.mark.parametrize("minutes", [5, 15, 60])
def test_recipe_resolves_to_a_config_train_accepts(minutes):
    from keras_resnet_cifar.params import count_network
    from keras_resnet_cifar.recipes import recipe_config

    base = TrainConfig(data=DataConfig(source="somewhere.tar.gz"), seed=3)
    config = recipe_config("fast", minutes, base=base)  # a TrainConfig checks itself
    assert (config.seed, config.data.source) == (3, "somewhere.tar.gz")
    assert config.data.val_fraction == 0 and config.data.tta and config.optim.schedule == "triangular"
    assert config.model.stem == "whiten" and config.model.stage_kind == "convpool"
    assert config.optim.reference_batch == 1024 and config.mixed_precision == "bf16"
    assert count_network(config.model).trainable < 5_000_000
    assert TrainConfig.from_json(config.to_json()) == config  # a recipe run's config.json reads back


def test_unknown_recipes_and_budgets_are_refused():
    from keras_resnet_cifar.recipes import recipe_config

    with pytest.raises(ValueError, match="recipe: received 'slow'"):
        recipe_config("slow")
    with pytest.raises(ValueError, match="minutes: received 30.*5, 15, 60"):
        recipe_config("fast", 30)
