"""The CLI prints the package's refusals (UserError) as one line with exit 2; anything else is a bug and
keeps its traceback (it propagates out of `main`, so Python prints it and exits 1)."""
import pytest

from keras_resnet_cifar import cli
from keras_resnet_cifar.cli import report as report_command
from keras_resnet_cifar.errors import UserError, UserFileNotFoundError


def test_a_refusal_is_one_error_line_and_exit_2(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("KERAS_RESNET_CIFAR_DEBUG", raising=False)
    missing = tmp_path / "no-such-folder"
    assert cli.main(["report", str(missing), "--out", str(tmp_path / "r.md")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("keras-resnet-cifar report: error: ") and str(missing) in err
    assert err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize("error", [ValueError("Attempt to convert a value (PerReplica:{...})"),
                                   FileNotFoundError(2, "No such file or directory", "/inside/keras"),
                                   TypeError("internal")])
def test_a_bug_keeps_its_traceback(tmp_path, capsys, monkeypatch, error):
    """A ValueError (or OSError) raised inside TensorFlow or Keras is not the user's mistake."""
    monkeypatch.delenv("KERAS_RESNET_CIFAR_DEBUG", raising=False)

    def broken(dirs, out):
        raise error

    monkeypatch.setattr(report_command, "report", broken)
    with pytest.raises(type(error)) as raised:
        cli.main(["report", str(tmp_path), "--out", str(tmp_path / "r.md")])
    assert raised.value is error and raised.traceback[-1].name == "broken"
    assert "error:" not in capsys.readouterr().err


def test_the_family_keeps_the_builtin_types():
    """Callers that catch ValueError or FileNotFoundError still catch the package's refusals."""
    error = UserFileNotFoundError("x: does not exist; accepted: a file")
    assert isinstance(error, UserError) and isinstance(error, ValueError) and isinstance(error, FileNotFoundError)
    assert str(error) == "x: does not exist; accepted: a file"
