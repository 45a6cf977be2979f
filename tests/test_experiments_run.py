"""An experiment grid end to end on mock data: results, figure, skipping finished cells, resuming a kill."""
import csv
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import keras_resnet_cifar.training.train
from keras_resnet_cifar.experiments import read_results, run_dir, run_experiment
from keras_resnet_cifar.report import report

# Shared with the killed subprocess: the same mock data and base config.
SETUP = textwrap.dedent("""
    import numpy as np
    from keras_resnet_cifar.config import TrainConfig
    from keras_resnet_cifar.data import from_arrays

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (48, 32, 32, 3), dtype=np.uint8)
    labels = np.arange(48) % 3
    DATA = from_arrays(images[:36], labels[:36], images[36:], labels[36:], class_names=["a", "b", "c"],
                       val_fraction=0.25)
    BASE = TrainConfig().replace(model={"num_classes": 3}, optim={"batch_size": 9},
                                 verbose=0, histogram_freq=0)
""")
_names = {}
exec(SETUP, _names)
DATA, BASE = _names["DATA"], _names["BASE"]
GRID = dict(presets=["tiny"], variants=["a", "e"], epochs=1, data=DATA, base_config=BASE)


@pytest.fixture
def count_train(monkeypatch):
    calls = []
    real = keras_resnet_cifar.training.train.train

    def counting(config, workdir, **kwargs):
        calls.append(os.path.relpath(workdir))
        return real(config, workdir, **kwargs)

    monkeypatch.setattr(keras_resnet_cifar.training.train, "train", counting)
    return calls


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("orderings")
    rows = run_experiment("orderings", workdir, **GRID)
    return workdir, rows


def test_grid_runs_end_to_end_and_writes_results_figure_and_record(finished):
    workdir, rows = finished
    assert [row["cell"] for row in rows] == ["tiny-a", "tiny-e"]
    saved = read_results(workdir / "results.csv")
    assert [row["cell"] for row in saved] == ["tiny-a", "tiny-e"]
    with open(workdir / "results.csv", newline="") as handle:
        header = next(csv.reader(handle))
    for column in ("best_val_accuracy_mean", "best_val_accuracy_std", "test_accuracy_mean", "test_accuracy_std",
                   "trainable_params", "seconds_mean"):
        assert column in header
    for row in saved:
        metrics = json.loads((workdir / "runs" / row["cell"] / "seed0" / "metrics.json").read_text())
        assert row["test_accuracy_mean"] == pytest.approx(metrics["test_accuracy"])
        assert row["best_val_accuracy_mean"] == pytest.approx(metrics["best_val_accuracy"])
        assert row["trainable_params"] == metrics["trainable_params"]
        assert row["runs"] == 1 and row["test_accuracy_std"] is None  # one seed: no spread claimed
        config = json.loads((workdir / "runs" / row["cell"] / "seed0" / "config.json").read_text())
        assert config["model"]["block_order"] == row["variant"] and config["optim"]["epochs"] == 1
    assert saved[0]["trainable_params"] != saved[1]["trainable_params"]  # (e) adds a final BN
    assert (workdir / "orderings.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    record = json.loads((workdir / "experiment.json").read_text())
    assert record["cells"] == ["tiny-a", "tiny-e"] and record["arguments"]["epochs"] == 1
    assert record["commands"][0].startswith("run_experiment('orderings'")


def test_rerun_skips_finished_cells(finished, count_train):
    workdir, rows = finished
    before = (workdir / "results.csv").read_text()
    again = run_experiment("orderings", workdir, **GRID)
    assert count_train == []
    assert again == rows
    assert (workdir / "results.csv").read_text() == before


def test_rerun_with_other_settings_is_refused(finished, count_train):
    workdir, _ = finished
    with pytest.raises(FileExistsError, match="epochs: 1 -> 2"):
        run_experiment("orderings", workdir, **{**GRID, "epochs": 2})
    assert count_train == []


def test_report_has_every_table_row_and_figure(finished, tmp_path):
    workdir, rows = finished
    text = report([workdir], tmp_path / "REPORT.md")
    assert (tmp_path / "REPORT.md").read_text() == text
    assert "Figure 9" in text and "run_experiment('orderings'" in text
    for row in rows:
        assert f"| {row['cell']} | {row['label']} | 1 | {100 * row['best_val_accuracy_mean']:.2f} | " \
               f"{100 * row['test_accuracy_mean']:.2f} |" in text
    link = os.path.relpath(workdir / "orderings.png", tmp_path)
    assert f"![orderings.png]({link})" in text
    assert "Data: numpy arrays" in text and "Device: CPU" in text


def test_killed_experiment_resumes_only_the_remaining_cells(tmp_path, count_train):
    workdir = tmp_path / "killed"
    script = SETUP + textwrap.dedent(f"""
        from keras_resnet_cifar.experiments import run_experiment
        run_experiment("orderings", {str(workdir)!r}, presets=["tiny"], variants=["a", "e"], epochs=1,
                       data=DATA, base_config=BASE)
    """)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    process = subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    second = run_dir(workdir, "tiny-e", 0)
    deadline = time.time() + 120
    try:
        while not os.path.exists(os.path.join(second, "config.json")):  # the second cell has started
            assert process.poll() is None, process.stderr.read().decode()[-2000:]
            assert time.time() < deadline, "the subprocess never reached the second cell"
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait()
        process.stderr.close()
    assert os.path.exists(os.path.join(run_dir(workdir, "tiny-a", 0), "metrics.json"))
    assert not os.path.exists(os.path.join(second, "metrics.json"))
    rows = run_experiment("orderings", workdir, **GRID)
    assert count_train == [os.path.relpath(second)]
    assert [row["cell"] for row in rows] == ["tiny-a", "tiny-e"]
    assert os.path.exists(os.path.join(second, "metrics.json"))
    assert np.isfinite([row["test_accuracy_mean"] for row in rows]).all()
