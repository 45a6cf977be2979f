"""Multi-worker training as a user starts it: two `train --strategy multiworker` processes on 127.0.0.1, each
with its TF_CONFIG (TensorFlow's MultiWorkerMirroredStrategy, Keras's fit), on generated images, CPU only.

One uninterrupted run (a module fixture) is checked for the run directory's contract, the two replicas' weights
and where metrics.json comes from; a run whose worker is killed mid-epoch resumes to that same result; the
data pipeline's first global batch is split between the two replicas as documented. Every process has a
deadline and is killed, if still running, when its test ends.
"""
import csv
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from cluster_helpers import cluster, free_ports
from data_helpers import learnable, write_image_folder

pytestmark = pytest.mark.skipif(os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow",
                                reason="tf.distribute: the TensorFlow backend")

EPOCHS = 3
# 10 classes x 24 images, 20% validation: 192 training images, 12 global batches of 16 (8 per replica) an epoch.
FLAGS = ["train", "--strategy", "multiworker", "--preset", "tiny", "--val-fraction", "0.2", "--batch-size", "16",
         "--epochs", str(EPOCHS), "--histogram-freq", "0", "--deterministic", "--quiet"]
DEADLINE = 150  # seconds for a cluster's two processes to end
WORKER = os.path.join(".workers", "worker1")
# The files of a finished run (rundir's contract), besides the lock and the other worker's folder.
FINISHED = {"config.json", "class_names.json", "best.keras", "last.weights.h5", "history.csv", "metrics.json",
            "confusion.png", "history.png", "weights"}


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("distributed") / "images"
    return str(write_image_folder(root, counts=(("train", 24), ("test", 2)), pixels=learnable))


def tf_configs(count):
    """The extra environment of each of `count` workers of one cluster on 127.0.0.1: its TF_CONFIG."""
    cluster_spec = {"worker": [f"127.0.0.1:{port}" for port in free_ports(count)]}
    return [{"TF_CONFIG": json.dumps({"cluster": cluster_spec, "task": {"type": "worker", "index": i}})}
            for i in range(count)]


def train_cluster(image_folder, workdir, log_dir, tag):
    argv = [sys.executable, "-m", "keras_resnet_cifar", *FLAGS, "--source", image_folder, "--workdir", str(workdir)]
    return cluster(list(zip([argv, argv], tf_configs(2))), log_dir, tag)


@pytest.fixture(scope="module")
def finished_run(image_folder, tmp_path_factory):
    """An uninterrupted two-worker run: (workdir, the cluster's outputs)."""
    folder = tmp_path_factory.mktemp("finished")
    workdir = folder / "run"
    with train_cluster(image_folder, workdir, folder, "worker") as running:
        codes = running.wait(DEADLINE)
        outputs = [running.output(0), running.output(1)]
        assert codes == [0, 0], running.outputs()
    return workdir, outputs


