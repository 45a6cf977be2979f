"""A full disk (or a device error) at each write that replaces a good state, table-driven: the write fails half-way
(an injected ENOSPC/EIO at the writer itself), and afterwards the folder is byte-identical to what it was just before
that write began (the previous state intact, the partial file gone), the error names the path and the space, and
the CLI prints it as one line with exit status 2."""
import errno
import os
import shutil
import tarfile

import keras
import numpy as np
import pytest

from file_helpers import KillAfterFirstEpoch, Killed, snapshot

from keras_resnet_cifar import files
from keras_resnet_cifar.config import ModelConfig, OptimConfig, TrainConfig
from keras_resnet_cifar.errors import StorageError, storage_error
from data_helpers import write_image_folder

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

CONFIG = TrainConfig(model=ModelConfig(blocks=(1,), channels=(4,)), optim=OptimConfig(epochs=2, batch_size=16),
                     deterministic=True, histogram_freq=0, verbose=0)


def _data():
    from keras_resnet_cifar.data import from_arrays

    rng = np.random.default_rng(0)
    return from_arrays(rng.integers(0, 256, (48, 32, 32, 3), dtype=np.uint8), np.arange(48) % 10,
                       rng.integers(0, 256, (10, 32, 32, 3), dtype=np.uint8), np.arange(10) % 10,
                       val_fraction=0, seed=0)  # no validation: every epoch saves a best candidate


@pytest.fixture(scope="module")
def interrupted_run(tmp_path_factory):
    """A run of CONFIG stopped after its first epoch (committed): every case resumes a copy of it."""
    from keras_resnet_cifar.training.train import train

    run = tmp_path_factory.mktemp("interrupted") / "run"
    with pytest.raises(Killed):
        train(CONFIG, run, data=_data(), callbacks=[KillAfterFirstEpoch()])
    return run


class _Injection:
    """A writer's failure: records the folder's files as they were before the write (its own temp file
    `temp` left out), writes half of something, and raises the OSError a full disk raises."""

    def __init__(self, folder, code=errno.ENOSPC):
        self.folder, self.code, self.before = folder, code, None

    def fail(self, write_partial, temp=None):
        self.before = snapshot(self.folder)
        if temp is not None:
            self.before.pop(os.path.relpath(temp, self.folder), None)
        write_partial()
        raise OSError(self.code, os.strerror(self.code))


def _on_method(monkeypatch, cls, name, nth):
    """Make `cls.name(self, path, ...)` fail on its `nth` call, leaving a partial `path`."""
    real, calls = getattr(cls, name), []

    def install(injection):
        def fake(self, path, *args, **kwargs):
            calls.append(path)
            if len(calls) != nth:
                return real(self, path, *args, **kwargs)
            injection.fail(lambda: open(path, "wb").write(b"partial"), temp=path)
        monkeypatch.setattr(cls, name, fake)
    return install


