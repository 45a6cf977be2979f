"""The conv-aware Muon (issue 24): Keras's Newton-Schulz iteration against its formula, ConvMuon's steps against
a NumPy transcription of airbench94_muon's optimizer, its refusals, and its state surviving kill -9."""
import keras
import numpy as np
import pytest

from keras_resnet_cifar.config import ModelConfig, OptimConfig, TrainConfig
from keras_resnet_cifar.errors import UserError
from keras_resnet_cifar.training.optimizers import ConvMuon, GroupSGD, coupled_l2, make_optimizer
from keras_resnet_cifar.training.schedules import OneCycle

A, B, C = 3.4445, -4.7750, 2.0315  # the quintic's coefficients (airbench94_muon, Keras)


def _numpy_newton_schulz(g, steps):
    """airbench94_muon's zeropower_via_newtonschulz5, in NumPy (float64)."""
    x = g / (np.linalg.norm(g) + 1e-7)
    wide = x.shape[0] > x.shape[1]
    if wide:
        x = x.T
    for _ in range(steps):
        a = x @ x.T
        x = A * x + (B * a + C * a @ a) @ x
    return x.T if wide else x


def _keras_newton_schulz(g, steps):
    optimizer = ConvMuon(0.1)
    return keras.ops.convert_to_numpy(optimizer.zeropower_via_newtonschulz5(keras.ops.convert_to_tensor(g), steps))


@pytest.mark.parametrize("shape", [(12, 5), (5, 12)])
def test_newton_schulz_maps_each_singular_value_by_the_quintic_and_keeps_the_vectors(shape):
    g = np.random.default_rng(0).normal(size=shape)
    out = _keras_newton_schulz(g.astype("float32"), 5)
    u, s, vt = np.linalg.svd(g, full_matrices=False)
    x = s / np.linalg.norm(g)  # the Frobenius norm bounds the top singular value by 1
    for _ in range(5):
        x = A * x + B * x ** 3 + C * x ** 5
    np.testing.assert_allclose(out, u @ np.diag(x) @ vt, atol=2e-5)
    singular = np.linalg.svd(out, compute_uv=False)
    assert singular.min() > 0.6 and singular.max() < 1.25  # "near 1": the orthogonalised update


def _variables():
    conv = keras.layers.Conv2D(4, 3, use_bias=False, name="conv")
    conv.build((None, 6, 6, 2))
    norm = keras.layers.BatchNormalization(center=True, scale=False, name="stage1_bn1")
    norm.build((None, 6, 6, 4))
    dense = keras.layers.Dense(3, use_bias=False, name="logits")
    dense.build((None, 4))
    rng = np.random.default_rng(1)
    for v in (conv.kernel, norm.beta, dense.kernel):
        v.assign(rng.normal(size=v.shape).astype("float32"))
    return [conv.kernel, norm.beta, dense.kernel]


def _numpy_muon_kernel(w, grads, rates, mu, steps):
    """airbench94_muon's Muon on one filter tensor in PyTorch's layout (out, in, kh, kw), a step per gradient."""
    w = np.transpose(w, (3, 2, 0, 1)).astype(np.float64)
    buf = np.zeros_like(w)
    for g, rate in zip(grads, rates):
        g = np.transpose(g, (3, 2, 0, 1))
        buf = mu * buf + g
        update = g + mu * buf
        w = w * (len(w) ** 0.5 / np.linalg.norm(w))
        w = w - rate * _numpy_newton_schulz(update.reshape(len(update), -1), steps).reshape(w.shape)
    return np.transpose(w, (2, 3, 1, 0))


def test_conv_muon_steps_equal_a_numpy_transcription_of_airbench94_muon():
    peak, total, muon_lr, mu = 2.0, 4, 0.24, 0.6
    kwargs = dict(momentum=0.85, nesterov=True, decay=0.01, bn_bias_lr_scale=8.0)
    muon_vars, sgd_vars = _variables(), _variables()
    start = keras.ops.convert_to_numpy(muon_vars[0]).copy()
    muon = ConvMuon(OneCycle(peak, 0, total), muon_lr=muon_lr, muon_momentum=mu, ns_steps=3, peak_lr=peak, **kwargs)
    sgd = GroupSGD(OneCycle(peak, 0, total), **kwargs)
    rng = np.random.default_rng(2)
    grads = [[rng.normal(size=v.shape).astype("float32") for v in muon_vars] for _ in range(3)]
    for step in grads:
        muon.apply_gradients(zip(step, muon_vars))
        sgd.apply_gradients(zip(step[1:], sgd_vars[1:]))
    # the kernel: Muon at muon_lr times the schedule's factor (total - s) / total
    rates = [muon_lr * (total - s) / total for s in range(len(grads))]
    expected = _numpy_muon_kernel(start, [g[0] for g in grads], rates, mu, 3)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(muon_vars[0]), expected, atol=1e-5)
    # the BN offset and the head: exactly GroupSGD's step (tested against PyTorch's SGD elsewhere)
    for ours, theirs in zip(muon_vars[1:], sgd_vars[1:]):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(ours), keras.ops.convert_to_numpy(theirs), rtol=1e-6)


def test_conv_muon_refuses_a_variable_it_cannot_orthogonalise():
    conv1d = keras.layers.Conv1D(4, 3, name="conv1d")
    conv1d.build((None, 8, 2))
    with pytest.raises(UserError, match=r"conv1d/kernel.*\(3, 2, 4\) \(3-D\); accepted: 4-D conv kernels"):
        make_optimizer(OptimConfig(optimizer="muon")).build([conv1d.kernel])


def test_conv_muon_with_a_schedule_needs_its_peak():
    with pytest.raises(UserError, match="schedule without peak_lr"):
        ConvMuon(OneCycle(1.0, 0, 10))


def test_muon_options_belong_to_muon_and_its_decay_is_in_the_optimizer():
    with pytest.raises(ValueError, match=r"optim.muon_lr: set with optimizer 'sgdn'.*--muon-lr"):
        OptimConfig(muon_lr=0.1)
    with pytest.raises(ValueError, match="decoupled_weight_decay: received true with optimizer 'muon'"):
        OptimConfig(optimizer="muon", decoupled_weight_decay=True)
    optim = OptimConfig(optimizer="muon", weight_decay=0.01, lr=0.5)
    assert coupled_l2(optim) == 0.0 and optim.gradient_decay() == 0.01  # no L2 in the model: the kernels take none
    built = make_optimizer(optim)
    assert isinstance(built, ConvMuon) and (built.muon_lr, built.muon_momentum, built.ns_steps) == (0.24, 0.6, 3)
    assert ConvMuon.from_config(built.get_config()).get_config() == built.get_config()


def test_a_muon_run_killed_mid_run_resumes_to_the_uninterrupted_result(tmp_path):
    """Muon's momentum buffers are optimizer variables: the per-epoch backup carries them (kill -9, rerun)."""
    from test_train_resume import assert_same_final_weights, kill_then_resume

    config = TrainConfig(model=ModelConfig(blocks=(1,), channels=(4,)),
                         optim=OptimConfig(optimizer="muon", lr=0.05, momentum=0.85, weight_decay=1e-3,
                                           schedule="onecycle", epochs=4, batch_size=16),
                         deterministic=True, histogram_freq=0, verbose=0)
    killed, reference, _, _ = kill_then_resume(config, tmp_path)
    assert_same_final_weights(killed, reference)
