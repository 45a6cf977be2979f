"""The run directory: its files, atomic writes, and the checks before a run starts or resumes.

A run directory holds:

    config.json        TrainConfig.to_json() of the run
    class_names.json   JSON list, label order
    best.keras         the model at its best validation accuracy (never chosen on test)
    last.weights.h5    weights and optimizer state after the last epoch
    history.csv        one row per epoch (1-based): epoch, loss, accuracy (mixup_accuracy
                       under mixup), val_loss, val_accuracy, lr, seconds, val_seconds
    metrics.json       written last: its presence marks a finished run ("status": "finished")
    diverged.json      instead of metrics.json when the loss became NaN/inf (see divergence.py)
    confusion.png, history.png, tensorboard/, weights/ (see callbacks.py), backup/ (resume)
"""
import json
import os
import shutil
import tempfile

from keras_resnet_cifar.config import config_diff

RUN_FILES = ("config.json", "class_names.json", "best.keras", "last.weights.h5", "history.csv",
             "metrics.json", "confusion.png", "history.png", "tensorboard", "weights", "backup",
             "diverged.json")

# Settings that change how a run reports, not what it computes: a resume may change them.
_NOT_COMPARED = ("verbose",)


def atomic_save(path, save):
    """Call `save(temp_path)` for a temp file beside `path` (same suffix), then os.replace it.

    A reader (or a kill -9) never sees a half-written `path`.
    """
    path = os.fspath(path)
    folder, name = os.path.split(os.path.abspath(path))
    suffix = ".weights.h5" if name.endswith(".weights.h5") else os.path.splitext(name)[1]
    handle, temp = tempfile.mkstemp(prefix=f".{name}.", suffix=suffix, dir=folder)
    os.close(handle)
    try:
        save(temp)
        os.replace(temp, path)
    except BaseException:
        if os.path.exists(temp):
            os.remove(temp)
        raise


def write_text(path, text):
    """Write `text` to `path` atomically."""
    def save(temp):
        with open(temp, "w", encoding="utf-8") as handle:
            handle.write(text)
    atomic_save(path, save)


def write_json(path, obj):
    """Write `obj` as indented JSON to `path` atomically."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def read_json(path):
    """Parse a JSON file, naming the file in the error if it is not JSON."""
    with open(path, encoding="utf-8") as handle:
        try:
            return json.load(handle)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}: not valid JSON ({error}); fix or delete the file") from None


def prepare(workdir, config, *, force=False):
    """Create or check `workdir` for `config`; returns "new", "resume" or "finished".

    Args:
        workdir: the run directory (created if missing).
        config: the `TrainConfig` about to run.
        force: delete the run files of an earlier run first (other files stay).

    Raises:
        PermissionError: the directory cannot be created or written.
        FileExistsError: it holds a run with a different config (the differences listed).
    """
    workdir = os.fspath(workdir)
    try:
        os.makedirs(workdir, exist_ok=True)
        handle, probe = tempfile.mkstemp(prefix=".write-test.", dir=workdir)
        os.close(handle)
        os.remove(probe)
    except OSError as error:
        raise PermissionError(
            f"workdir: cannot write to {workdir!r} ({error.strerror or error}); "
            "pass a --workdir you can write to") from None
    if force:
        for name in RUN_FILES:
            path = os.path.join(workdir, name)
            if os.path.isdir(path):
                shutil.rmtree(path)
            elif os.path.exists(path):
                os.remove(path)
    config_path = os.path.join(workdir, "config.json")
    if not os.path.exists(config_path):
        return "new"
    old, new = _with_defaults(read_json(config_path), type(config)), config.to_dict()
    for key in _NOT_COMPARED:
        old.pop(key, None)
        new.pop(key, None)
    differences = config_diff(old, new)
    if differences:
        listed = "\n  ".join(differences)
        raise FileExistsError(
            f"workdir {workdir!r} holds a run with a different config (saved -> requested):\n  {listed}\n"
            "Resume with the saved config, pass --force to delete that run and start over, "
            "or choose another --workdir.")
    return "finished" if os.path.exists(os.path.join(workdir, "metrics.json")) else "resume"


def _with_defaults(saved, config_class):
    """A saved config with fields added since it was written filled in with their defaults."""
    try:
        return config_class.from_dict(saved).to_dict()
    except (TypeError, ValueError):
        return saved  # unknown or malformed keys: compare as saved, so the diff shows them
