"""airbench's optimizer (issue 16): decoupled lr/wd per reference batch, BN offsets at a larger rate,
the whitening bias frozen after its epochs, each against PyTorch's SGD written out in NumPy."""
import keras
import numpy as np
import pytest

from keras_resnet_cifar.config import OptimConfig
from keras_resnet_cifar.layers import PatchWhitening
from keras_resnet_cifar.training.optimizers import GroupSGD, coupled_l2, make_optimizer

AIRBENCH = dict(optimizer="sgdn", momentum=0.85, lr=11.5, weight_decay=0.0153, reference_batch=1024,
                batch_size=1024, bn_bias_lr_scale=64.0)


def test_decoupled_rate_is_airbench_at_the_reference_batch_and_scales_with_the_batch():
    optim = OptimConfig(**AIRBENCH)
    kilostep = 1024 * (1 + 1 / (1 - 0.85))
    # PyTorch's lr for a summed loss is lr / kilostep; for Keras's mean loss that is times the batch.
    assert optim.keras_lr() == pytest.approx(11.5 / kilostep * 1024)
    assert optim.replace(batch_size=512).keras_lr() == pytest.approx(optim.keras_lr() / 2)
    assert optim.gradient_decay() == pytest.approx(0.0153 / 11.5)  # the same at every batch
    assert coupled_l2(optim) == 0.0 and coupled_l2(optim.replace(reference_batch=None)) == 0.0153 / 2
    assert OptimConfig(lr=0.1).keras_lr() == 0.1  # no reference batch: lr is Keras's


def _layers():
    dense = keras.layers.Dense(3, name="dense")
    dense.build((None, 4))
    norm = keras.layers.BatchNormalization(name="stage1_bn1")
    norm.build((None, 3))
    stem = PatchWhitening(2, 1, name="stem_whiten")
    stem.build((None, 2, 2, 1))
    rng = np.random.default_rng(0)
    for v in (dense.kernel, dense.bias, norm.beta, stem.bias):
        v.assign(rng.normal(size=v.shape).astype("float32"))
    return [dense.kernel, dense.bias, norm.beta, stem.bias]


def _torch_sgd(params, grads_per_step, lrs, decays, momentum, freeze_step=None, frozen=()):
    """PyTorch SGD(nesterov=True) on a summed loss: d = g + wd * p; buf = m * buf + d; p -= lr * (d + m * buf)."""
    params = [p.copy() for p in params]
    bufs = [None] * len(params)
    for step, grads in enumerate(grads_per_step):
        for i, (p, g) in enumerate(zip(params, grads)):
            if freeze_step is not None and i in frozen and step >= freeze_step:
                continue
            d = g + decays[i] * p
            bufs[i] = d if bufs[i] is None else momentum * bufs[i] + d
            p -= lrs[i] * (d + momentum * bufs[i])
    return params


def test_group_sgd_steps_equal_pytorch_param_groups_of_airbench():
    optim = OptimConfig(**AIRBENCH, whiten_bias_epochs=1)
    variables = _layers()
    start = [keras.ops.convert_to_numpy(v).copy() for v in variables]
    optimizer = make_optimizer(optim, steps_per_epoch=2)  # the bias freezes at step 2
    assert isinstance(optimizer, GroupSGD)
    rng = np.random.default_rng(1)
    batch = 1024
    grads = [[rng.normal(size=v.shape).astype("float32") for v in variables] for _ in range(4)]
    for step in grads:
        optimizer.apply_gradients(zip([keras.ops.convert_to_tensor(g) for g in step], variables))
    # airbench: lr = 11.5 / kilostep for the summed loss (its gradient is batch x the mean's), wd = 0.0153 *
    # batch / kilostep, torch weight_decay = wd / lr per group; BN offsets at 64 x lr, weight_decay wd / (64 lr).
    kilostep = 1024 * (1 + 1 / 0.15)
    lr, wd = 11.5 / kilostep, 0.0153 * batch / kilostep
    lrs = [lr, lr, 64 * lr, lr]
    expected = _torch_sgd(start, [[g * batch for g in step] for step in grads], lrs, [wd / r for r in lrs], 0.85,
                          freeze_step=2, frozen=(3,))
    for variable, want in zip(variables, expected):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(variable), want, rtol=2e-5, atol=2e-6)


def test_bn_bias_factor_applies_to_bn_offsets_only_and_frozen_bias_stops():
    variables = _layers()
    before = [keras.ops.convert_to_numpy(v).copy() for v in variables]
    optimizer = GroupSGD(0.1, momentum=0.0, bn_bias_lr_scale=8.0, freeze_bias_step=1)
    ones = [keras.ops.ones(v.shape) for v in variables]
    optimizer.apply_gradients(zip(ones, variables))
    moved = [before[i] - keras.ops.convert_to_numpy(v) for i, v in enumerate(variables)]
    np.testing.assert_allclose(moved[0], 0.1, rtol=1e-6)  # dense kernel
    np.testing.assert_allclose(moved[1], 0.1, rtol=1e-6)  # dense bias: not a BN offset
    np.testing.assert_allclose(moved[2], 0.8, rtol=1e-6)  # BN beta
    np.testing.assert_allclose(moved[3], 0.1, rtol=1e-6)  # whitening bias, step 0 < 1
    frozen = keras.ops.convert_to_numpy(variables[3]).copy()
    optimizer.apply_gradients(zip(ones, variables))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(variables[3]), frozen)
    restored = GroupSGD.from_config(optimizer.get_config())
    assert (restored.bn_bias_lr_scale, restored.freeze_bias_step) == (8.0, 1)


@pytest.mark.parametrize("field, value", [("reference_batch", 1024), ("bn_bias_lr_scale", 64.0),
                                          ("whiten_bias_epochs", 3)])
def test_group_options_need_sgd(field, value):
    with pytest.raises(ValueError, match=f"optim.{field}: set with optimizer 'adam'; accepted: optimizer sgd or sgdn"):
        OptimConfig(optimizer="adam", **{field: value})
    assert getattr(OptimConfig(**{field: value}), field) == value


def test_triangular_schedule_of_every_step_matches_airbench():
    from keras_resnet_cifar.training.schedules import lr_at_step, step_schedule

    optim = OptimConfig(**AIRBENCH, schedule="triangular", epochs=3)
    total, peak = 30, int(30 * 0.23)
    schedule = step_schedule(optim, steps_per_epoch=10)
    for step in range(total + 1):
        factor = (0.2 + 0.8 * step / peak) if step < peak else 1 + (0.07 - 1) * (step - peak) / (total - peak)
        assert float(schedule(step)) == pytest.approx(optim.keras_lr() * factor, rel=1e-5)
        assert lr_at_step(optim, step, 10) == pytest.approx(optim.keras_lr() * factor)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(schedule))
    assert float(restored(11)) == pytest.approx(float(schedule(11)))
