"""Graceful stop, table-driven: SIGTERM/SIGINT mid-epoch saves a resume point and the resumed run ends exactly
where an uninterrupted one ends; the CLI exits 128 + the signal with the command that resumes; a second signal
ends the process at once and the run still resumes."""
import os
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

from test_train_resume import CONFIG, _h5_arrays, _history

from keras_resnet_cifar.cli import main
from keras_resnet_cifar.errors import Interrupted
from data_helpers import write_image_folder

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEPS = 4  # 80 images, val 0.2, batch 16

# (case, config, signal, epoch and batch (0-based) at which it arrives, batches of that epoch saved).
CASES = [
    ("sigterm-mid-epoch", CONFIG, signal.SIGTERM, 1, 1, 2),
    ("sigint-first-epoch", CONFIG, signal.SIGINT, 0, 0, 1),
    # Lookahead: the stop waits for its next step (global step 6 = epoch 1, batch 2), where weights = average.
    ("lookahead-waits-for-its-step", CONFIG.replace(optim={"lookahead_every": 3}), signal.SIGTERM, 1, 0, 2),
    ("last-batch-commits-the-epoch", CONFIG, signal.SIGTERM, 2, 3, 0),
    # Two batches per compiled call: Keras reports batch ends after batches 2 and 4 of each epoch.
    ("steps-per-execution", CONFIG.replace(steps_per_execution=2), signal.SIGTERM, 1, 1, 2),
]


class SignalAt(keras.callbacks.Callback):
    """Sends `signum` to this process at the end of batch `batch` of epoch `epoch` (once)."""

    def __init__(self, signum, epoch, batch):
        super().__init__()
        self.signum, self.at, self.sent, self.epoch = signum, (epoch, batch), False, None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if not self.sent and (self.epoch, batch) == self.at:
            self.sent = True
            os.kill(os.getpid(), self.signum)


@pytest.fixture(scope="module")
def arrays():
    rng = np.random.default_rng(0)
    return {"x": rng.integers(0, 256, (80, 32, 32, 3), dtype=np.uint8), "y": np.arange(80) % 10,
            "xt": rng.integers(0, 256, (20, 32, 32, 3), dtype=np.uint8), "yt": np.arange(20) % 10}


def _data(arrays):
    from keras_resnet_cifar.data import from_arrays

    return from_arrays(arrays["x"], arrays["y"], arrays["xt"], arrays["yt"], val_fraction=0.2, seed=0)


_REFERENCES = {}


def _reference(config, arrays, root):
    """The uninterrupted run of `config` (trained once per config in this module)."""
    from keras_resnet_cifar.training.train import train

    key = config.to_json()
    if key not in _REFERENCES:
        run = str(root / f"uninterrupted{len(_REFERENCES)}")
        _REFERENCES[key] = (run, train(config, run, data=_data(arrays)))
    return _REFERENCES[key]


def _assert_same_end(run, reference, resumed, expected):
    rows, want = _history(run), _history(reference)
    assert [r["epoch"] for r in rows] == [r["epoch"] for r in want]  # every epoch exactly once
    for row, other in zip(rows, want):
        for key in ("loss", "mixup_accuracy", "val_loss", "val_accuracy", "lr"):
            assert float(row[key]) == pytest.approx(float(other[key]), rel=1e-6, abs=1e-7), (row["epoch"], key)
    final, target = _h5_arrays(os.path.join(run, "last.weights.h5")), _h5_arrays(
        os.path.join(reference, "last.weights.h5"))
    assert final.keys() == target.keys()
    for key in target:
        np.testing.assert_array_equal(final[key], target[key], err_msg=key)  # deterministic mode: bit for bit
    for key in ("best_epoch", "best_val_accuracy", "test_accuracy", "epochs"):
        assert resumed[key] == pytest.approx(expected[key])