def _on_open(monkeypatch, name):
    """Make files.py's text writes of `name` (its temp file .NAME.*) fail half-way through `write`."""
    real_open = open

    def install(injection):
        class Handle:
            def __init__(self, path, mode, **kwargs):
                self.path, self.handle = path, real_open(path, mode, **kwargs)

            def write(self, text):
                injection.fail(lambda: (self.handle.write(text[: len(text) // 2]), self.handle.flush()), self.path)

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                self.handle.close()

        def fake(path, mode="r", **kwargs):
            if "w" in mode and os.path.basename(path).startswith(f".{name}."):
                return Handle(path, mode, **kwargs)
            return real_open(path, mode, **kwargs)
        monkeypatch.setattr(files, "open", fake, raising=False)
    return install


# (case, the writer that fails, the file named in the error (relative to the run))
RUN_CASES = [
    ("best-checkpoint", lambda mp: _on_method(mp, keras.Model, "save", 1), "backup/best_epoch_002.keras"),
    ("resume-weights", lambda mp: _on_method(mp, keras.Model, "save_weights", 1), "backup/epoch_002.weights.h5"),
    ("resume-state", lambda mp: _on_open(mp, "state.json"), "backup/state.json"),
    ("config-json", lambda mp: _on_open(mp, "config.json"), "config.json"),
    ("history-csv", lambda mp: _on_open(mp, "history.csv"), "history.csv"),
    ("metrics-json", lambda mp: _on_open(mp, "metrics.json"), "metrics.json"),
]


@pytest.mark.parametrize("case, writer, named", RUN_CASES, ids=[c[0] for c in RUN_CASES])
def test_full_disk_in_a_run_keeps_its_committed_state(case, writer, named, interrupted_run, tmp_path, monkeypatch):
    from keras_resnet_cifar.training.checkpoint import load_state
    from keras_resnet_cifar.training.train import train

    run = tmp_path / "run"
    shutil.copytree(interrupted_run, run)
    injection = _Injection(run)
    writer(monkeypatch)(injection)
    with pytest.raises(StorageError) as failed:
        train(CONFIG, run, data=_data())
    assert injection.before is not None, "the injected writer was never called"
    assert snapshot(run) == injection.before  # byte-identical; the partial temp file is gone
    message = str(failed.value)
    assert str(run / named) in message and "no space left on the device" in message and "free there" in message
    assert failed.value.errno == errno.ENOSPC
    committed = load_state(run, publish=False)
    assert committed is None or committed["epoch"] in (1, 2)
    monkeypatch.undo()
    assert train(CONFIG, run, data=_data())["status"] == "finished"  # space freed: the same call resumes


@pytest.fixture(scope="module")
def image_archive(tmp_path_factory):
    root = tmp_path_factory.mktemp("archive")
    write_image_folder(root / "images", counts=(("train", 2), ("test", 1)))
    with tarfile.open(root / "images.tar.gz", "w:gz") as archive:
        archive.add(root / "images", arcname="images")
    return root / "images.tar.gz"


def _decoded_cache(monkeypatch):
    real = np.savez

    def install(injection):
        def fake(handle, *args, **kwargs):
            injection.fail(lambda: (handle.write(b"partial"), handle.flush()), temp=handle.name)
        monkeypatch.setattr(np, "savez", fake)
        return real
    return install


def _extraction(monkeypatch):
    real = tarfile.TarFile.extractall

    def install(injection):
        def fake(self, path, *args, **kwargs):
            real(self, path, *args, **kwargs)
            injection.fail(lambda: None)  # the copy is (half) written when the disk fills
        monkeypatch.setattr(tarfile.TarFile, "extractall", fake)
    return install


# (case, the writer that fails, the cache entry named in the error: "decoded" or "folder")
CACHE_CASES = [("decoded-arrays", _decoded_cache, "decoded"), ("extracted-archive", _extraction, "folder")]


@pytest.mark.parametrize("case, writer, named", CACHE_CASES, ids=[c[0] for c in CACHE_CASES])
def test_full_disk_in_the_data_cache_leaves_no_partial_entry(case, writer, named, image_archive, tmp_path,
                                                             monkeypatch):
    from keras_resnet_cifar.data import load_data

    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "other").write_text("an earlier entry")
    if named == "decoded":  # extracted already: the decoded arrays are the write that fails
        load_data(str(image_archive), data_dir=str(cache), val_fraction=0.2)
        for path in cache.rglob(".decoded-*.npz"):
            path.unlink()
    injection = _Injection(cache)
    writer(monkeypatch)(injection)
    with pytest.raises(StorageError) as failed:
        load_data(str(image_archive), data_dir=str(cache), val_fraction=0.2)
    assert injection.before is not None
    if named == "decoded":
        assert snapshot(cache) == injection.before
        assert ".decoded-" in str(failed.value)
    else:  # the extraction's temporary folder is gone, and the entry was never made
        assert snapshot(cache) == {"other": b"an earlier entry"}
        assert os.listdir(cache) == ["other"]
    assert str(cache) in str(failed.value) and "free there" in str(failed.value)
    monkeypatch.undo()
    assert len(load_data(str(image_archive), data_dir=str(cache), val_fraction=0.2).test.labels) == 10


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    from export_helpers import shared_export

    return shared_export(tmp_path_factory)


def _saved_model(monkeypatch):
    import tensorflow as tf

    def install(injection):
        def fake(self, path, *args, **kwargs):
            def partial():
                os.makedirs(path, exist_ok=True)
                open(os.path.join(path, "saved_model.pb"), "wb").write(b"partial")
            try:
                injection.fail(partial)
            except OSError:  # TensorFlow reports the C library's error in its own type
                raise tf.errors.ResourceExhaustedError(None, None, f"{path}: No space left on device") from None
        # ExportArchive() makes an instance of the backend's subclass: patch the class actually used
        monkeypatch.setattr(type(keras.export.ExportArchive()), "write_out", fake)
    return install


def _warmup(monkeypatch, code=errno.ENOSPC):
    import tensorflow as tf

    real = tf.io.TFRecordWriter

    def install(injection):
        injection.code = code

        class Writer:
            def __init__(self, path):
                self.path, self.writer = path, real(path)

            def write(self, record):
                injection.fail(lambda: (self.writer.write(record), self.writer.flush()), self.path)

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                self.writer.close()
        monkeypatch.setattr(tf.io, "TFRecordWriter", Writer)
    return install


# (case, the writer that fails, how the write is made: "export" (a new version) or "rewrite" (an existing one))
EXPORT_CASES = [
    ("export-savedmodel", _saved_model, "export"),
    ("export-warmup-records", _warmup, "export"),
    ("rewrite-warmup-records-eio", lambda mp: _warmup(mp, errno.EIO), "rewrite"),
]


@pytest.mark.parametrize("case, writer, how", EXPORT_CASES, ids=[c[0] for c in EXPORT_CASES])
def test_full_disk_in_an_export_keeps_the_earlier_versions(case, writer, how, shared, tmp_path, monkeypatch, capsys):
    from keras_resnet_cifar.cli import main
    from keras_resnet_cifar.serving.warmup import write_warmup

    base = tmp_path / "saved_models"
    shutil.copytree(shared.version_dir, base / "tiny" / "1")
    (base / "models.config").write_text("model_config_list {}\n")
    injection = _Injection(base)
    writer(monkeypatch)(injection)
    if how == "export":
        assert main(["export", str(shared.run_dir), "--name", "tiny", "--base", str(base)]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and str(base / "tiny" / "2") in err, err
        assert "no space left on the device" in err and "free there" in err
    else:
        with pytest.raises(StorageError, match="input/output error") as failed:
            write_warmup(base / "tiny" / "1", "tiny", (32, 32, 3))
        assert "tf_serving_warmup_requests" in str(failed.value)
    assert injection.before is not None
    assert snapshot(base) == {k: v for k, v in injection.before.items() if not k.startswith("tiny/.export-")}
    assert os.listdir(base / "tiny") == ["1"]


# (case, the error a writer raised, the errno it amounts to, or None: not a storage error)
CLASSIFY_CASES = [
    ("enospc", OSError(errno.ENOSPC, "No space left on device"), errno.ENOSPC),
    ("edquot", OSError(errno.EDQUOT, "Disk quota exceeded"), errno.EDQUOT),
    ("eio", OSError(errno.EIO, "Input/output error"), errno.EIO),
    ("h5py-without-errno", OSError("Unable to synchronously write data (file write failed: errno = 28, error "
                                   "message = 'No space left on device')"), errno.ENOSPC),
    ("tensorflow-text", RuntimeError("ResourceExhaustedError: /x/variables.data: No space left on device"),
     errno.ENOSPC),
    ("permission-is-not", OSError(errno.EACCES, "Permission denied"), None),
    ("value-error-is-not", ValueError("bad"), None),
]


@pytest.mark.parametrize("case, error, code", CLASSIFY_CASES, ids=[c[0] for c in CLASSIFY_CASES])
def test_storage_errors_are_recognised_by_errno_or_text(case, error, code, tmp_path):
    target = tmp_path / "file.bin"
    target.write_bytes(b"x" * 3000)
    found = storage_error(error, target)
    if code is None:
        assert found is None
        return
    assert isinstance(found, StorageError) and isinstance(found, OSError) and found.errno == code
    assert str(found).startswith(f"{target}: the write failed") and "is unchanged" in str(found)
    assert ("free at least 2.9 KB" in str(found)) == (code != errno.EIO)  # a full disk says how much to free
