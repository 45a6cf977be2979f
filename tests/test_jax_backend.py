"""The package on Keras's JAX backend, in subprocesses where TensorFlow cannot be imported.

`train` (with mixup, noise, cutout, vflip), an interrupted run resumed to the same end, and
`evaluate` run through the CLI under KERAS_BACKEND=jax with `import tensorflow` blocked, as on a
GPU machine without TensorFlow; the checkpoint they write then loads and exports on TensorFlow
with the same logits. The JAX interpreter is this one when jax is installed (CI: the `test`
extra brings it), else $KERAS_RESNET_CIFAR_JAX_PYTHON (a separate venv with jax and keras);
without either these tests skip.
"""
import csv
import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from data_helpers import learnable, write_image_folder

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BLOCKED = ("tensorflow", "tensorflow_datasets", "tensorflow_serving", "keras_tuner")
# `import tensorflow` (and importlib.util.find_spec) then fails as if it were not installed.
BLOCK = f"import sys\nfor _name in {BLOCKED!r}:\n    sys.modules[_name] = None\n"
CLI = BLOCK + "import runpy\nrunpy.run_module('keras_resnet_cifar', run_name='__main__', alter_sys=True)\n"
# An uninterrupted run's recipe: every augmentation of the loader, mixup, the study's optimizer.
TRAIN = ["--preset", "tiny", "--epochs", "3", "--batch-size", "16", "--val-fraction", "0.2", "--mixup", "0.4",
         "--vflip", "--noise-std", "0.05", "--cutout", "8", "--seed", "3", "--quiet"]

IMPORT_CHECK = BLOCK + """
import keras_resnet_cifar
from keras_resnet_cifar import PRESETS, build_resnet
assert build_resnet(**PRESETS["tiny"]).output_shape == (None, 10)
from keras_resnet_cifar.data import load_data, make_loader
data = load_data(sys.argv[1], val_fraction=0.2, verbose=False)
from keras_resnet_cifar.config import DataConfig
config = DataConfig(augment={"noise_std": 0.1, "cutout": 4, "mixup_alpha": 1.0})
x, y = make_loader(data.train, num_classes=10, batch_size=8, training=True, data=config)[0]
assert x.shape == (8, 32, 32, 3) and y.shape == (8, 10)
import keras_resnet_cifar.training.train, keras_resnet_cifar.training.evaluate
from keras_resnet_cifar.cli import build_parser
build_parser()
from keras_resnet_cifar.training import runtime
print(runtime.backend(), runtime.describe_device(), runtime.make_strategy("auto").num_replicas_in_sync)
loaded = sorted(m for m, module in sys.modules.items() if module is not None and m.split(".")[0] in {blocked!r})
assert not loaded, loaded
print("no tensorflow")
""".replace("{blocked!r}", repr(set(BLOCKED)))

INTERRUPTED = BLOCK + """
import json, keras, numpy as np
from keras_resnet_cifar.config import TrainConfig
from keras_resnet_cifar.training.train import train

class Interrupted(Exception):
    pass

class InterruptInSecondEpoch(keras.callbacks.Callback):  # before that epoch is committed
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 1:
            raise Interrupted()

config = TrainConfig.from_dict(json.load(open(sys.argv[1] + "/config.json")))
try:
    train(config, sys.argv[2], callbacks=[InterruptInSecondEpoch()])
except Interrupted:
    print("interrupted")
# the uninterrupted run's checkpoint, on fixed inputs: the TensorFlow side compares against these
model = keras.saving.load_model(sys.argv[1] + "/best.keras", compile=False)
images = np.random.default_rng(7).integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)
x = (images / 255.0 - np.float32([0.4914, 0.4822, 0.4465])) / np.float32([0.2470, 0.2435, 0.2616])
np.savez(sys.argv[3], images=images, x=x.astype("float32"), logits=np.asarray(model.predict(x.astype("float32"), verbose=0)))
"""


# XLA's compiled programs (weight initializers included) shared by the subprocesses: 2-4x faster starts.
_ENV = {"JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0", "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0"}