@pytest.mark.parametrize("case, config, signum, epoch, batch, saved", CASES, ids=[c[0] for c in CASES])
def test_signal_saves_a_resume_point_that_ends_like_an_uninterrupted_run(case, config, signum, epoch, batch, saved,
                                                                         arrays, tmp_path_factory):
    from keras_resnet_cifar.training.checkpoint import load_state
    from keras_resnet_cifar.training.train import train

    root = tmp_path_factory.getbasetemp()
    run = str(root / case)
    previous = signal.getsignal(signum)
    with pytest.raises(Interrupted) as stopped:
        train(config, run, data=_data(arrays), callbacks=[SignalAt(signum, epoch, batch)])
    assert stopped.value.exit_status == 128 + signum and signal.getsignal(signum) is previous
    message = str(stopped.value)
    assert signal.Signals(signum).name in message and os.path.join(run, "backup") in message
    state = load_state(run, publish=False)
    if saved:
        assert (state["epoch"], state["step"]) == (epoch, saved)
        assert f"{saved} of {STEPS} batches of epoch {epoch + 1}" in message
        assert sorted(os.listdir(os.path.join(run, "backup"))) == sorted(["state.json", state["weights"]])
    else:  # at an epoch's last batch the epoch commits as usual
        assert state["epoch"] == epoch + 1 and "step" not in state
    assert not os.path.exists(os.path.join(run, "metrics.json"))

    resumed = train(config, run, data=_data(arrays))
    reference, expected = _reference(config, arrays, root)
    _assert_same_end(run, reference, resumed, expected)


_CHILD = """
import sys, time
import keras
from keras_resnet_cifar.training import callbacks

class Slow(keras.callbacks.Callback):  # time for the parent to signal mid-epoch
    def on_train_batch_end(self, batch, logs=None):
        time.sleep(0.2)

make = callbacks.make_callbacks
callbacks.make_callbacks = lambda *args, **kwargs: [Slow(), *make(*args, **kwargs)]
from keras_resnet_cifar.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _cli_args(image_folder, run):
    return ["train", "--preset", "tiny", "--epochs", "2", "--batch-size", "8", "--val-fraction", "0.25",
            "--histogram-freq", "0", "--quiet", "--data", image_folder, "--workdir", run]


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    return str(write_image_folder(tmp_path_factory.mktemp("images")))


def _start(argv):
    return subprocess.Popen([sys.executable, "-c", _CHILD, *argv], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})


def _wait_for(path, child, timeout=120):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path) and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert child.poll() is None, f"the child ended first: {child.communicate()[1][-2000:]}"


# (case, signals sent, exit status expected)
CLI_CASES = [
    ("sigterm-exits-143", (signal.SIGTERM,), 143),
    ("sigint-exits-130", (signal.SIGINT,), 130),
    ("second-signal-exits-at-once", (signal.SIGTERM, signal.SIGTERM), -signal.SIGTERM),
]


@pytest.mark.parametrize("case, sent, status", CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_cli_stop_exits_with_the_signal_and_the_same_command_resumes(case, sent, status, image_folder, tmp_path):
    run = str(tmp_path / "run")
    argv = _cli_args(image_folder, run)
    child = _start(argv)
    try:
        _wait_for(os.path.join(run, "history.csv"), child)  # the first epoch is committed: now mid-epoch 2
        for signum in sent:
            child.send_signal(signum)
            time.sleep(0.01)
        out, err = child.communicate(timeout=120)
    finally:
        child.kill()
    assert child.returncode == status, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    if status > 0:
        name = signal.Signals(sent[0]).name
        assert f"stopped by {name}" in err and "resume with: keras-resnet-cifar train" in err, err[-2000:]
        assert f"--workdir {run}" in err
    assert main(argv) == 0  # the same command, rerun
    assert os.path.exists(os.path.join(run, "metrics.json")) and len(_history(run)) == 2


def test_tune_stops_its_trial_on_sigterm_and_the_same_command_reruns_it(image_folder, tmp_path, monkeypatch, capsys):
    import json

    from keras_resnet_cifar.tuning.hypermodel import ResNetHyperModel

    args = ["tune", "--tuner", "random", "--max-trials", "2", "--epochs", "1", "--data", image_folder,
            "--val-fraction", "0.25", "--batch-size", "8", "--stages", "2", "--blocks", "1", "--widths", "4", "8",
            "--max-params", "8000", "--directory", str(tmp_path), "--project", "p"]
    fit, fits = ResNetHyperModel.fit, []

    def signal_in_second_trial(self, *fit_args, **kwargs):
        fits.append(1)
        if len(fits) == 2:  # the flag is set before the trial's first batch, which then stops it
            os.kill(os.getpid(), signal.SIGTERM)
        return fit(self, *fit_args, **kwargs)
    monkeypatch.setattr(ResNetHyperModel, "fit", signal_in_second_trial)
    assert main(args) == 143
    err = capsys.readouterr().err
    assert "stopped by SIGTERM during a trial" in err and "resume with: keras-resnet-cifar tune" in err, err
    statuses = {}
    for name in sorted(os.listdir(tmp_path / "p")):
        if name.startswith("trial_"):
            with open(tmp_path / "p" / name / "trial.json") as handle:
                statuses[name] = json.load(handle)["status"]
    assert list(statuses.values()).count("COMPLETED") == 1 and len(statuses) == 2, statuses
    monkeypatch.undo()
    assert main(args) == 0  # the same command: the finished trial is kept, the interrupted one runs again
    assert "1 trials finished, they are not run again" in capsys.readouterr().out
    leaderboard = json.loads((tmp_path / "p" / "leaderboard.json").read_text())
    assert leaderboard["trials_by_status"].get("COMPLETED") == 2, leaderboard["trials_by_status"]


_ON_JAX = """
import os, signal, sys, tempfile
sys.path.insert(0, os.path.join(sys.argv[1], "tests"))
import numpy as np
from test_faults_signals import CONFIG, SignalAt, _assert_same_end, _data
from keras_resnet_cifar.errors import Interrupted
from keras_resnet_cifar.training.train import train

