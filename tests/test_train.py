"""End to end on small mock data: the CLI's run directory, every optimizer and schedule, the LR logged."""
import csv
import json
import os

import numpy as np
import pytest

from keras_resnet_cifar.cli import main
from keras_resnet_cifar.config import DataConfig, ModelConfig, OptimConfig, TrainConfig
from keras_resnet_cifar.training.schedules import schedule_curve

CLASSES = [f"class{i}" for i in range(10)]
CLI_ARGS = ["--preset", "tiny", "--val-fraction", "0.2", "--epochs", "3", "--batch-size", "16", "--optimizer", "sgdn",
            "--lr", "0.05", "--schedule", "step", "--step-epochs", "1", "--step-gamma", "0.5", "--warmup-epochs", "1",
            "--deterministic", "--quiet"]


def _class_images(rng, count, label):
    """32x32 images whose colour depends on the class, plus noise, so a tiny network can learn a little."""
    colour = np.array([label * 25, 255 - label * 25, (label * 70) % 256])
    return np.clip(colour + rng.normal(0, 40, (count, 32, 32, 3)), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    from PIL import Image

    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for split, count in (("train", 8), ("test", 2)):
        for label, name in enumerate(CLASSES):
            (root / split / name).mkdir(parents=True)
            for index, image in enumerate(_class_images(rng, count, label)):
                Image.fromarray(image).save(root / split / name / f"{index}.png")
    return str(root)


@pytest.fixture(scope="module")
def cli_run(image_folder, tmp_path_factory):
    run = str(tmp_path_factory.mktemp("cli") / "run")
    assert main(["train", *CLI_ARGS, "--data", image_folder, "--workdir", run]) == 0
    return run


def _history(run):
    with open(os.path.join(run, "history.csv"), encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _json(run, name):
    with open(os.path.join(run, name), encoding="utf-8") as handle:
        return json.load(handle)


def test_cli_run_writes_the_run_directory_contract(cli_run, image_folder):
    for name in ("config.json", "class_names.json", "best.keras", "last.weights.h5", "history.csv", "metrics.json",
                 "confusion.png", "history.png"):
        assert os.path.isfile(os.path.join(cli_run, name)), name
    assert not os.path.exists(os.path.join(cli_run, "backup"))
    config = TrainConfig.from_dict(_json(cli_run, "config.json"))
    assert (config.model.blocks, config.model.channels) == ((1, 1, 1, 1), (4, 8, 8, 16))
    assert (config.optim.optimizer, config.optim.schedule, config.optim.lr, config.optim.epochs) == ("sgdn", "step", 0.05, 3)
    assert config.data.source == image_folder and config.deterministic and config.verbose == 2
    assert _json(cli_run, "class_names.json") == CLASSES
    for name in ("confusion.png", "history.png"):
        with open(os.path.join(cli_run, name), "rb") as handle:
            assert handle.read(8) == b"\x89PNG\r\n\x1a\n"


def test_metrics_json_fields(cli_run):
    from keras_resnet_cifar.params import count_params

    metrics = _json(cli_run, "metrics.json")
    matrix = np.array(metrics["confusion_matrix"])
    assert matrix.shape == (10, 10) and matrix.sum() == metrics["num_test"] == 20
    assert metrics["test_accuracy"] == pytest.approx(np.trace(matrix) / 20)
    assert list(metrics["per_class_accuracy"]) == CLASSES
    assert metrics["per_class_accuracy"]["class3"] == pytest.approx(matrix[3, 3] / matrix[3].sum())
    assert metrics["test_loss"] > 0 and metrics["seconds_per_epoch"] > 0 and metrics["train_images_per_second"] > 0
    assert metrics["train_seconds"] == pytest.approx(sum(float(r["seconds"]) for r in _history(cli_run)), abs=0.01)
    assert metrics["trainable_params"] == count_params([1, 1, 1, 1], [4, 8, 8, 16])
    assert (metrics["epochs"], metrics["num_train"], metrics["num_val"]) == (3, 64, 16)
    assert set(metrics["versions"]) == {"python", "tensorflow", "keras", "keras_resnet_cifar"}
    assert "CPU" in metrics["device"] or "x" in metrics["device"]
    assert "image folder" in metrics["data_source"]
    assert metrics["stopped_early"] is False and metrics["terminated_on_nan"] is False


def test_history_logs_the_rate_of_the_schedule_formula(cli_run):
    rows = _history(cli_run)
    assert list(rows[0]) == ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds", "val_seconds"]
    assert all(0 < float(r["val_seconds"]) < float(r["seconds"]) for r in rows)
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    expected = schedule_curve(OptimConfig(lr=0.05, schedule="step", step_epochs=1, step_gamma=0.5, warmup_epochs=1), 3)
    assert expected == pytest.approx([0.025, 0.05, 0.025])
    assert [float(r["lr"]) for r in rows] == pytest.approx(expected, rel=1e-6)


def test_best_checkpoint_is_the_best_validation_epoch(cli_run, image_folder):
    import keras

    from keras_resnet_cifar.data import load_data
    from keras_resnet_cifar.training.evaluate import evaluate_model

    val = [float(r["val_accuracy"]) for r in _history(cli_run)]
    metrics = _json(cli_run, "metrics.json")
    assert metrics["best_epoch"] == int(np.argmax(val)) + 1
    assert metrics["best_val_accuracy"] == pytest.approx(max(val))
    data = load_data(image_folder, val_fraction=0.2, seed=0, verbose=False)
    best = keras.saving.load_model(os.path.join(cli_run, "best.keras"), compile=False)
    assert evaluate_model(best, data.val, data.class_names)["test_accuracy"] == pytest.approx(max(val))


def test_weight_samples_per_epoch_and_stage(cli_run):
    files = sorted(os.listdir(os.path.join(cli_run, "weights")))
    assert files == ["epoch_001.npz", "epoch_002.npz", "epoch_003.npz"]
    first, last = (np.load(os.path.join(cli_run, "weights", f)) for f in (files[0], files[-1]))
    assert list(first["groups"]) == ["stem", "stage1", "stage2", "stage3", "stage4", "head"]
    assert int(first["epoch"]) == 1 and int(last["epoch"]) == 3
    assert int(first["stem_count"]) == 3 * 3 * 3 * 4 and int(first["head_count"]) == 16 * 10
    assert first["stem"].shape == (108,)  # fewer values than the sample size: all of them
    assert float(first["stem_mean"]) == pytest.approx(float(first["stem"].mean()), abs=1e-6)
    assert first["stage4"].dtype == np.float32 and not np.allclose(first["stage4"], last["stage4"])


def test_tensorboard_has_scalars_lr_and_weight_histograms(cli_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(os.path.join(cli_run, "tensorboard", "train"), size_guidance={"tensors": 0})
    tags = set(events.Reload().Tags()["tensors"])
    assert {"epoch_loss", "epoch_lr"} <= tags
    assert any("stage2_block1_conv1" in tag and "histogram" in tag for tag in tags)


def test_rerunning_a_finished_run_does_not_train_and_evaluate_leaves_metrics(cli_run, image_folder, capsys):
    metrics_path = os.path.join(cli_run, "metrics.json")
    before = os.stat(metrics_path).st_mtime_ns
    assert main(["train", *CLI_ARGS, "--data", image_folder, "--workdir", cli_run]) == 0
    assert "finished run" in capsys.readouterr().out
    assert main(["evaluate", cli_run]) == 0
    assert os.stat(metrics_path).st_mtime_ns == before
    assert _json(cli_run, "evaluation.json")["test_accuracy"] == pytest.approx(_json(cli_run, "metrics.json")["test_accuracy"])


# One stage of width 4: the smallest network build_resnet makes, so each run costs ~2 s of CPU.
MICRO = ModelConfig(blocks=(1,), channels=(4,))


@pytest.fixture(scope="module")
def mock_data():
    rng = np.random.default_rng(1)
    x = np.concatenate([_class_images(rng, 8, label) for label in range(10)])
    y = np.repeat(np.arange(10), 8)
    return x, y


@pytest.mark.parametrize("optim, data, run", [
    (dict(optimizer="sgd", schedule="exp", gamma=0.5, decoupled_weight_decay=True), {}, dict(steps_per_execution=2)),
    (dict(optimizer="adagrad", schedule="cosine", min_lr=0.01), {}, {}),
    (dict(optimizer="adadelta", schedule="cosine_restarts", restart_epochs=1, warmup_epochs=1, lr=1.0), {}, {}),
    (dict(optimizer="adam", schedule="constant", lr=0.01, label_smoothing=0.1),
     dict(augment={"mixup_alpha": 0.2}, val_fraction=0.0), {}),
], ids=["sgd-exp-decoupled-spe2", "adagrad-cosine", "adadelta-restarts-warmup", "adam-constant-mixup-noval"])
def test_each_optimizer_and_schedule_trains_and_logs_its_rate(optim, data, run, mock_data, tmp_path):
    from keras_resnet_cifar.data import from_arrays
    from keras_resnet_cifar.training.train import train

    x, y = mock_data
    config = TrainConfig(model=MICRO, data=DataConfig(**data),
                         optim=OptimConfig(**{"lr": 0.1, "epochs": 3, "batch_size": 32, **optim}),
                         histogram_freq=0, verbose=0, **run)
    split = from_arrays(x, y, x[::4], y[::4], val_fraction=config.data.val_fraction)
    metrics = train(config, tmp_path, data=split)
    rows = _history(str(tmp_path))
    assert [float(r["lr"]) for r in rows] == pytest.approx(schedule_curve(config.optim), rel=1e-6)
    assert all(np.isfinite(float(r["loss"])) for r in rows)
    assert 0 <= metrics["test_accuracy"] <= 1
    if config.data.augment.mixup_alpha:
        assert "mixup_accuracy" in rows[0] and "accuracy" not in rows[0]
    if data.get("val_fraction") == 0.0:
        assert "val_accuracy" not in rows[0]
        assert metrics["best_val_accuracy"] is None and metrics["best_epoch"] == 3


def test_optimizers_and_where_weight_decay_goes():
    import keras

    from keras_resnet_cifar.optimizer_table import OPTIMIZERS
    from keras_resnet_cifar.training.optimizers import coupled_l2, make_optimizer
    from keras_resnet_cifar.training.train import build_model

    kinds = {name: make_optimizer(OptimConfig(optimizer=name, lr=0.2)) for name in OPTIMIZERS}
    assert {name: type(o).__name__ for name, o in kinds.items()} == {
        "sgd": "SGD", "sgdn": "SGD", "adagrad": "Adagrad", "adadelta": "Adadelta", "adam": "Adam", "adamw": "AdamW",
        "muon": "ConvMuon"}
    assert kinds["sgdn"].nesterov and not kinds["sgd"].nesterov and kinds["sgd"].momentum == 0.9
    assert all(float(o.learning_rate) == pytest.approx(0.2) for o in kinds.values())
    coupled = OptimConfig(weight_decay=1e-3)
    assert coupled_l2(coupled) == pytest.approx(5e-4) and not kinds["sgdn"].weight_decay
    model = build_model(TrainConfig(model=MICRO, optim=coupled))
    assert model.get_layer("stem_conv").kernel_regularizer.l2 == pytest.approx(5e-4)
    for config in (OptimConfig(optimizer="adamw", weight_decay=1e-3),
                   OptimConfig(optimizer="sgd", weight_decay=1e-3, decoupled_weight_decay=True)):
        assert coupled_l2(config) == 0.0
        model = build_model(TrainConfig(model=MICRO, optim=config))
        assert model.get_layer("stem_conv").kernel_regularizer is None and not model.losses
        optimizer = make_optimizer(config)
        assert optimizer.weight_decay == pytest.approx(1e-3)
        decayed = {v.path: optimizer._use_weight_decay(v) for v in model.trainable_variables}
        assert decayed["stem_conv/kernel"] and decayed["logits/kernel"]
        assert not decayed["stem_bn/gamma"] and not decayed["logits/bias"]
    assert isinstance(kinds["adam"], keras.optimizers.Optimizer)


def test_mixed_precision_under_a_strategy_trains_and_resumes(mock_data, tmp_path):
    """float16 compute with a loss-scale optimizer under MirroredStrategy (one CPU replica here):
    the schedule still sets the rate, and an interrupted run resumes from its last committed epoch."""
    import keras

    from keras_resnet_cifar.data import from_arrays
    from keras_resnet_cifar.training.train import train

    class Interrupt(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt  # before epoch 2 is committed

    x, y = mock_data
    config = TrainConfig(model=MICRO, optim=OptimConfig(epochs=3, batch_size=32, schedule="exp", gamma=0.5),
                         mixed_precision="on", strategy="mirrored", histogram_freq=0, verbose=0)
    split = from_arrays(x, y, x[::4], y[::4])
    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path, data=split, callbacks=[Interrupt()])
    assert keras.config.dtype_policy().name == "float32"  # the global policy is restored
    assert [r["epoch"] for r in _history(str(tmp_path))] == ["1"]
    metrics = train(config, tmp_path, data=split)
    assert metrics["mixed_precision"] == "mixed_float16" and metrics["strategy"] == "MirroredStrategy"
    assert [float(r["lr"]) for r in _history(str(tmp_path))] == pytest.approx([0.1, 0.05, 0.025])
    best = keras.saving.load_model(os.path.join(tmp_path, "best.keras"), compile=False)
    assert best.get_layer("stem_conv").dtype_policy.name == "mixed_float16"


def _small_compiled_model():
    import keras

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, name="dense")])
    model.compile(keras.optimizers.SGD(0.1), "mse")
    return model


