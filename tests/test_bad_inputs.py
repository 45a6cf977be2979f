"""Bad input and faults, table-driven: each gives one clear message and a non-zero exit (CLI, in a
subprocess: no traceback) or a documented exception (API, in process), and an earlier good run is
byte-identical afterwards."""
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

from file_helpers import KillAfterFirstEpoch, Killed, snapshot

from keras_resnet_cifar.config import DataConfig, ModelConfig, OptimConfig, TrainConfig
from data_helpers import write_image_folder

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLASSES = [f"class{i}" for i in range(10)]
TRAIN = ["--preset", "tiny", "--epochs", "1", "--batch-size", "8", "--val-fraction", "0.25", "--histogram-freq", "0",
         "--quiet"]


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    return str(write_image_folder(tmp_path_factory.mktemp("images"), classes=CLASSES))


def _config(image_folder, epochs):
    return TrainConfig(model=ModelConfig.from_preset("tiny"), optim=OptimConfig(epochs=epochs, batch_size=8),
                       data=DataConfig(source=image_folder, val_fraction=0.25), histogram_freq=0, verbose=0)


@pytest.fixture(scope="module")
def good_run(image_folder, tmp_path_factory):
    """A finished run; every case below must leave it byte-identical."""
    from keras_resnet_cifar.training.train import train

    run = str(tmp_path_factory.mktemp("good") / "run")
    assert train(_config(image_folder, 1), run)["status"] == "finished"
    return run, snapshot(run)


@pytest.fixture(scope="module")
def interrupted(image_folder, tmp_path_factory):
    """A run stopped after its first committed epoch of two (backup/ holds its resume state)."""
    from keras_resnet_cifar.training.train import train

    run = str(tmp_path_factory.mktemp("interrupted") / "run")
    with pytest.raises(Killed):
        train(_config(image_folder, 2), run, callbacks=[KillAfterFirstEpoch()])
    assert sorted(os.listdir(os.path.join(run, "backup"))) == ["epoch_001.weights.h5", "state.json"]
    return run


def _truncate(path):
    with open(path, "rb") as handle:
        head = handle.read(200)
    with open(path, "wb") as handle:
        handle.write(head)


def _write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        handle.write(text)


def _copy_interrupted(interrupted, tmp, damage):
    run = os.path.join(tmp, "resume")
    shutil.copytree(interrupted, run)
    damage(run)
    return run


# Each case: id, setup(tmp, image_folder, good_run_dir, interrupted_run_dir) -> CLI arguments, message parts.
CLI_CASES = [
    ("diverged_lr", lambda t, f, g, i: ["train", *TRAIN, "--data", f, "--optimizer", "sgd", "--lr", "1e30",
                                        "--workdir", os.path.join(t, "run")],
     ["training diverged", "at epoch 1, batch", "lower --lr (now 1e+30)", "nothing from that epoch was kept"]),
    ("corrupt_checkpoint_on_resume", lambda t, f, g, i: [
        "train", "--config", os.path.join(i, "config.json"), "--workdir",
        _copy_interrupted(i, t, lambda run: _truncate(os.path.join(run, "backup", "epoch_001.weights.h5")))],
     ["resume: the checkpoint", "epoch_001.weights.h5 cannot be read", "--force"]),
    ("corrupt_state_json", lambda t, f, g, i: [
        "train", "--config", os.path.join(i, "config.json"), "--workdir",
        _copy_interrupted(i, t, lambda run: _write(os.path.join(run, "backup", "state.json"), '{"epoch": 1,'))],
     ["resume state", "state.json cannot be read", "not valid JSON", "--force"]),
    ("corrupt_best_keras_on_resume", lambda t, f, g, i: [
        "train", "--config", os.path.join(i, "config.json"), "--workdir",
        _copy_interrupted(i, t, lambda run: _truncate(os.path.join(run, "best.keras")))],
     ["best.keras: not a readable Keras model", "train --force"]),
    ("evaluate_corrupt_keras", lambda t, f, g, i: ["evaluate", _corrupt_copy(g, t), "--data", f],
     ["model.keras: not a readable Keras model", "not a complete .keras zip archive"]),
    ("data_dir_is_a_file", lambda t, f, g, i: ["train", *TRAIN, "--data-dir", _write_file(t), "--workdir",
                                               os.path.join(t, "run")],
     ["--data-dir: received", "which is a file, not a folder", "pass another --data-dir"]),
    ("tune_directory_is_a_file", lambda t, f, g, i: ["tune", "--tuner", "random", "--max-trials", "1",
                                                     "--directory", _write_file(t)],
     ["--directory: received", "but", "above it is a file", "pass another --directory"]),
    ("tune_directory_unwritable", lambda t, f, g, i: ["tune", "--tuner", "random", "--max-trials", "1",
                                                      "--directory", "/sys/keras-resnet-cifar-test"],
     ["--directory: cannot write to '/sys/keras-resnet-cifar-test/resnet_cifar'", "pass another --directory"]),
    ("tune_corrupt_oracle_json", lambda t, f, g, i: ["tune", "--tuner", "random", "--max-trials", "1",
                                                     "--directory", _corrupt_oracle(t)],
     ["oracle.json: not valid JSON", "cannot resume", "--overwrite"]),
    ("network_too_wide", lambda t, f, g, i: ["train", *TRAIN, "--data", f, "--blocks", "1", "--channels", "100000",
                                             "--workdir", os.path.join(t, "run")],
     ["channels [100000]", "GiB", "of memory is available", "narrower --channels"]),
]