@pytest.fixture(scope="module")
def jax_python(tmp_path_factory):
    _ENV["JAX_COMPILATION_CACHE_DIR"] = str(tmp_path_factory.getbasetemp() / "jax-cache")  # one per session
    if importlib.util.find_spec("jax") is not None:
        return sys.executable
    other = os.environ.get("KERAS_RESNET_CIFAR_JAX_PYTHON")
    if other:
        return other
    pytest.importorskip("jax")


def run(python, code, *args, backend="jax", returncode=0):
    """stdout of `python -c code args` on `backend`, after checking its exit status (stderr too, when not 0)."""
    env = {**os.environ, **_ENV, "KERAS_BACKEND": backend, "JAX_PLATFORMS": "cpu", "TF_CPP_MIN_LOG_LEVEL": "2",
           "PYTHONPATH": os.pathsep.join(filter(None, [REPO, os.environ.get("PYTHONPATH")]))}
    result = subprocess.run([python, "-c", code, *map(str, args)], capture_output=True, text=True, env=env,
                            timeout=600, cwd=REPO)
    assert result.returncode == returncode, f"exit {result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
    return result.stdout if returncode == 0 else result.stderr


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    return write_image_folder(tmp_path_factory.mktemp("jax") / "images", counts=(("train", 12), ("test", 2)),
                              pixels=learnable)


@pytest.fixture(scope="module")
def straight_run(jax_python, image_folder):
    workdir = image_folder.parent / "straight"
    output = run(jax_python, CLI, "train", *TRAIN, "--data", image_folder, "--workdir", workdir)
    return workdir, output


@pytest.fixture(scope="module")
def interrupted_run(jax_python, straight_run, image_folder):
    workdir, logits = image_folder.parent / "resumed", image_folder.parent / "logits.npz"
    output = run(jax_python, INTERRUPTED, straight_run[0], workdir, logits)
    assert "interrupted" in output
    return workdir, np.load(logits)


def test_imports_never_load_tensorflow_on_another_backend(jax_python, image_folder):
    numpy_backend = run(jax_python, IMPORT_CHECK, image_folder, backend="numpy")  # Keras's numpy backend needs jax
    assert "numpy CPU" in numpy_backend and "no tensorflow" in numpy_backend
    jax_backend = run(jax_python, IMPORT_CHECK, image_folder)
    assert "jax CPU" in jax_backend and " 1\n" in jax_backend and "no tensorflow" in jax_backend


def test_train_on_jax_writes_the_whole_run(straight_run):
    workdir, output = straight_run
    assert "note: no TensorBoard logs" in output and "test accuracy" in output
    for name in ("config.json", "class_names.json", "best.keras", "last.weights.h5", "history.csv", "metrics.json",
                 "confusion.png", "weights/epoch_003.npz"):
        assert (workdir / name).is_file(), name
    assert not (workdir / "backup").exists() and not (workdir / "tensorboard").exists()
    metrics = json.loads((workdir / "metrics.json").read_text())
    assert metrics["backend"] == "jax" and metrics["device"].startswith("CPU") and metrics["epochs"] == 3
    assert metrics["versions"]["jax"] and "tensorflow" not in metrics["versions"]
    assert metrics["strategy"] == "SingleDevice" and metrics["num_train"] == 96 and metrics["num_test"] == 20
    rows = list(csv.DictReader(open(workdir / "history.csv")))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3] and "mixup_accuracy" in rows[0]
    assert all(np.isfinite(float(r["loss"])) for r in rows)


def test_interrupted_run_resumes_to_the_same_end_on_jax(jax_python, straight_run, interrupted_run):
    from keras_resnet_cifar.files import read_json

    workdir = interrupted_run[0]
    assert read_json(workdir / "backup" / "state.json")["epoch"] == 1 and not (workdir / "metrics.json").exists()
    output = run(jax_python, CLI, "train", "--config", straight_run[0] / "config.json", "--workdir", workdir)
    assert "resuming after epoch 1 of 3" in output
    straight = list(csv.DictReader(open(straight_run[0] / "history.csv")))
    resumed = list(csv.DictReader(open(workdir / "history.csv")))
    assert [r["epoch"] for r in resumed] == ["1", "2", "3"]
    for a, b in zip(straight, resumed):  # the same batches and the same steps: the same numbers
        for key in ("loss", "mixup_accuracy", "val_loss", "val_accuracy", "lr"):
            assert float(a[key]) == pytest.approx(float(b[key]), rel=1e-5, abs=1e-6), (a["epoch"], key)
    import h5py

    def arrays(path):
        found = {}
        with h5py.File(path, "r") as handle:
            handle.visititems(lambda k, v: found.__setitem__(k, v[()]) if isinstance(v, h5py.Dataset) else None)
        return found

    expected, got = arrays(straight_run[0] / "last.weights.h5"), arrays(workdir / "last.weights.h5")
    assert expected.keys() == got.keys() and len(expected) > 20
    for key in expected:
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-5, atol=1e-6, err_msg=key)