def test_kept_checkpoint_is_the_best_validation_epoch_not_the_last(tmp_path):
    import keras

    from keras_resnet_cifar.training.callbacks import HistoryCSV
    from keras_resnet_cifar.training.checkpoint import RunCheckpoint, load_state

    model = _small_compiled_model()
    history = HistoryCSV(tmp_path / "history.csv")
    checkpoint = RunCheckpoint(tmp_path, history=history)
    for callback in (history, checkpoint):
        callback.set_model(model)
    for epoch, accuracy in enumerate([0.5, 0.8, 0.6]):
        model.get_layer("dense").bias.assign([float(epoch + 1)])  # marks the weights of each epoch
        logs = {"loss": 1.0, "val_accuracy": accuracy}
        history.on_epoch_begin(epoch)
        history.on_epoch_end(epoch, logs)
        checkpoint.on_epoch_end(epoch, logs)
    best = keras.saving.load_model(tmp_path / "best.keras", compile=False)
    assert float(best.get_layer("dense").bias.numpy()[0]) == 2.0  # epoch 2, not the last
    state = load_state(tmp_path)
    assert (state["epoch"], state["best_epoch"], state["best_val_accuracy"]) == (3, 2, pytest.approx(0.8))
    assert sorted(os.listdir(tmp_path / "backup")) == ["epoch_003.weights.h5", "state.json"]
    assert [row["epoch"] for row in state["history"]] == [1, 2, 3]


