"""The run directory: its files, atomic writes, and the checks before a run starts or resumes.

A run directory holds:

    config.json        TrainConfig.to_dict() of the run, and under "recorded" the backend and device
    class_names.json   JSON list, label order
    best.keras         the model at its best validation accuracy (never chosen on test)
    last.weights.h5    weights and optimizer state after the last epoch
    history.csv        one row per epoch (1-based): epoch, loss, accuracy (mixup_accuracy
                       under mixup), val_loss, val_accuracy, lr, seconds, val_seconds
    metrics.json       written last: its presence marks a finished run ("status": "finished")
    diverged.json      instead of metrics.json when the loss became NaN/inf (see divergence.py)
    confusion.png, history.png, tensorboard/, weights/ (see callbacks.py), backup/ (resume)
"""
import dataclasses
import os
import shutil

from keras_resnet_cifar.config import config_diff
from keras_resnet_cifar.constants import CIFAR10_CLASSES
from keras_resnet_cifar.files import atomic_save, read_json, write_json, write_text  # noqa: F401  (re-exported)
from keras_resnet_cifar.paths import check_folder

RUN_FILES = ("config.json", "class_names.json", "best.keras", "last.weights.h5", "history.csv",
             "metrics.json", "confusion.png", "history.png", "tensorboard", "weights", "backup",
             "diverged.json")

# Settings that change how a run reports, not what it computes: a resume may change them.
_NOT_COMPARED = ("verbose",)


_ACCEPTED = ("a run directory holding best.keras (with config.json and class_names.json beside it), "
             "or a Keras 3 model file MODEL.keras")


@dataclasses.dataclass(frozen=True)
class Run:
    """A run directory (or a lone `.keras` file and its folder) opened for reading: the one reader of the
    files `train` writes, used by evaluate, plot, export and report.

    Example:
        >>> run = Run.open("runs/train")
        >>> run.config().model.blocks, run.class_names(), run.load_model().name
    """

    folder: str
    model_path: str

    @classmethod
    def open(cls, path):
        """Open a run directory (its best.keras) or a `.keras` file; a missing or wrong path says which."""
        path = os.fspath(path)
        if os.path.isdir(path):
            return cls(path, os.path.join(path, "best.keras"))
        if os.path.isfile(path):
            if not path.endswith(".keras"):
                raise ValueError(f"{path}: received a file that is not a .keras model; accepted: {_ACCEPTED}. "
                                 "Weights-only or legacy files (.h5, .weights.h5) do not carry the architecture")
            return cls(os.path.dirname(os.path.abspath(path)), path)
        raise FileNotFoundError(f"{path}: does not exist; accepted: {_ACCEPTED}")

    def path(self, name):
        return os.path.join(self.folder, name)

    def config(self):
        """The run's `TrainConfig` (config.json, older layouts upgraded), or None without one."""
        from keras_resnet_cifar.config import TrainConfig

        path = self.path("config.json")
        return TrainConfig.from_dict(read_json(path, dict)) if os.path.isfile(path) else None

    def metrics(self):
        """metrics.json of a finished run; FileNotFoundError (saying so) for an unfinished one."""
        path = self.path("metrics.json")
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{path}: does not exist; accepted: a finished run folder (train writes "
                                    "metrics.json last)")
        return read_json(path, dict)

    def class_names(self, num_classes=None, notes=None):
        """class_names.json; without it the CIFAR-10 names when `num_classes` is 10 or None (a line is
        added to `notes`), else FileNotFoundError naming the file to write."""
        path = self.path("class_names.json")
        if not os.path.isfile(path):
            if num_classes not in (None, len(CIFAR10_CLASSES)):
                raise FileNotFoundError(f"{path}: does not exist and the model has {num_classes} classes, not "
                                        f"CIFAR-10's {len(CIFAR10_CLASSES)}; write a JSON list of {num_classes} "
                                        "names, in label order, there")
            if notes is not None:
                notes.append(f"no class_names.json in {self.folder}: using the CIFAR-10 class names")
            return tuple(CIFAR10_CLASSES)
        names = read_json(path, list)
        if (num_classes is not None and len(names) != num_classes) or not all(
                isinstance(name, str) and name for name in names):
            raise ValueError(f"{path}: holds {len(names)} entries {names[:12]}; accepted: "
                             f"{num_classes or 'one per class,'} non-empty strings, in label order")
        return tuple(names)

    def load_model(self):
        """The model (custom layers registered), or a ValueError saying the file is not a readable model."""
        import keras

        import keras_resnet_cifar.layers  # noqa: F401  registers the package's custom layers for loading

        from keras_resnet_cifar.training.checkpoint import check_keras_file

        if not os.path.isfile(self.model_path):
            raise FileNotFoundError(f"{self.model_path}: does not exist; accepted: {_ACCEPTED}. Did the training "
                                    "run finish its first epoch?")
        check_keras_file(self.model_path)  # a damaged zip makes Keras say "File not found", which is false
        try:
            return keras.saving.load_model(self.model_path, compile=False)
        except Exception as error:  # Keras raises many types for a damaged or foreign file
            first = str(error).splitlines()[0] if str(error) else ""
            raise ValueError(f"{self.model_path}: not a readable Keras model ({type(error).__name__}: {first}); "
                             f"accepted: {_ACCEPTED}; fix: retrain, or restore the file") from None


def prepare(workdir, config, *, force=False):
    """Create or check `workdir` for `config`; returns "new", "resume" or "finished".

    Args:
        workdir: the run directory (created if missing).
        config: the `TrainConfig` about to run.
        force: delete the run files of an earlier run first (other files stay).

    Raises:
        NotADirectoryError, PermissionError: the directory cannot be created or written.
        FileExistsError: it holds a run with a different config (the differences listed).
    """
    workdir = os.fspath(workdir)
    check_folder(workdir, "--workdir", "the run's files")
    os.makedirs(workdir, exist_ok=True)
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