def test_evaluate_on_jax(jax_python, straight_run):
    workdir = straight_run[0]
    output = run(jax_python, CLI, "evaluate", workdir)
    assert "test accuracy" in output
    evaluation = json.loads((workdir / "evaluation.json").read_text())
    metrics = json.loads((workdir / "metrics.json").read_text())
    assert evaluation["test_accuracy"] == metrics["test_accuracy"] and evaluation["num_test"] == 20
    assert evaluation["test_loss"] == pytest.approx(metrics["test_loss"], rel=1e-5)


def test_export_on_jax_says_it_needs_tensorflow(jax_python, straight_run, tmp_path):
    error = run(jax_python, CLI, "export", straight_run[0], "--name", "tiny", "--base", tmp_path, returncode=2)
    assert "export: running on the Keras backend 'jax'" in error and "KERAS_BACKEND=tensorflow" in error
    assert not any(tmp_path.iterdir())


def test_jax_checkpoint_loads_and_exports_on_tensorflow(straight_run, interrupted_run, tmp_path):
    tf = pytest.importorskip("tensorflow")
    import keras

    if keras.backend.backend() != "tensorflow":
        pytest.skip("this side runs on the TensorFlow backend")
    import keras_resnet_cifar.layers  # noqa: F401  (registers the custom layers)
    from keras_resnet_cifar.serving.export import export_model

    reference = interrupted_run[1]
    model = keras.saving.load_model(straight_run[0] / "best.keras", compile=False)
    np.testing.assert_allclose(model.predict(reference["x"], verbose=0), reference["logits"], rtol=1e-4, atol=1e-4)
    folder = export_model(straight_run[0], "from_jax", base=tmp_path, verbose=False)
    served = tf.saved_model.load(str(folder)).signatures["serving_default"](images=tf.constant(reference["images"]))
    logits = reference["logits"].astype(np.float64)
    expected = np.exp(logits - logits.max(1, keepdims=True))
    expected /= expected.sum(1, keepdims=True)
    np.testing.assert_allclose(served["probabilities"].numpy(), expected, atol=1e-4)
    assert (served["class_ids"].numpy().ravel() == logits.argmax(1)).all()


@pytest.mark.parametrize("minutes", [5, 10])
def test_fast_recipe_trains_on_jax(jax_python, image_folder, minutes):
    """The fast recipe (whitening stem, GroupSGD, triangular schedule, alternating flips, reflect translation,
    lookahead, six-view TTA; the 10-minute tier: ConvMuon, a linear decay) resolves to a config that `train`
    runs on JAX without TensorFlow."""
    workdir = image_folder.parent / f"fast{minutes}"
    output = run(jax_python, CLI, "train", "--recipe", "fast", "--minutes", str(minutes), "--channels", "4", "8", "8",
                 "--epochs", "2", "--batch-size", "24", "--whiten-bias-epochs", "1", "--data", image_folder,
                 "--workdir", workdir, "--quiet")
    assert "test accuracy" in output
    metrics = json.loads((workdir / "metrics.json").read_text())
    assert metrics["backend"] == "jax" and metrics["epochs"] == 2 and metrics["tta_translate"] == 1
    config = json.loads((workdir / "config.json").read_text())
    assert config["model"]["stem"] == "whiten"
    assert (config["optim"]["optimizer"], config["optim"]["lookahead_every"]) == (
        ("sgdn", 5) if minutes == 5 else ("muon", 0))
    rows = list(csv.DictReader(open(workdir / "history.csv")))
    assert all(np.isfinite(float(r["loss"])) for r in rows)
