"""Two processes on one folder, table-driven: a run directory (train), a tuner project (tune) and an export base
(export) are held by the first process; a second is refused at once, naming the folder and the holder's pid;
after kill -9 of the holder the lock is gone and a new process proceeds."""
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from keras_resnet_cifar.cli import main
from keras_resnet_cifar.errors import FolderBusyError
from keras_resnet_cifar.locks import LOCK_NAME, hold_folder
from data_helpers import write_image_folder

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A train that holds its run directory and never gets past its first batch.
_STUCK_TRAIN = """
import sys, time
import keras
from keras_resnet_cifar.training import callbacks

class Stuck(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        time.sleep(600)

make = callbacks.make_callbacks
callbacks.make_callbacks = lambda *args, **kwargs: [Stuck(), *make(*args, **kwargs)]
from keras_resnet_cifar.cli import main
sys.exit(main(sys.argv[1:]))
"""
_CLI = "import sys; from keras_resnet_cifar.cli import main; sys.exit(main(sys.argv[1:]))"


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    return str(write_image_folder(tmp_path_factory.mktemp("images")))


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return str(probe.getsockname()[1])


def _train(folder, work):
    args = ["train", "--preset", "tiny", "--epochs", "1", "--batch-size", "8", "--val-fraction", "0.25",
            "--histogram-freq", "0", "--quiet", "--data", folder, "--workdir", str(work / "run")]
    return [_STUCK_TRAIN, *args], args, work / "run", work / "run" / LOCK_NAME


def _tune(folder, work):
    args = ["tune", "--tuner", "random", "--max-trials", "1", "--epochs", "1", "--data", folder, "--val-fraction",
            "0.25", "--batch-size", "8", "--stages", "2", "--blocks", "1", "--widths", "4", "8", "--max-params",
            "8000", "--directory", str(work / "tuner"), "--project", "p"]
    # The holder is a chief: it holds the project and serves its oracle until workers come (none will).
    holder = [_CLI, *args, "--chief", "--oracle-port", _free_port()]
    return holder, args, work / "tuner" / "p", work / "tuner" / ".p.lock"


def _export(folder, work):
    from export_helpers import make_run

    make_run(work / "source")
    args = ["export", str(work / "source"), "--name", "tiny", "--base", str(work / "saved_models")]
    return [_CLI, *args], args, work / "saved_models", work / "saved_models" / LOCK_NAME


# (case, the command: holder argv, second argv, folder held, its lock file; what the one after the kill leaves)
CASES = [
    ("train-run-directory", _train, "metrics.json"),
    ("tune-project", _tune, "best.json"),
    ("export-base", _export, "tiny/1/saved_model.pb"),
]


def _env(extra=None):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", KERAS_RESNET_CIFAR_EXPORT_PAUSE_S="600", **(extra or {}))
    for name in ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT"):
        env.pop(name, None)
    return env


def _wait_held(lock, child, timeout=180):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and child.poll() is None:
        if lock.exists() and lock.read_text().strip() == str(child.pid):
            return
        time.sleep(0.05)
    why = (child.communicate()[1] or "")[-2000:] if child.poll() is not None else "timeout"
    raise AssertionError(f"the holder never took {lock}: {why}")


@pytest.mark.parametrize("case, command, result", CASES, ids=[c[0] for c in CASES])
def test_second_process_is_refused_until_the_holder_dies(case, command, result, image_folder, tmp_path, capsys):
    holder_argv, args, folder, lock = command(image_folder, tmp_path)
    holder = subprocess.Popen([sys.executable, "-c", *holder_argv], cwd=ROOT, env=_env(), stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    try:
        _wait_held(lock, holder)
        capsys.readouterr()
        started = time.monotonic()
        assert main(args) == 2  # the same command in a second process (here: this one)
        assert time.monotonic() - started < 60  # refused at once, not after waiting for the holder
        err = capsys.readouterr().err
        assert f"{folder}: in use by process {holder.pid}" in err and "wait" in err and f"kill {holder.pid}" in err, err
        assert len(err.strip().splitlines()) == 1, err
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    finally:
        holder.kill()
        holder.wait()
        holder.stderr.close()
    assert lock.exists()  # kill -9 leaves the file; the kernel released its lock
    assert main(args) == 0, capsys.readouterr().err[-3000:]
    assert (folder / result).exists()


def test_a_second_hold_in_one_process_is_refused_and_release_frees_it(tmp_path):
    with hold_folder(tmp_path / "run", "train") as path:
        with pytest.raises(FolderBusyError, match=f"in use by process {os.getpid()} \\(this process\\)"):
            with hold_folder(tmp_path / "run", "train"):
                pass
        assert open(path).read().strip() == str(os.getpid())
    with hold_folder(tmp_path / "run", "train"):  # released on leaving the block
        pass


_HOLD = """
import sys, time
from keras_resnet_cifar.locks import hold_folder
with hold_folder(sys.argv[1], "tune", lock_file=sys.argv[2]):
    time.sleep(600)
"""


def test_a_worker_id_is_held_by_one_worker(image_folder, tmp_path, capsys):
    """Workers of one search share its project; each holds its own id (a second worker started with the same
    --worker ID would be handed the same trials), so one with a taken id is refused before it joins; workers
    with distinct ids run side by side (test_tuning_processes)."""
    _, args, folder, _ = _tune(image_folder, tmp_path)
    lock = tmp_path / "tuner" / ".p.w0.lock"
    holder = subprocess.Popen([sys.executable, "-c", _HOLD, str(folder), str(lock)], cwd=ROOT, env=_env())
    try:
        _wait_held(lock, holder, timeout=60)
        assert main([*args, "--worker", "w0", "--oracle-port", _free_port()]) == 2
        err = capsys.readouterr().err
        assert f"{folder} (as worker w0): in use by process {holder.pid}" in err, err
    finally:
        holder.kill()
        holder.wait()
    assert not (tmp_path / "tuner" / ".p.lock").exists()  # a worker never takes the chief's lock


def test_a_file_system_without_locks_runs_unprotected_with_a_warning(tmp_path, monkeypatch):
    import errno

    from keras_resnet_cifar import locks

    def no_locks(handle, operation):
        raise OSError(errno.ENOLCK, "No locks available")
    monkeypatch.setattr(locks.fcntl, "flock", no_locks)
    with pytest.warns(UserWarning, match="does not support locks.*not protected from a second train"):
        with hold_folder(tmp_path / "run", "train") as path:
            assert open(path).read().strip() == str(os.getpid())
