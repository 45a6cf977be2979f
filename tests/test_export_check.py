"""`check-export`: a good export passes; every kind of damage is named clearly."""
import shutil

import pytest

from keras_resnet_cifar.serving.check import ExportCheckError, check_export
from keras_resnet_cifar.cli import main
from export_helpers import copy_export, shared_export


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    return shared_export(tmp_path_factory)


def test_good_export_passes_every_check(shared, capsys):
    lines = check_export(shared.base / "tiny")
    assert lines[0].startswith("layout: ") and "versions [1]" in lines[0]
    assert [line.split(":")[0] for line in lines[1:]] == ["layout", "signatures", "warmup", "run", "run"]
    assert "serving_default images uint8 (-1, 32, 32, 3)" in lines[2] and "(10 classes)" in lines[2]
    assert "4 PredictionLog records for ['serving_bytes', 'serving_default']" in lines[3]
    assert main(["check-export", str(shared.version_dir)]) == 0
    out = capsys.readouterr().out
    assert out.count("\nok  ") + out.startswith("ok  ") == 5 and "all 5 checks passed" in out


def _corrupt_pb(folder):
    data = (folder / "saved_model.pb").read_bytes()
    (folder / "saved_model.pb").write_bytes(data[: len(data) // 2])


def _garbage_variables(folder):
    (data,) = (folder / "variables").glob("variables.data-*")
    data.write_bytes(bytes(len(data.read_bytes())))  # same size, all zeros: the checksums fail


def _drop_signature(folder):
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel.FromString((folder / "saved_model.pb").read_bytes())
    del proto.meta_graphs[0].signature_def["serving_bytes"]
    (folder / "saved_model.pb").write_bytes(proto.SerializeToString())


def _garbage_warmup(folder):
    (folder / "assets.extra" / "tf_serving_warmup_requests").write_bytes(b"\x00" * 40 + b"not a TFRecord")


@pytest.mark.parametrize("damage, message", [
    (_corrupt_pb, r"saved_model.pb: .*corrupted, not a SavedModel protobuf"),
    (lambda f: (f / "saved_model.pb").write_bytes(b"not a protobuf at all"), r"saved_model.pb: .*corrupted"),
    (_garbage_variables, r"load: .*cannot load it.*re-export"),
    (lambda f: (f / "variables" / "variables.index").unlink(), r"layout: .*missing \['variables/variables.index'\]"),
    (_drop_signature, r"signatures: .*no signature 'serving_bytes'"),
    (_garbage_warmup, r"warmup: .*is damaged"),
    (lambda f: shutil.rmtree(f / "assets.extra"), r"layout: .*missing \['assets.extra/tf_serving_warmup_requests'\]"),
])
def test_damaged_export_is_reported_clearly(shared, tmp_path, damage, message):
    folder = copy_export(shared, tmp_path)
    damage(folder)
    with pytest.raises(ExportCheckError, match=message):
        check_export(folder.parent)


def test_cli_reports_a_corrupted_export_in_one_line(shared, tmp_path, capsys):
    folder = copy_export(shared, tmp_path)
    _corrupt_pb(folder)
    assert main(["check-export", str(folder)]) == 2
    captured = capsys.readouterr()
    error = captured.err.strip()
    assert error.startswith("keras-resnet-cifar check-export: error: saved_model.pb:") and "\n" not in error
    assert "ok  layout" in captured.out  # the checks that passed are shown first


def test_wrong_folders_are_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        check_export(tmp_path / "missing")
    (tmp_path / "tiny" / ".export-3-abc").mkdir(parents=True)
    with pytest.raises(ExportCheckError, match="no numeric version folder"):
        check_export(tmp_path / "tiny")
