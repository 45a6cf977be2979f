"""benchmarks/gpu_repro.sh, rehearsed: `--smoke` on generated image folders (JAX where installed, else
TensorFlow), and its summary's time-to-target arithmetic on a hand-made history."""
import csv
import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from data_helpers import learnable, write_image_folder

from file_helpers import REPO, load_benchmark


def load_driver():
    return load_benchmark("gpu_repro")


def test_summary_time_to_target_and_seed_statistics(tmp_path):
    from keras_resnet_cifar.config import OptimConfig, TrainConfig

    for seed, (accuracy, val) in enumerate([(0.93, (0.90, 0.95, 0.96)), (0.95, (0.91, 0.92, 0.94))]):
        folder = tmp_path / f"table4-s{seed}"
        folder.mkdir()
        config = TrainConfig(seed=seed, optim=OptimConfig(epochs=3))
        (folder / "config.json").write_text(config.to_json())
        (folder / "metrics.json").write_text(json.dumps({
            "test_accuracy": accuracy, "best_val_accuracy": max(val), "best_epoch": 3, "seconds_per_epoch": 5.0,
            "train_images_per_second": 9000.0, "device": "1 x NVIDIA H200 (compute 9.0)", "backend": "jax"}))
        with open(folder / "history.csv", "w", newline="") as handle:
            writer = csv.DictWriter(handle, ["epoch", "val_accuracy", "seconds"])
            writer.writeheader()
            writer.writerows({"epoch": i + 1, "val_accuracy": v, "seconds": s} for i, (v, s) in
                             enumerate(zip(val, (10.0, 5.0, 5.5))))
        (folder / "run.json").write_text(json.dumps({
            "returncode": 0, "wall_s": 30.0, "target": 0.94,
            "first_target": {"epoch": 2 if seed == 0 else 3, "since_start_s": 21.5, "test_accuracy": 0.925}}))
    summary = load_driver().summarize(str(tmp_path), 790.0)
    first, second = summary["runs"]
    assert (first["target_epoch"], first["time_to_target_s"], first["test_accuracy_at_target"]) == (2, 15.0, 0.925)
    assert (second["target_epoch"], second["time_to_target_s"]) == (3, 20.5)
    # ResNet24: 6 x MACs per trained image at 9,000 images/s against 790 TFLOP/s
    assert first["bf16_peak_share"] == pytest.approx(9000 * 6 * first["macs_per_image"] / 790e12, abs=1e-4)
    group = summary["recipes"]["table4"]
    assert group["n"] == 2 and group["test_accuracy_mean"] == 0.94
    assert group["test_accuracy_std"] == pytest.approx(np.std([0.93, 0.95], ddof=1), abs=1e-4)
    assert group["time_to_target_s_min"] == 15.0
    text = (tmp_path / "summary.txt").read_text()
    assert "table4: test accuracy 0.9400 +- 0.0141 over seeds [0, 1]" in text and "H200" in text


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    return write_image_folder(tmp_path_factory.mktemp("repro") / "images", counts=(("train", 30), ("test", 4)),
                              pixels=learnable)


def test_smoke_run_writes_every_run_and_the_summary(image_folder, tmp_path, tmp_path_factory):
    results = tmp_path / "results"
    env = {**os.environ, "PYTHON": sys.executable, "DATA": str(image_folder), "SCRATCH": str(tmp_path / "scratch"),
           "JAX_PLATFORMS": "cpu", "JAX_COMPILATION_CACHE_DIR": str(tmp_path_factory.getbasetemp() / "jax-cache")}
    env.pop("KERAS_BACKEND", None)  # the script picks jax where it is installed, else tensorflow
    result = subprocess.run(["bash", os.path.join(REPO, "benchmarks", "gpu_repro.sh"), str(results), "--smoke"],
                            capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    backend = "jax" if importlib.util.find_spec("jax") else "tensorflow"
    assert f"backend {backend}" in result.stdout and "skip table4-s1" in result.stdout
    summary = json.loads((results / "summary.json").read_text())
    runs = {r["run"]: r for r in summary["runs"]}
    assert sorted(runs) == ["mixup-s0", "table4-s0", "table4b64-s0"]
    for name, row in runs.items():
        assert row["finished"] and row["returncode"] == 0 and row["epochs"] == 1 and row["backend"] == backend
        assert 0 <= row["test_accuracy"] <= 1 and row["train_images_per_second"] > 0
        # smoke's target is 0: reached in epoch 1, whose checkpoint was saved and tested
        assert row["target_epoch"] == 1 and row["time_to_target_s"] > 0
        assert 0 <= row["test_accuracy_at_target"] <= 1
        for file in ("metrics.json", "history.csv", "config.json", "run.json"):
            assert (results / name / file).is_file(), (name, file)
        assert not list((results / name).glob("*.keras"))  # checkpoints stay in the scratch folder
    assert runs["table4b64-s0"]["batch_size"] == 64 and runs["mixup-s0"]["seed"] == 0
    config = json.loads((results / "mixup-s0" / "config.json").read_text())
    assert config["data"]["augment"]["mixup_alpha"] == 1.0 and config["optim"]["optimizer"] == "sgdn"
    assert config["optim"]["weight_decay"] == 1e-3 and config["optim"]["gamma"] == 0.9
    text = (results / "summary.txt").read_text()
    assert "table4: test accuracy" in text and "mixup: test accuracy" in text and text in result.stdout
    assert (results / "environment.txt").read_text().startswith("gpu_repro: ")
