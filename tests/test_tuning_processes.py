"""Searches across processes: resume after a kill, and a chief's port it cannot bind. A chief with two workers
on localhost, each its own process: tests/test_distributed_tune.py (which reuses the helpers here).
"""
import glob
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from keras_resnet_cifar.cli import main
from data_helpers import write_image_folder

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    """ROOT/{train,test}/<class>/*.png: 4 train and 1 test image per class, 10 classes."""
    return str(write_image_folder(tmp_path_factory.mktemp("images")))


def _args(image_folder, directory, max_trials):
    return ["tune", "--tuner", "random", "--max-trials", str(max_trials), "--epochs", "1", "--data", image_folder,
            "--val-fraction", "0.25", "--batch-size", "8", "--stages", "2", "--blocks", "1", "2",
            "--widths", "4", "8", "16", "--max-params", "8000", "--directory", str(directory), "--project", "p"]


def _statuses(project_dir):
    found = {}
    for path in glob.glob(os.path.join(project_dir, "trial_*", "trial.json")):
        try:
            with open(path) as handle:
                trial = json.load(handle)
            found[trial["trial_id"]] = (trial["status"], os.path.getmtime(path))
        except (json.JSONDecodeError, OSError):  # being written
            continue
    return found


def _env():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
    for name in ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT"):
        env.pop(name, None)
    return env


def _lines(text):
    return [line for line in text.splitlines() if line.startswith("trial ")]


def test_killed_search_resumes_running_only_the_remaining_trials(image_folder, tmp_path, capsys):
    project_dir = os.path.join(tmp_path, "p")
    log = open(tmp_path / "first.log", "w")
    process = subprocess.Popen([sys.executable, "-m", "keras_resnet_cifar", *_args(image_folder, tmp_path, 3)],
                               stdout=log, stderr=subprocess.STDOUT, env=_env())
    deadline = time.time() + 180
    while time.time() < deadline and process.poll() is None:
        if any(status == "COMPLETED" for status, _ in _statuses(project_dir).values()):
            break
        time.sleep(0.1)
    process.send_signal(signal.SIGKILL)
    process.wait()
    log.close()
    before = {i: mtime for i, (status, mtime) in _statuses(project_dir).items() if status == "COMPLETED"}
    assert 1 <= len(before) < 3, open(tmp_path / "first.log").read()[-3000:]

    assert main(_args(image_folder, tmp_path, 3)) == 0
    ran = [line.split()[1].split("/")[0] for line in _lines(capsys.readouterr().out)]
    after = _statuses(project_dir)
    assert sorted(after) == ["0", "1", "2"] and all(s == "COMPLETED" for s, _ in after.values())
    assert sorted(ran) == sorted(set(after) - set(before))  # the rest ran, each once
    assert all(after[i][1] == mtime for i, mtime in before.items())  # finished ones untouched


def test_chief_reports_a_port_it_cannot_bind(monkeypatch):
    from keras_resnet_cifar.tuning.distributed import role, serve_oracle
    from keras_resnet_cifar.tuning.oracle import FeasibleRandomSearchOracle
    from keras_resnet_cifar.tuning.space import SearchSpace

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        monkeypatch.setenv("KERASTUNER_TUNER_ID", "chief")
        monkeypatch.setenv("KERASTUNER_ORACLE_IP", "127.0.0.1")
        monkeypatch.setenv("KERASTUNER_ORACLE_PORT", str(taken.getsockname()[1]))
        assert role() == "chief"
        with pytest.raises(PermissionError, match="cannot listen on 127.0.0.1"):
            serve_oracle(FeasibleRandomSearchOracle(SearchSpace.create(), max_trials=1))
    monkeypatch.delenv("KERASTUNER_ORACLE_PORT")
    with pytest.raises(ValueError, match="KERASTUNER_ORACLE_PORT"):
        role()
