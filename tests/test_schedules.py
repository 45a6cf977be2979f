"""Learning-rate schedules: each formula per epoch, and the callbacks that apply them."""
import math

import keras
import numpy as np
import pytest

from keras_resnet_cifar.config import SCHEDULES, OptimConfig, TrainConfig
from keras_resnet_cifar.training.schedules import EpochLR, lr_for_epoch, schedule_curve, step_schedule


def optim(**kwargs):
    return OptimConfig(**{"lr": 0.1, "epochs": 50, **kwargs})


def test_exp_is_gamma_to_the_epoch():
    config = optim(schedule="exp", gamma=0.9)
    assert [lr_for_epoch(config, e) for e in range(4)] == pytest.approx([0.1, 0.09, 0.081, 0.0729])
    assert lr_for_epoch(config, 49) == pytest.approx(0.1 * 0.9 ** 49)


def test_step_divides_by_ten_every_twenty_epochs():
    curve = schedule_curve(optim(schedule="step"))
    assert curve[:20] == pytest.approx([0.1] * 20)
    assert curve[20:40] == pytest.approx([0.01] * 20)
    assert curve[40:] == pytest.approx([0.001] * 10)


def test_cosine_restarts_at_20_and_60_as_in_the_study():
    config = optim(schedule="cosine_restarts", restart_epochs=20, restart_mult=2.0, epochs=100)
    curve = schedule_curve(config)
    restarts = [e for e in range(1, 100) if curve[e] > curve[e - 1]]
    assert restarts == [20, 60]
    assert curve[0] == curve[20] == curve[60] == pytest.approx(0.1)
    assert curve[10] == pytest.approx(0.05)  # half way through the first 20-epoch period
    assert curve[40] == pytest.approx(0.05)  # half way through the 40-epoch second period
    assert curve[19] == pytest.approx(0.05 * (1 + math.cos(math.pi * 19 / 20)))


def test_cosine_anneals_to_min_lr_over_the_run():
    config = optim(schedule="cosine", epochs=10, min_lr=0.001)
    curve = schedule_curve(config)
    expected = [0.001 + 0.099 * (1 + math.cos(math.pi * e / 10)) / 2 for e in range(10)]
    assert curve == pytest.approx(expected)
    assert all(a > b for a, b in zip(curve, curve[1:]))


def test_warmup_ramps_linearly_then_the_schedule_starts():
    config = optim(schedule="exp", gamma=0.5, warmup_epochs=3)
    assert schedule_curve(config, 6) == pytest.approx([0.025, 0.05, 0.075, 0.1, 0.05, 0.025])
    cosine = optim(schedule="cosine", warmup_epochs=2, epochs=6)
    assert schedule_curve(cosine)[2:] == pytest.approx([0.1 * (1 + math.cos(math.pi * t / 4)) / 2 for t in range(4)])


@pytest.mark.parametrize("name", ["constant", "plateau"])
def test_constant_and_plateau_start_flat(name):
    assert schedule_curve(optim(schedule=name), 5) == pytest.approx([0.1] * 5)


def test_every_schedule_has_a_formula_and_unknown_ones_fail():
    for name in SCHEDULES:  # triangular starts below its peak, at lr_start_factor x lr
        start = optim(schedule=name).lr_start_factor if name == "triangular" else 1.0
        assert lr_for_epoch(optim(schedule=name), 0) == pytest.approx(0.1 * start)
    with pytest.raises(ValueError, match="schedule: received 'linear'; accepted: 'exp', 'step'"):
        lr_for_epoch(optim(schedule="linear"), 0)


def _compiled_model():
    import keras

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(1.0), "mse")
    return model


def test_epoch_lr_sets_the_rate_and_logs_the_rate_used():
    from keras_resnet_cifar.training.schedules import EpochLR

    callback = EpochLR(optim(schedule="exp", gamma=0.5))
    callback.set_model(_compiled_model())
    callback.on_epoch_begin(2)
    logs = {"learning_rate": 123.0}
    callback.on_epoch_end(2, logs)
    assert logs == {"lr": pytest.approx(0.025)}
    assert float(callback.model.optimizer.learning_rate) == pytest.approx(0.025)


def test_plateau_halves_after_patience_and_its_counters_survive_a_resume():
    from keras_resnet_cifar.training.schedules import lr_callbacks

    plateau, epoch_lr = lr_callbacks(optim(schedule="plateau", plateau_patience=2))
    model = _compiled_model()
    for callback in (plateau, epoch_lr):
        callback.set_model(model)
    plateau.on_train_begin()
    rates = []
    for epoch, val_loss in enumerate([1.0, 0.9, 0.95, 0.93, 0.97]):
        epoch_lr.on_epoch_begin(epoch)
        logs = {"val_loss": val_loss}
        plateau.on_epoch_end(epoch, logs)
        epoch_lr.on_epoch_end(epoch, logs)
        rates.append(logs["lr"])
    assert rates == pytest.approx([0.1, 0.1, 0.1, 0.1, 0.05])  # reduced after epochs 3 and 4 failed to beat 0.9
    assert plateau.get_state() == {"best": pytest.approx(0.9), "wait": 1, "cooldown_counter": 0}
    resumed, _ = lr_callbacks(optim(schedule="plateau", plateau_patience=2))
    resumed.initial_state = plateau.get_state()
    resumed.set_model(model)
    resumed.on_train_begin()
    assert resumed.get_state() == plateau.get_state()


def _linear_model(inputs=3, outputs=2):
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((inputs,)), keras.layers.Dense(outputs)])


def test_onecycle_rate_of_every_step_matches_the_formula():
    optim = OptimConfig(schedule="onecycle", lr=0.4, epochs=3, warmup_epochs=1)
    schedule = step_schedule(optim, steps_per_epoch=5)
    expected = [0.4 * (s + 1) / 5 for s in range(5)] + [0.4 * (15 - s) / 10 for s in range(5, 16)]
    assert [float(schedule(s)) for s in range(16)] == pytest.approx(expected)
    assert float(schedule(4)) == pytest.approx(0.4) and float(schedule(15)) == 0.0
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(schedule))
    assert float(restored(7)) == pytest.approx(expected[7])
    assert step_schedule(OptimConfig(schedule="cosine"), 5) is None


def test_training_applies_the_onecycle_rate_at_each_step_and_logs_it():
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
