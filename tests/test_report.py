"""`report`: every experiment's table rows, figures, commands and provenance (runs faked: no training)."""
import csv
import json
import os
import sys
import types

import pytest

from keras_resnet_cifar.cli import main
from keras_resnet_cifar.config import TrainConfig
from keras_resnet_cifar.experiments import run_experiment
from keras_resnet_cifar.report import report

JPEG = "image folder archive /x/cifar10-jpeg.tar.gz (JPEG copy)"


def _fake_train(config, workdir, data=None):
    """Writes what a finished `train` run writes, with accuracies set by the config and seed."""
    os.makedirs(workdir, exist_ok=True)
    order = "abcde".index(config.model.block_order) if config.model.block_order in "abcde" else 0
    accuracy = 0.5 + 0.1 * order + 0.01 * config.seed
    with open(os.path.join(workdir, "config.json"), "w") as handle:
        handle.write(config.to_json())
    with open(os.path.join(workdir, "history.csv"), "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr"])
        for epoch in range(1, config.optim.epochs + 1):
            writer.writerow([epoch, 1.0 / epoch, accuracy * epoch / 3, 1.1 / epoch, accuracy * epoch / 3, 0.1])
    metrics = {"best_val_accuracy": accuracy + 0.02, "best_epoch": config.optim.epochs, "test_accuracy": accuracy,
               "test_loss": 1.0, "per_class_accuracy": {"cat": accuracy}, "trainable_params": 1000 + order,
               "epochs": config.optim.epochs, "seconds_per_epoch": 2.0, "train_seconds": 2.0 * config.optim.epochs,
               "device": "GPU: NVIDIA H100 (1 device)", "data_source": data.source,
               "versions": {"keras": "3.15.1", "tensorflow": "2.21.0"}}
    with open(os.path.join(workdir, "metrics.json"), "w") as handle:
        json.dump(metrics, handle)
    return metrics


@pytest.fixture
def fake_train(monkeypatch):
    monkeypatch.setitem(sys.modules, "keras_resnet_cifar.training.train", types.SimpleNamespace(train=_fake_train))


@pytest.fixture
def experiments(tmp_path, fake_train):
    data = types.SimpleNamespace(source=JPEG)
    base = TrainConfig().replace(optim={"batch_size": 8})
    orderings = tmp_path / "exp" / "orderings"
    rows = run_experiment("orderings", orderings, presets=["tiny"], variants=["a", "c", "e"], epochs=3, seeds=2,
                          data=data, base_config=base)
    (orderings / "extra.png").write_bytes((orderings / "orderings.png").read_bytes())  # a figure added later
    mixup = tmp_path / "exp" / "mixup"
    mixup_rows = run_experiment("mixup", mixup, presets=["small"], epochs=2, data=data, base_config=base,
                                command="keras-resnet-cifar experiment mixup --presets small --epochs 2")
    return {"orderings": (orderings, rows), "mixup": (mixup, mixup_rows)}


def test_report_contains_every_table_row_figure_and_command(experiments, tmp_path):
    out = tmp_path / "out" / "REPORT.md"
    os.makedirs(out.parent)
    text = report([folder for folder, _ in experiments.values()], out)
    assert out.read_text() == text
    for folder, rows in experiments.values():
        record = json.loads((folder / "experiment.json").read_text())
        assert f"## {record['figure']}: {record['title']}" in text
        for command in record["commands"]:
            assert command in text
        for row in rows:
            spread = "" if row["best_val_accuracy_std"] is None else f" ± {100 * row['best_val_accuracy_std']:.2f}"
            assert f"| {row['cell']} | {row['label']} | {row['runs']} | {100 * row['best_val_accuracy_mean']:.2f}{spread} |" in text
        for png in sorted(folder.glob("*.png")):
            assert f"![{png.name}]({os.path.relpath(png, out.parent)})" in text
    assert "keras-resnet-cifar experiment mixup --presets small --epochs 2" in text
    assert "![extra.png]" in text


def test_report_gives_spread_over_seeds_and_the_provenance(experiments, tmp_path):
    orderings, rows = experiments["orderings"]
    text = report([orderings], tmp_path / "R.md")
    # two seeds: test accuracy 0.5 and 0.51 for (a): mean 50.50, sample std 0.71
    assert "| tiny-a | (a) original | 2 | 52.50 ± 0.71 | 50.50 ± 0.71 |" in text
    assert "seeds 2" in text and "- Training runs: 6" in text
    assert f"Data: {JPEG}" in text and "JPEG copy of CIFAR-10" in text  # says it is not the official pixels
    assert "Device: GPU: NVIDIA H100 (1 device)" in text
    assert "keras 3.15.1" in text and "tensorflow 2.21.0" in text


def test_report_of_runs_figure_folders_and_unfinished_cells(experiments, tmp_path):
    orderings, _ = experiments["orderings"]
    figures = tmp_path / "figures"
    figures.mkdir()
    (figures / "activations.png").write_bytes(b"\x89PNG")
    os.remove(orderings / "runs" / "tiny-e" / "seed0" / "metrics.json")
    # results.csv keeps what was finished when it was written; rewrite it as a killed run would leave it
    lines = (orderings / "results.csv").read_text().splitlines()
    (orderings / "results.csv").write_text("\n".join(line for line in lines if not line.startswith("tiny-e")) + "\n")
    run = orderings / "runs" / "tiny-c" / "seed1"
    text = report([orderings, run, figures], tmp_path / "R.md")
    assert "Not finished (rerun the command to complete): tiny-e" in text
    assert f"## Run `{run}`" in text and "| cat | 71.00 |" in text
    assert "![activations.png](figures/activations.png)" in text


def test_report_cli_and_its_errors(experiments, tmp_path, capsys):
    orderings, _ = experiments["orderings"]
    assert main(["report", str(orderings), "--out", str(tmp_path / "C.md")]) == 0
    assert "tiny-c" in (tmp_path / "C.md").read_text()
    assert main(["report", str(tmp_path / "missing"), "--out", str(tmp_path / "D.md")]) == 2
    assert "not a folder" in capsys.readouterr().err
    assert not (tmp_path / "D.md").exists()