def test_early_stopping_on_validation_accuracy_survives_a_resume():
    from keras_resnet_cifar.training.callbacks import EarlyStoppingOnVal

    model = _small_compiled_model()
    stopper = EarlyStoppingOnVal(2)
    stopper.set_model(model)
    stopper.on_train_begin()
    for epoch, accuracy in enumerate([0.3, 0.5, 0.4]):
        stopper.on_epoch_end(epoch, {"val_accuracy": accuracy})
    assert not model.stop_training and stopper.get_state() == {"wait": 1, "best": 0.5, "best_epoch": 1}
    resumed = EarlyStoppingOnVal(2, initial_state=stopper.get_state())
    resumed.set_model(model)
    resumed.on_train_begin()
    resumed.on_epoch_end(3, {"val_accuracy": 0.45})  # a second epoch without gain: stop
    assert model.stop_training


def test_bf16_trains_under_mixed_bfloat16(mock_data, tmp_path):
    import keras

    from keras_resnet_cifar.data import from_arrays
    from keras_resnet_cifar.training.runtime import precision_policy
    from keras_resnet_cifar.training.train import train

    assert precision_policy("bf16") == "mixed_bfloat16" and precision_policy("off") == "float32"
    with pytest.raises(ValueError, match="mixed_precision"):  # checked once, by the config
        TrainConfig(mixed_precision="fp8")
    x, y = mock_data
    config = TrainConfig(model=MICRO, optim=OptimConfig(epochs=1, batch_size=16), mixed_precision="bf16",
                         histogram_freq=0, verbose=0)
    metrics = train(config, tmp_path / "run", data=from_arrays(x, y, x[:20], y[:20], val_fraction=0.2))
    assert metrics["mixed_precision"] == "mixed_bfloat16"
    assert np.isfinite(metrics["test_loss"])
    best = keras.saving.load_model(tmp_path / "run" / "best.keras", compile=False)
    assert best.get_layer("stem_conv").dtype_policy.name == "mixed_bfloat16"
    assert keras.config.dtype_policy().name == "float32"
