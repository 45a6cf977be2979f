"""airbench's lookahead (issue 16): its update formula, its timing, and the end-of-epoch invariant that
makes a resumed run exact."""
import keras
import numpy as np
import pytest

from keras_resnet_cifar.training.callbacks import Lookahead, lookahead_alpha


def _model():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2), keras.layers.BatchNormalization()])
    return model


def test_lookahead_follows_its_formula_every_n_steps_and_at_epoch_ends():
    model = _model()
    callback = Lookahead(every=2, total_steps=9, steps_per_epoch=3)
    callback.set_model(model)
    callback.on_train_begin()
    epoch = -1
    average = [keras.ops.convert_to_numpy(w).copy() for w in model.weights]
    rng = np.random.default_rng(0)
    updates = []
    for step in range(1, 10):
        trained = [a + rng.normal(size=a.shape).astype("float32") for a in average]  # a "training step"
        for weight, value in zip(model.weights, trained):
            weight.assign(value)
        if (step - 1) // 3 != epoch:
            epoch = (step - 1) // 3
            callback.on_epoch_begin(epoch)
        callback.on_train_batch_end((step - 1) % 3)
        got = [keras.ops.convert_to_numpy(w) for w in model.weights]
        if step % 2 == 0 or step % 3 == 0:
            updates.append(step)
            alpha = 0.95 ** 2 * (step / 9) ** 3
            average = [alpha * a + (1 - alpha) * t for a, t in zip(average, trained)]
            for g, a in zip(got, average):
                np.testing.assert_allclose(g, a, rtol=1e-5, atol=1e-6)  # weights = the new average
        else:
            for g, t in zip(got, trained):
                np.testing.assert_array_equal(g, t)  # between updates the weights train freely
            average = [a for a in average]
    assert updates == [2, 3, 4, 6, 8, 9]  # every 2 steps and each epoch's last step (3, 6, 9)
    assert lookahead_alpha(0, 9, 2) == 0 and lookahead_alpha(9, 9, 5) == pytest.approx(0.95 ** 5)


def test_recipe_enables_lookahead_in_the_callbacks(tmp_path):
    from keras_resnet_cifar.recipes import recipe_config
    from keras_resnet_cifar.training.callbacks import make_callbacks

    config = recipe_config("fast", 15)
    found = make_callbacks(config, str(tmp_path), steps=48)
    look = [c for c in found if isinstance(c, Lookahead)]
    assert len(look) == 1 and (look[0].every, look[0].total) == (5, 48 * config.optim.epochs)
    off = make_callbacks(config.replace(optim={"lookahead_every": 0}), str(tmp_path), steps=48)
    assert not any(isinstance(c, Lookahead) for c in off)
