"""Keras Tuner's distributed search as a user starts it: `tune --chief` and two `tune --worker ID` processes on
127.0.0.1 run a 4-trial search to its end, every process exits at once, and rerunning the three runs nothing.

A chief that never exits once the search is done is among Keras Tuner's most reported failures (keras-tuner
#254, #344); so is a worker left waiting (an hour, Keras Tuner's gRPC timeout) for a chief that has gone.
"""
import os
import sys

from cluster_helpers import cluster, free_ports
from data_helpers import write_image_folder
from test_tuning_processes import _args, _lines, _statuses

DEADLINE = 240  # seconds for the three processes to end
PROMPT = 15  # seconds within which the chief and the workers end once the last trial has ended


def _commands(image_folder, directory):
    port = str(free_ports(1)[0])
    argv = [sys.executable, "-m", "keras_resnet_cifar", *_args(image_folder, directory, 4), "--oracle-port", port]
    return port, [(argv + ["--chief"], {}), (argv + ["--worker", "w0"], {}), (argv + ["--worker", "w1"], {})]


def _trial_lines(output, worker):
    return [line.split()[1].split("/")[0] for line in _lines(output) if f"[{worker}]" in line]


def test_chief_and_two_workers_run_each_trial_once_end_promptly_and_rerun_nothing(tmp_path, monkeypatch):
    for name in ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT"):
        monkeypatch.delenv(name, raising=False)  # the processes' roles come from their flags alone
    image_folder = str(write_image_folder(tmp_path / "images"))
    project = os.path.join(tmp_path, "p")
    port, commands = _commands(image_folder, tmp_path)
    with cluster(commands, tmp_path, "first") as running:
        codes = running.wait(DEADLINE)
        outputs = [running.output(i) for i in range(3)]
        ended = list(running.ended)
    assert codes == [0, 0, 0], "\n".join(o[-3000:] for o in outputs)

    statuses = _statuses(project)
    assert sorted(statuses) == ["0", "1", "2", "3"] and all(s == "COMPLETED" for s, _ in statuses.values())
    by_worker = {name: _trial_lines(out, name) for name, out in zip(("w0", "w1"), outputs[1:])}
    assert sorted(by_worker["w0"] + by_worker["w1"]) == ["0", "1", "2", "3"]  # each trial run once, by one worker
    assert all(by_worker.values()), by_worker  # both workers took trials
    assert f"127.0.0.1:{port}" in outputs[0] and len(_lines(outputs[0])) == 4  # the chief logs each trial once
    last_trial = max(mtime for _, mtime in statuses.values())  # its trial.json, written as the trial ended
    waits = [round(end - last_trial, 1) for end in ended]
    print(f"seconds from the last trial's end to each exit (chief, w0, w1): {waits}")
    assert all(wait < PROMPT for wait in waits), f"seconds from the last trial's end to each exit: {waits}"

    port, commands = _commands(image_folder, tmp_path)
    with cluster(commands, tmp_path, "again") as running:
        codes = running.wait(DEADLINE)
        outputs = [running.output(i) for i in range(3)]
    assert codes == [0, 0, 0], "\n".join(o[-3000:] for o in outputs)
    assert "4 trials finished, they are not run again" in outputs[0]
    assert not any(_lines(out) for out in outputs[1:]) and all("0 trials run here" in out for out in outputs[1:])
    assert _statuses(project) == statuses  # no trial run again or rewritten