def _json(path):
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def _history(workdir):
    with open(os.path.join(workdir, "history.csv"), encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _h5_arrays(path):
    found = {}
    with h5py.File(path, "r") as handle:
        handle.visititems(lambda name, obj: found.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return found


def assert_one_run(workdir, outputs, strategy):
    """The chief (worker 0) wrote a finished run in `workdir`, worker 1 only its copies under .workers/worker1,
    with the same weights; metrics.json's test accuracy is the chief's best checkpoint's on the test split."""
    assert set(os.listdir(workdir)) - {".lock", ".workers"} == FINISHED  # a finished run, no backup/ left
    assert os.listdir(os.path.join(workdir, ".workers")) == ["worker1"]  # the other worker wrote only there
    worker = os.path.join(workdir, WORKER)
    assert {"config.json", "last.weights.h5", "history.csv"} <= set(os.listdir(worker))
    assert not {"metrics.json", "backup"} & set(os.listdir(worker))
    assert _json(os.path.join(workdir, "config.json"))["recorded"]["task"] == "worker0"  # written by the chief
    assert _json(os.path.join(worker, "config.json"))["recorded"]["task"] == "worker1"
    assert "this worker's part is done" in outputs[1] and "test accuracy" in outputs[0]

    # One model: the two replicas end with the same weights (BatchNormalization's statistics included) and
    # optimizer state, bit for bit.
    chief, other = _h5_arrays(os.path.join(workdir, "last.weights.h5")), _h5_arrays(os.path.join(worker, "last.weights.h5"))
    assert chief.keys() == other.keys() and any("optimizer" in key for key in chief)
    for key in chief:
        np.testing.assert_array_equal(chief[key], other[key], err_msg=key)

    metrics = _json(os.path.join(workdir, "metrics.json"))
    assert metrics["strategy"] == strategy and metrics["replicas"] == 2
    assert metrics["epochs"] == EPOCHS and [row["epoch"] for row in _history(workdir)] == ["1", "2", "3"]
    # The test accuracy is the chief's best checkpoint on the whole test split.
    from keras_resnet_cifar.data.sources import load_data
    from keras_resnet_cifar.training.evaluate import evaluate_model
    from keras_resnet_cifar.training.rundir import Run

    run = Run.open(workdir)
    config = run.config()
    data = load_data(config.data, seed=config.seed, verbose=False)
    assert metrics["num_test"] == len(data.test.labels) == 20
    result = evaluate_model(run.load_model(), data.test, data.class_names, batch_size=256, data_config=config.data)
    assert metrics["test_accuracy"] == result["test_accuracy"]


def test_two_workers_train_one_run_that_the_chief_writes(finished_run):
    workdir, outputs = finished_run
    assert_one_run(workdir, outputs, "MultiWorkerStrategy")


def _committed_epoch(workdir):
    try:
        return _json(os.path.join(workdir, "backup", "state.json"))["epoch"]
    except (OSError, ValueError, KeyError):
        return 0


def kill_worker1_in_epoch_2(running, workdir):
    """SIGKILL worker 1 of `running` just after the chief has committed epoch 1 to `workdir`."""
    deadline = time.monotonic() + DEADLINE
    while _committed_epoch(workdir) < 1 and time.monotonic() < deadline and all(
            p.poll() is None for p in running.processes):
        time.sleep(0.01)
    assert _committed_epoch(workdir) == 1, running.outputs()
    time.sleep(0.2)  # into epoch 2
    os.kill(running.processes[1].pid, signal.SIGKILL)


def test_a_worker_killed_mid_epoch_resumes_from_the_chiefs_last_epoch(finished_run, image_folder, tmp_path):
    workdir = tmp_path / "run"
    with train_cluster(image_folder, workdir, tmp_path, "killed") as running:
        kill_worker1_in_epoch_2(running, workdir)
        survivor = running.processes[0]
        try:  # its next collective fails: TensorFlow sees the connection reset
            survivor.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the chief did not end after its peer died:\n{running.outputs()}")
        committed = _committed_epoch(workdir)
        assert 1 <= committed < EPOCHS and not os.path.exists(os.path.join(workdir, "metrics.json"))
        last = running.output(0).strip().splitlines()[-1]  # one line: what happened, where it resumes, the fix
        assert survivor.returncode == 2 and "another worker of the cluster is gone" in last, running.outputs()
        assert f"last committed epoch is {committed} of {EPOCHS}" in last and "start the same command" in last

    with train_cluster(image_folder, workdir, tmp_path, "resumed") as running:
        assert running.wait(DEADLINE) == [0, 0], running.outputs()
        assert f"resuming after epoch {committed} of {EPOCHS}" in running.output(0)

    reference, _ = finished_run
    rows, expected = _history(workdir), _history(reference)
    assert [row["epoch"] for row in rows] == ["1", "2", "3"]  # every epoch once
    for row, want in zip(rows, expected):
        for key in ("loss", "accuracy", "val_loss", "val_accuracy", "lr"):
            assert float(row[key]) == pytest.approx(float(want[key]), rel=1e-6, abs=1e-7), (row["epoch"], key)
    final, want = _h5_arrays(os.path.join(workdir, "last.weights.h5")), _h5_arrays(
        os.path.join(reference, "last.weights.h5"))
    for key in want:
        np.testing.assert_array_equal(final[key], want[key], err_msg=key)  # the uninterrupted run's weights
    assert _json(os.path.join(workdir, "metrics.json"))["epochs"] == EPOCHS


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="the JAX backend: jax not installed")
def test_two_jax_processes_resume_after_a_kill_and_finish_one_run(image_folder, tmp_path):
    """The same command on Keras's JAX backend (keras.distribution's DataParallel across the two processes):
    worker 1 killed mid-epoch, then both commands again, resume and finish one run as on TensorFlow."""
    workdir = tmp_path / "run"
    argv = [sys.executable, "-m", "keras_resnet_cifar", *FLAGS, "--source", image_folder, "--workdir", str(workdir)]

    def jax_cluster(tag):
        envs = [{**env, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"} for env in tf_configs(2)]
        return cluster([(argv, env) for env in envs], tmp_path, tag)

    with jax_cluster("killed") as running:
        kill_worker1_in_epoch_2(running, workdir)
        # JAX's distributed runtime ends the survivor only at its heartbeat timeout (~75 s here): end it now.
    committed = _committed_epoch(workdir)
    assert 1 <= committed < EPOCHS and not os.path.exists(os.path.join(workdir, "metrics.json"))
    with jax_cluster("resumed") as running:
        assert running.wait(DEADLINE) == [0, 0], running.outputs()
        outputs = [running.output(0), running.output(1)]
    assert f"resuming after epoch {committed} of {EPOCHS}" in outputs[0]
    assert_one_run(workdir, outputs, "DataParallelProcesses")  # every epoch once, one model, the chief's metrics


_FIRST_BATCH = """
import sys
import numpy as np
from keras_resnet_cifar.config import TrainConfig
from keras_resnet_cifar.data.sources import load_data
from keras_resnet_cifar.training.runtime import make_strategy, shard_for
from keras_resnet_cifar.training.train import make_datasets

strategy = make_strategy("multiworker")
config = TrainConfig.from_json(open(sys.argv[1]).read())
train_ds, _, _ = make_datasets(config, load_data(config.data, seed=config.seed, verbose=False))
x, y = next(iter(strategy.experimental_distribute_dataset(shard_for(strategy, train_ds))))
np.savez(sys.argv[2], x=strategy.experimental_local_results(x)[0], y=strategy.experimental_local_results(y)[0],
         replicas=strategy.num_replicas_in_sync)
"""


def test_the_global_batch_is_split_between_the_replicas(finished_run, tmp_path):
    """Each of R replicas trains on batch / R images of every global batch: worker i on the i-th part."""
    from keras_resnet_cifar.config import TrainConfig
    from keras_resnet_cifar.data.sources import load_data
    from keras_resnet_cifar.training.train import make_datasets

    workdir, _ = finished_run
    config_path = tmp_path / "config.json"
    config = TrainConfig.from_dict(_json(os.path.join(workdir, "config.json")))
    config_path.write_text(config.to_json())
    argvs = [[sys.executable, "-c", _FIRST_BATCH, str(config_path), str(tmp_path / f"batch{i}.npz")] for i in range(2)]
    with cluster(list(zip(argvs, tf_configs(2))), tmp_path, "batch") as running:
        assert running.wait(DEADLINE) == [0, 0], running.outputs()
    x, y = next(iter(make_datasets(config, load_data(config.data, seed=config.seed, verbose=False))[0]))
    half = config.optim.batch_size // 2
    for index in range(2):
        part = np.load(tmp_path / f"batch{index}.npz")
        assert part["replicas"] == 2 and part["x"].shape[0] == half
        np.testing.assert_array_equal(part["x"], np.asarray(x)[index * half:(index + 1) * half])
        np.testing.assert_array_equal(part["y"], np.asarray(y)[index * half:(index + 1) * half])


def test_a_cluster_the_strategy_cannot_use_is_refused_before_anything_is_written(tmp_path, monkeypatch):
    from keras_resnet_cifar.config import TrainConfig
    from keras_resnet_cifar.errors import UserError
    from keras_resnet_cifar.training import runtime
    from keras_resnet_cifar.training.train import train

    config, workdir = TrainConfig(strategy="multiworker"), tmp_path / "run"
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(UserError, match="received 'multiworker' without TF_CONFIG .* accepted: TF_CONFIG set on every "
                                        "process, e.g. .* or --strategy auto"):
        train(config, workdir)
    wrong = '{"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"type": "worker", "index": 1}}'  # no worker 1
    monkeypatch.setenv("TF_CONFIG", wrong)
    with pytest.raises(UserError, match=r"TF_CONFIG: received .*\"index\": 1.*; accepted: JSON naming the cluster"):
        train(config, workdir)
    monkeypatch.setattr(runtime, "backend", lambda: "torch")
    with pytest.raises(UserError, match="received 'multiworker' on the torch backend; accepted there: auto or one .* "
                                        "needs KERAS_BACKEND=tensorflow or jax"):
        train(config, workdir)
    assert not workdir.exists()
