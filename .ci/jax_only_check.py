"""The `pip install -e ".[jax]"` promise, checked in the venv that install made (.ci/jax_only runs it there):
TensorFlow is absent, and `train`, `evaluate` and a one-trial `tune` run through the installed command on
KERAS_BACKEND=jax, on a few generated images (no download)."""
import importlib.util
import json
import os
import pathlib
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image

ABSENT = ("tensorflow", "tensorflow_datasets", "tensorflow_serving")


def write_images(root, per_class=8, test=2, classes=10):
    rng = np.random.default_rng(0)
    for split, count in (("train", per_class), ("test", test)):
        for label in range(classes):
            folder = root / split / f"class{label}"
            folder.mkdir(parents=True)
            for index in range(count):  # brightness is the class
                Image.fromarray((rng.integers(0, 60, (32, 32, 3)) + 19 * label).astype(np.uint8)).save(
                    folder / f"{index}.png")
    return root


def cli(*args):
    command = [os.path.join(os.path.dirname(sys.executable), "keras-resnet-cifar"), *map(str, args)]
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
    if result.returncode != 0:
        sys.exit(f"FAILED ({result.returncode}): {' '.join(command)}\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}")
    return result.stdout


def main():
    present = [name for name in ABSENT if importlib.util.find_spec(name) is not None]
    if present:
        sys.exit(f"FAILED: the [jax] install brought {present}; the core and the jax extra must not")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        images = write_images(tmp / "images")
        common = ["--data", images, "--val-fraction", "0.25", "--batch-size", "8", "--epochs", "1"]
        cli("train", "--preset", "tiny", *common, "--quiet", "--workdir", tmp / "run")
        metrics = json.loads((tmp / "run" / "metrics.json").read_text())
        print("train:", {key: metrics[key] for key in metrics if "acc" in key and not isinstance(metrics[key], dict)})
        cli("evaluate", tmp / "run", "--data", images)
        evaluation = json.loads((tmp / "run" / "evaluation.json").read_text())
        print("evaluate:", sorted(evaluation)[:6])
        cli("tune", "--tuner", "random", "--max-trials", "1", *common, "--stages", "2", "--blocks", "1",
            "--widths", "4", "8", "--max-params", "8000", "--directory", tmp / "tuner", "--project", "p")
        print("tune: best.json", sorted(json.loads(next((tmp / "tuner").rglob("best.json")).read_text())))
    print("jax-only install: OK (no TensorFlow)")


if __name__ == "__main__":
    main()
