"""Bad input is caught before training starts, with a message saying what was received and accepted."""
import json
import os

import numpy as np
import pytest

from keras_resnet_cifar.cli import build_parser, main
from keras_resnet_cifar.config import OptimConfig, TrainConfig
from keras_resnet_cifar.locks import LOCK_NAME
from keras_resnet_cifar.spec import ResNetSpec
from keras_resnet_cifar.training.rundir import prepare

MICRO = ResNetSpec(blocks=(1,), channels=(4,))
CONFIG = TrainConfig(model=MICRO, optim=OptimConfig(epochs=1, batch_size=8), histogram_freq=0, verbose=0)


@pytest.fixture(scope="module")
def data():
    from keras_resnet_cifar.data import from_arrays

    x = np.zeros((40, 32, 32, 3), np.uint8)
    y = np.arange(40) % 10
    return from_arrays(x, y, x[:10], y[:10], val_fraction=0.25)


@pytest.mark.parametrize("change, message", [
    (dict(optim={"optimizer": "rmsprop"}), "optim.optimizer: received 'rmsprop'; accepted: 'sgd', 'sgdn', 'adagrad'"),
    (dict(optim={"schedule": "poly"}), "optim.schedule: received 'poly'; accepted: 'exp', 'step', 'cosine_restarts'"),
    (dict(optim={"lr": 0.0}), "lr: received 0.0; accepted: a number > 0"),
    (dict(optim={"lr": -0.1}), "lr: received -0.1"),
    (dict(optim={"epochs": 0}), "epochs: received 0; accepted: an integer >= 1"),
    (dict(optim={"batch_size": 0}), "batch_size: received 0; accepted: an integer >= 1"),
    (dict(optim={"batch_size": -8}), "batch_size: received -8"),
    (dict(optim={"warmup_epochs": 1}), "warmup_epochs: received 1 for 1 epochs"),
    (dict(optim={"label_smoothing": 1.0}), "optim.label_smoothing: received 1.0"),
    (dict(data={"augment": {"cutout": -3}}), r"data.augment.cutout: received -3; accepted: an integer >= 0 \(--cutout\)"),
    (dict(data={"mean": (0.5, 0.5)}), r"data.mean: received \(0.5, 0.5\); accepted: 3 numbers"),
    (dict(strategy="tpu"), "strategy: received 'tpu'; accepted: 'auto', 'one', 'mirrored', 'multiworker'"),
    (dict(model={"blocks": (1, 1)}), "model.blocks and model.channels: received 2 and 1 entries"),
])
def test_bad_config_fails_before_anything_is_written(change, message, data, tmp_path):
    from keras_resnet_cifar.training.train import train

    workdir = tmp_path / "run"
    with pytest.raises(ValueError, match=message):
        train(CONFIG.replace(**change), workdir, data=data)
    assert not workdir.exists()
    with pytest.raises(ValueError, match=message):  # a dict is checked the same way
        train(json.loads(CONFIG.to_json()) | {k: v for k, v in change.items() if not isinstance(v, dict)} | {
            k: {**json.loads(CONFIG.to_json())[k], **v} for k, v in change.items() if isinstance(v, dict)},
            workdir, data=data)
    assert not workdir.exists()


@pytest.mark.parametrize("change, message", [
    (dict(optim={"batch_size": 31}), "batch_size: received 31 but the training split has 30 images; accepted: at most 30"),
    (dict(optim={"schedule": "plateau"}, data={"val_fraction": 0.0}), "the plateau schedule need a validation split"),
    (dict(optim={"early_stopping_patience": 2}, data={"val_fraction": 0.0}), "early stopping need a validation split"),
    (dict(model=ResNetSpec(blocks=(1,), channels=(4,), num_classes=3)), "the model has 3 outputs but the data has 10"),
])
def test_config_that_does_not_fit_the_data_fails_before_training(change, message, tmp_path):
    from keras_resnet_cifar.data import from_arrays
    from keras_resnet_cifar.training.train import train

    config = CONFIG.replace(**change)
    x = np.zeros((40, 32, 32, 3), np.uint8)
    y = np.arange(40) % 10
    split = from_arrays(x, y, x[:10], y[:10], val_fraction=0.0 if config.data.val_fraction == 0.0 else 0.25)
    with pytest.raises(ValueError, match=message):
        train(config, tmp_path, data=split)
    assert [name for name in os.listdir(tmp_path) if name != LOCK_NAME] == []  # the folder's lock, not a run file


def test_workdir_with_another_config_is_refused_listing_the_differences(data, tmp_path):
    from keras_resnet_cifar.training.train import train

    (tmp_path / "config.json").write_text(CONFIG.replace(optim={"lr": 0.2}, seed=3).to_json())
    with pytest.raises(FileExistsError) as error:
        train(CONFIG, tmp_path, data=data)
    text = str(error.value)
    assert "optim.lr: 0.2 -> 0.1" in text and "seed: 3 -> 0" in text and "--force" in text
    assert "optim.epochs" not in text
    # A change of verbosity alone is not a different run.
    assert prepare(tmp_path, CONFIG.replace(optim={"lr": 0.2}, seed=3, verbose=2)) == "resume"