rng = np.random.default_rng(0)
arrays = {"x": rng.integers(0, 256, (80, 32, 32, 3), dtype=np.uint8), "y": np.arange(80) % 10,
          "xt": rng.integers(0, 256, (20, 32, 32, 3), dtype=np.uint8), "yt": np.arange(20) % 10}
root = tempfile.mkdtemp()
try:
    train(CONFIG, root + "/stopped", data=_data(arrays), callbacks=[SignalAt(signal.SIGTERM, 1, 1)])
except Interrupted:
    pass
resumed = train(CONFIG, root + "/stopped", data=_data(arrays))
expected = train(CONFIG, root + "/uninterrupted", data=_data(arrays))
_assert_same_end(root + "/stopped", root + "/uninterrupted", resumed, expected)
print("same end")
"""


def test_signal_mid_epoch_resumes_to_the_same_end_on_jax():
    """The NumPy loader's stream (JAX's) continues mid-epoch too: Keras's first fit must not take batches from it."""
    import importlib.util

    if importlib.util.find_spec("jax") is None:
        pytest.skip("jax is not installed")
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu", "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([sys.executable, "-c", _ON_JAX, ROOT], capture_output=True, text=True, env=env,
                            timeout=600, cwd=ROOT)
    assert result.returncode == 0 and "same end" in result.stdout, result.stderr[-4000:]


# A main thread blocked in native code holding the GIL (ctypes.PyDLL keeps it): no Python handler ever runs,
# as in a worker waiting inside TensorFlow's C++ for a peer. pthread_cond_wait never returns on a signal.
BLOCKED = """
import ctypes, sys
from keras_resnet_cifar.signals import stop_requests
libc = ctypes.PyDLL(None)
mutex, cond = ctypes.create_string_buffer(64), ctypes.create_string_buffer(64)  # the zero initializers
with stop_requests() as stop:
    libc.pthread_mutex_lock(mutex)
    print("blocked", flush=True)
    libc.pthread_cond_wait(cond, mutex)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="pthread_cond_wait via the C library's ctypes name")
def test_a_second_signal_ends_a_process_blocked_in_native_code():
    child = subprocess.Popen([sys.executable, "-c", BLOCKED], cwd=ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline() == "blocked\n", child.stderr.read()
        child.send_signal(signal.SIGTERM)
        with pytest.raises(subprocess.TimeoutExpired):  # the first asks for a graceful stop: it does not kill
            child.wait(timeout=1)
        started = time.monotonic()
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=10) == -signal.SIGTERM
        assert time.monotonic() - started < 5
    finally:
        child.kill()
        child.communicate()
