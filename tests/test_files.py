"""files.py, the bottom layer: the .keras / .weights.h5 checks and the folder check, with their messages."""
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from keras_resnet_cifar.files import check_folder, check_keras_file, check_weights_file, one_line


def _zip(path, members):
    with zipfile.ZipFile(path, "w") as archive:
        for name in members:
            archive.writestr(name, b"{}")
    return str(path)


def test_a_complete_keras_archive_passes_and_a_truncated_one_is_named_with_the_fix(tmp_path):
    good = _zip(tmp_path / "model.keras", ["config.json", "model.weights.h5", "metadata.json"])
    check_keras_file(good)
    cut = tmp_path / "cut.keras"
    cut.write_bytes(open(good, "rb").read()[:40])
    with pytest.raises(ValueError) as error:
        check_keras_file(cut, "best checkpoint")
    message = str(error.value)
    assert message.startswith(f"{cut}: not a readable Keras model (not a complete .keras zip archive: ")
    assert message.endswith("the best checkpoint file is truncated or corrupt. "
                            "Fix: restore it from a copy, or retrain it (train --force)")


def test_a_keras_archive_without_its_weights_says_what_it_lacks(tmp_path):
    path = _zip(tmp_path / "other.keras", ["config.json"])
    with pytest.raises(ValueError, match=r"other\.keras: not a readable Keras model \(it lacks model\.weights\.h5\); "
                                         "the model file"):
        check_keras_file(path)


def test_a_weights_file_that_reads_passes_and_a_truncated_one_gives_what_and_fix(tmp_path):
    h5py = pytest.importorskip("h5py")
    path = tmp_path / "epoch_001.weights.h5"
    with h5py.File(path, "w") as handle:
        handle.create_dataset("layers/dense/vars/0", data=np.arange(50_000, dtype="float32"))
    check_weights_file(path)
    path.write_bytes(path.read_bytes()[:4000])
    with pytest.raises(ValueError) as error:
        check_weights_file(path)
    assert str(error.value).startswith(f"the weights file {path} cannot be read (")
    assert str(error.value).endswith("); fix: restore it from a copy, or retrain it (train --force)")
    with pytest.raises(ValueError, match=rf"^resume: the checkpoint {path} cannot be read \(.+\); pass --force$"):
        check_weights_file(path, "resume: the checkpoint", "pass --force")


def test_a_folder_argument_that_is_a_file_names_the_flag_and_the_fix(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(NotADirectoryError, match=r"--workdir: received .*a-file', which is a file, not a folder; "
                                                 r"accepted: a folder \(created if missing\) for the run's files"):
        check_folder(blocker, "--workdir", "the run's files")
    with pytest.raises(NotADirectoryError, match=r"above it is a file"):
        check_folder(blocker / "below", "--workdir", "the run's files")
    check_folder(tmp_path / "new" / "deeper", "--workdir", "the run's files")
    assert not (tmp_path / "new").exists()  # checked, not created


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes anywhere")
def test_a_read_only_folder_is_refused_when_it_must_be_written(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        check_folder(folder, "--data-dir", "tfds's data", writable=False)
        with pytest.raises(PermissionError, match="--directory: cannot write to"):
            check_folder(folder, "--directory", "the search's results")
    finally:
        folder.chmod(0o700)


def test_one_line_joins_and_bounds_a_message():
    assert one_line(OSError("Unable to open\n  file (truncated)")) == "Unable to open file (truncated)"
    assert one_line(KeyError()) == "KeyError"
    assert len(one_line(ValueError("x" * 1000))) == 400


def test_the_file_layer_loads_neither_keras_nor_h5py():
    code = "import sys, keras_resnet_cifar.files; print('keras' in sys.modules, 'h5py' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