def test_force_deletes_the_earlier_run_files_only(tmp_path):
    for name in ("config.json", "best.keras", "metrics.json", "notes.txt"):
        (tmp_path / name).write_text("{}")
    (tmp_path / "weights").mkdir()
    assert prepare(tmp_path, CONFIG, force=True) == "new"
    assert sorted(os.listdir(tmp_path)) == ["notes.txt"]
    (tmp_path / "config.json").write_text(CONFIG.to_json())
    (tmp_path / "metrics.json").write_text("{}")
    assert prepare(tmp_path, CONFIG) == "finished"


def test_unwritable_workdir_is_a_clear_error(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    with pytest.raises(NotADirectoryError, match="--workdir: received .*a_file/run', but .*a_file' above it is a file"):
        prepare(blocker / "run", CONFIG)
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(PermissionError, match="cannot write"):
            prepare(locked, CONFIG)


def test_checkpoint_that_does_not_match_the_model_is_a_clear_error(data, tmp_path, recwarn):
    from keras_resnet_cifar.training.train import build_model, compile_model, train

    other = CONFIG.replace(model=ResNetSpec(blocks=(1,), channels=(8,)))
    model = compile_model(build_model(other), other)
    model.optimizer.build(model.trainable_variables)
    (tmp_path / "backup").mkdir()
    model.save_weights(str(tmp_path / "backup" / "epoch_001.weights.h5"))
    state = {"epoch": 1, "weights": "epoch_001.weights.h5", "best_file": None, "best_val_accuracy": 0.1,
             "best_epoch": 1, "history": [], "callbacks": {}, "stopped": False}
    (tmp_path / "backup" / "state.json").write_text(json.dumps(state))
    (tmp_path / "config.json").write_text(CONFIG.to_json())
    with pytest.raises(ValueError, match="resume: checkpoint .*epoch_001.weights.h5 does not match the model.*--force"):
        train(CONFIG, tmp_path, data=data)
    # Keras warns about each layer group the other network's file lacks, before the package refuses the file
    assert any("Skipping nested container" in str(w.message) for w in recwarn.list)
    assert not (tmp_path / "history.csv").exists()


def _args(*argv):
    return build_parser().parse_args(["train", *argv])


def test_cli_flags_win_over_the_config_file_which_wins_over_defaults(tmp_path):
    from keras_resnet_cifar.cli.train import train_config

    path = tmp_path / "base.json"
    path.write_text(CONFIG.replace(optim={"lr": 0.05, "epochs": 7}, data={"augment": {"mixup_alpha": 0.5}}).to_json())
    config = train_config(_args("--config", str(path), "--lr", "0.2", "--quiet", "--no-hflip", "--seed", "4",
                                "--source", "images/", "--resize"))
    assert (config.optim.lr, config.optim.epochs, config.data.augment.mixup_alpha) == (0.2, 7, 0.5)
    assert (config.model, config.verbose, config.data.augment.hflip, config.seed) == (MICRO, 2, False, 4)
    assert (config.data.source, config.data.resize, config.data.val_fraction) == ("images/", True, 0.1)
    assert train_config(_args()) == TrainConfig()
    # Older spellings of three flags still work; --l2 adds to the coupled weight decay's wd / 2.
    tiny = train_config(_args("--preset", "tiny", "--l2", "0.002", "--mixup", "1", "--early-stopping", "5",
                              "--data", "images/"))
    assert tiny.model.channels == (4, 8, 8, 16) and tiny.model.l2 == 0.002 and tiny.optim.weight_decay == 1e-3
    assert tiny.data.augment.mixup_alpha == 1.0 and tiny.optim.early_stopping_patience == 5
    assert tiny.data.source == "images/"


def test_cli_reports_bad_input_in_one_line(tmp_path, capsys):
    assert main(["train", "--optimizer", "rmsprop", "--workdir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("keras-resnet-cifar train: error: optim.optimizer: received 'rmsprop'; accepted: 'sgd', 'sgdn', "
                   "'adagrad', 'adadelta', 'adam', 'adamw', 'muon' (--optimizer)")
    (tmp_path / "bad.json").write_text(json.dumps({"optim": {"learning_rate": 0.1}}))
    assert main(["train", "--config", str(tmp_path / "bad.json")]) == 2
    assert "unknown keys ['learning_rate']" in capsys.readouterr().err


def test_a_saved_config_missing_newer_fields_still_matches(tmp_path):
    saved = json.loads(CONFIG.to_json())
    del saved["data"]["resize"], saved["optim"]["min_lr"]  # written before those fields existed
    (tmp_path / "config.json").write_text(json.dumps(saved))
    assert prepare(tmp_path, CONFIG) == "resume"
    assert prepare(tmp_path / "other", CONFIG) == "new"
