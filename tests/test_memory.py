"""Networks too large for memory are refused before any weight is made, with the estimate and what is free."""
import time

import pytest

from keras_resnet_cifar.memory import activation_floats, check_fits, estimate_bytes
from keras_resnet_cifar.spec import ResNetSpec


def test_weights_estimate_is_keras_own_parameter_count():
    from keras_resnet_cifar.model import build_from_spec

    spec = ResNetSpec(blocks=(1, 2), channels=(8, 16), block_order="e")
    model = build_from_spec(spec)
    assert estimate_bytes(spec)["weights"] == 4 * model.count_params()


def test_a_width_of_100000_fails_fast_naming_estimate_and_memory():
    from keras_resnet_cifar.model import build_resnet

    start = time.perf_counter()
    with pytest.raises(ValueError) as error:
        build_resnet([1], [100_000])
    assert time.perf_counter() - start < 1.0
    message = str(error.value)
    assert "channels [100000]" in message and "180,067,900,010 parameters" in message
    assert "1,341.6 GiB" in message and "of memory is available" in message and "--channels" in message


def test_training_estimate_grows_with_batch_and_optimizer_slots():
    spec = ResNetSpec(blocks=(1,), channels=(16,))
    sgd = estimate_bytes(spec, batch_size=8, optimizer="sgd", momentum=0.0)
    adam = estimate_bytes(spec, batch_size=8, optimizer="adam")
    assert adam["training"] - sgd["training"] == 2 * sgd["weights"]
    # stem 2 tensors + one unit of 4 (no projection: 16 -> 16), 32x32x16 values each
    assert activation_floats(spec) == 6 * 32 * 32 * 16
    big = estimate_bytes(spec, batch_size=16, optimizer="sgd", momentum=0.0)
    assert big["training"] - sgd["training"] == 8 * activation_floats(spec) * 4
    check_fits(spec, adam["training"], batch_size=8, optimizer="adam")
    with pytest.raises(ValueError, match="at batch size 9 needs at least .*--batch-size"):
        check_fits(spec, adam["training"], batch_size=9, optimizer="adam")
    # On a GPU the activations are in its memory: only building is checked against the host's.
    check_fits(spec, adam["build"], batch_size=9, optimizer="adam", accelerator=True)
    with pytest.raises(ValueError, match="building it needs at least"):
        check_fits(spec, adam["build"] - 1, batch_size=9, optimizer="adam", accelerator=True)
    check_fits(spec, None, batch_size=10**9)  # memory unknown: nothing is checked


def test_the_builder_only_makes_layers(monkeypatch):
    """build_from_spec neither reads memory nor probes devices; train and the tuner check memory."""
    import keras_resnet_cifar.memory as memory
    from keras_resnet_cifar.model import build_from_spec

    def refuse(*args, **kwargs):
        raise AssertionError("the builder probed memory")

    monkeypatch.setattr(memory, "available_bytes", refuse)
    monkeypatch.setattr(memory, "check_fits", refuse)
    assert build_from_spec(ResNetSpec(blocks=(1,), channels=(4,), input_shape=(8, 8, 3), pool_size=2)).output_shape \
        == (None, 10)


def test_train_refuses_a_network_that_cannot_train_in_memory(monkeypatch):
    from keras_resnet_cifar.config import TrainConfig
    from keras_resnet_cifar.training import runtime

    config = TrainConfig(model={"blocks": (1,), "channels": (16,)}, optim={"batch_size": 64})
    need = estimate_bytes(config.model, batch_size=64, optimizer="sgdn")["training"]
    monkeypatch.setattr(runtime, "accelerators", lambda: [])
    monkeypatch.setattr(runtime, "available_bytes", lambda: need)
    runtime.check_memory(config, "float32")
    monkeypatch.setattr(runtime, "available_bytes", lambda: need - 1)
    with pytest.raises(ValueError, match="training it at batch size 64 needs at least"):
        runtime.check_memory(config, "float32")


def test_drawing_an_absurd_network_is_refused_before_it_is_built(monkeypatch):
    import keras_resnet_cifar.network_summary as summary

    monkeypatch.setattr(summary.importlib.util, "find_spec", lambda name: object())  # as if pydot were installed
    monkeypatch.setattr(summary.shutil, "which", lambda name: "/usr/bin/dot")
    with pytest.raises(ValueError, match="channels \\[100000\\].*of memory is available"):
        summary.plot_architecture(ResNetSpec(blocks=(1,), channels=(100_000,)), "never.png")