def _corrupt_copy(good, tmp):
    path = os.path.join(tmp, "model.keras")
    shutil.copyfile(os.path.join(good, "best.keras"), path)
    _truncate(path)
    return path


def _write_file(tmp):
    path = os.path.join(tmp, "a-file")
    _write(path, "not a folder\n")
    return path


def _read_only(folder):
    try:
        handle, probe = tempfile.mkstemp(dir=folder)
    except OSError:
        return os.path.isdir(folder)
    os.close(handle)
    os.remove(probe)
    return False


def _corrupt_oracle(tmp):
    _write(os.path.join(tmp, "tuner", "resnet_cifar", "oracle.json"), "{not json")
    return os.path.join(tmp, "tuner")


@pytest.mark.parametrize("case", CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_cli_bad_input_exits_2_with_a_clear_message(case, image_folder, good_run, interrupted, tmp_path):
    name, setup, parts = case
    if name == "tune_directory_unwritable" and not _read_only("/sys"):
        pytest.skip("needs a folder this process cannot write to (/sys)")
    good, before = good_run
    interrupted_before = snapshot(interrupted)
    args = setup(str(tmp_path), image_folder, good, interrupted)
    env = {**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("KERAS_RESNET_CIFAR_DEBUG", None)
    done = subprocess.run([sys.executable, "-m", "keras_resnet_cifar", *args], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 2, done.stderr[-3000:]
    assert "Traceback" not in done.stderr and "File not found" not in done.stderr, done.stderr[-3000:]
    error = [line for line in done.stderr.splitlines() if "error:" in line]
    assert error, done.stderr[-3000:]
    for part in parts:
        assert part in done.stderr, (part, error)
    assert snapshot(good) == before and snapshot(interrupted) == interrupted_before


def test_api_resume_with_a_corrupt_checkpoint_stops_before_training_and_changes_nothing(interrupted, tmp_path):
    from keras_resnet_cifar.training.train import train
    from keras_resnet_cifar.files import read_json

    run = _copy_interrupted(interrupted, str(tmp_path),
                            lambda r: _truncate(os.path.join(r, "backup", "epoch_001.weights.h5")))
    config = TrainConfig.from_dict(read_json(os.path.join(run, "config.json")))
    before = snapshot(run)
    with pytest.raises(ValueError, match=r"epoch_001\.weights\.h5 cannot be read.*--force"):
        train(config, run)
    assert snapshot(run) == before
    assert train(config, run, force=True)["status"] == "finished"  # the way out works


def test_api_evaluate_a_corrupt_model_names_it(good_run, tmp_path):
    from keras_resnet_cifar.training.evaluate import evaluate

    path = _corrupt_copy(good_run[0], str(tmp_path))
    with pytest.raises(ValueError, match="not a readable Keras model"):
        evaluate(path)
    assert not os.path.exists(tmp_path / "evaluation.json")


@pytest.mark.parametrize("folder, error", [("a-file", NotADirectoryError), ("a-file/below", NotADirectoryError)])
def test_api_folders_that_are_files_are_refused_before_any_work(folder, error, tmp_path):
    from keras_resnet_cifar.data import load_data
    from keras_resnet_cifar.tuning.search import run_search
    from keras_resnet_cifar.tuning.space import SearchSpace

    _write_file(str(tmp_path))
    path = str(tmp_path / folder)
    with pytest.raises(error, match="--data-dir"):
        load_data("tfds", data_dir=path)
    config = TrainConfig(verbose=0)
    with pytest.raises(error, match="--directory"):
        run_search(config, SearchSpace.create(config), tuner="random", max_trials=1, directory=path)
    assert os.listdir(tmp_path) == ["a-file"]
