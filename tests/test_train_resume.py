"""Resume: a run killed with SIGKILL and restarted ends exactly where an uninterrupted run ends."""
import csv
import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from keras_resnet_cifar.config import DataConfig, ModelConfig, OptimConfig, TrainConfig

# Adam-type state, a plateau schedule (lr 0.3 makes val_loss rise, so the rate is halved mid-run),
# early-stopping counters and mixup all have to continue.
CONFIG = TrainConfig(
    model=ModelConfig(blocks=(1,), channels=(4,)),  # one stage: the smallest network build_resnet makes
    data=DataConfig(augment={"mixup_alpha": 0.4}),
    optim=OptimConfig(optimizer="adamw", lr=0.3, weight_decay=1e-2, schedule="plateau", plateau_patience=1,
                      early_stopping_patience=10, epochs=4, batch_size=16),
    deterministic=True, histogram_freq=0, verbose=0,
)

_CHILD = """
import sys, time
import keras, numpy as np
from keras_resnet_cifar.config import TrainConfig
from keras_resnet_cifar.data import from_arrays
from keras_resnet_cifar.training.train import train

class Slow(keras.callbacks.Callback):  # gives the parent time to kill mid-run
    def on_train_batch_end(self, batch, logs=None):
        time.sleep(0.15)

arrays = np.load(sys.argv[3])
data = from_arrays(arrays["x"], arrays["y"], arrays["xt"], arrays["yt"], val_fraction=0.2, seed=0)
train(TrainConfig.from_json(open(sys.argv[1]).read()), sys.argv[2], data=data, callbacks=[Slow()])
"""


def _data(arrays):
    from keras_resnet_cifar.data import from_arrays

    return from_arrays(arrays["x"], arrays["y"], arrays["xt"], arrays["yt"], val_fraction=0.2, seed=0)


def _epochs_logged(run):
    path = os.path.join(run, "history.csv")
    if not os.path.exists(path):
        return 0
    with open(path, encoding="utf-8") as handle:
        return len(list(csv.DictReader(handle)))


def kill_after_epochs(argv, run, epochs=2, timeout=150):
    """Run `python -c` with `argv` and SIGKILL it once `run`'s history.csv holds `epochs` epochs."""
    child = subprocess.Popen([sys.executable, "-c", *argv], env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + timeout
        while _epochs_logged(run) < epochs and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert child.poll() is None, f"the child ended before it could be killed: {child.stderr.read()[-2000:]}"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait()


def _h5_arrays(path):
    found = {}
    with h5py.File(path, "r") as handle:
        handle.visititems(lambda name, obj: found.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return found


def _history(run):
    with open(os.path.join(run, "history.csv"), encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def kill_then_resume(config, tmp_path):
    """Train `config` on 80 random images in a child killed with SIGKILL after 2 epochs, resume it in this
    process, and train an uninterrupted reference: (killed run dir, reference dir, their metrics)."""
    from keras_resnet_cifar.training.train import train

    rng = np.random.default_rng(0)
    arrays = {"x": rng.integers(0, 256, (80, 32, 32, 3), dtype=np.uint8), "y": np.arange(80) % 10,
              "xt": rng.integers(0, 256, (20, 32, 32, 3), dtype=np.uint8), "yt": np.arange(20) % 10}
    np.savez(tmp_path / "arrays.npz", **arrays)
    (tmp_path / "config.json").write_text(config.to_json())
    killed, reference = str(tmp_path / "killed"), str(tmp_path / "uninterrupted")
    kill_after_epochs([_CHILD, str(tmp_path / "config.json"), killed, str(tmp_path / "arrays.npz")], killed)
    assert not os.path.exists(os.path.join(killed, "metrics.json"))
    assert 2 <= _epochs_logged(killed) < config.optim.epochs
    data = _data(arrays)
    return killed, reference, train(config, killed, data=data), train(config, reference, data=data)


def assert_same_final_weights(killed, reference):
    """last.weights.h5 of the two runs hold the same arrays bit for bit, optimizer state included."""
    final, want = _h5_arrays(os.path.join(killed, "last.weights.h5")), _h5_arrays(
        os.path.join(reference, "last.weights.h5"))
    assert final.keys() == want.keys() and any("optimizer" in k for k in final)
    for key in want:
        np.testing.assert_array_equal(final[key], want[key], err_msg=key)


def test_killed_run_resumes_to_the_uninterrupted_result(tmp_path):
    killed, uninterrupted, resumed, reference = kill_then_resume(CONFIG, tmp_path)
    rows, expected = _history(killed), _history(uninterrupted)
    assert [r["epoch"] for r in rows] == ["1", "2", "3", "4"]  # every epoch exactly once
    for row, want in zip(rows, expected):
        for key in ("loss", "mixup_accuracy", "val_loss", "val_accuracy", "lr"):
            assert float(row[key]) == pytest.approx(float(want[key]), rel=1e-6, abs=1e-7), (row["epoch"], key)
    assert_same_final_weights(killed, uninterrupted)  # deterministic mode: bit for bit
    for key in ("best_epoch", "best_val_accuracy", "test_accuracy", "epochs"):
        assert resumed[key] == pytest.approx(reference[key])
    assert not os.path.exists(os.path.join(killed, "backup"))
    _assert_plateau_rule(expected, lr=CONFIG.optim.lr, patience=1, factor=0.5)


def _assert_plateau_rule(rows, *, lr, patience, factor):
    """The logged `lr` obeys the rule: multiply by `factor` after `patience` epochs without a lower val_loss."""
    best, wait = None, 0
    for row in rows:
        assert float(row["lr"]) == pytest.approx(lr, rel=1e-6), row["epoch"]
        val_loss = float(row["val_loss"])
        if best is None or val_loss < best:
            best, wait = val_loss, 0
        else:
            wait += 1
            if wait >= patience:
                lr, wait = lr * factor, 0
