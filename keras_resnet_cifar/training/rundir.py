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
    confusion.png, history.png, tensorboard/, weights/ (see callbacks.py), backup/ (resume, see checkpoint.py)

Their names are the constants below, the one place they are written. `Run` is the one reader of a run
directory; checkpoint.py and divergence.py write theirs and import this module, never the reverse.
"""
import dataclasses
import os
import shutil

from keras_resnet_cifar.config import TrainConfig
from keras_resnet_cifar.constants import CIFAR10_CLASSES
from keras_resnet_cifar.errors import DamagedFileError, UserError, UserFileExistsError, UserFileNotFoundError
from keras_resnet_cifar.fields import resume_changes
from keras_resnet_cifar.files import check_folder, read_json

CONFIG = "config.json"
CLASS_NAMES = "class_names.json"
BEST_MODEL = "best.keras"
LAST_WEIGHTS = "last.weights.h5"
HISTORY = "history.csv"
METRICS = "metrics.json"
DIVERGED = "diverged.json"
BACKUP = "backup"
CONFUSION_FIGURE = "confusion.png"
HISTORY_FIGURE = "history.png"
TENSORBOARD = "tensorboard"
WEIGHT_SAMPLES = "weights"

# Everything `train` writes in a run directory: what --force deletes.
RUN_FILES = (CONFIG, CLASS_NAMES, BEST_MODEL, LAST_WEIGHTS, HISTORY, METRICS, CONFUSION_FIGURE, HISTORY_FIGURE,
             TENSORBOARD, WEIGHT_SAMPLES, BACKUP, DIVERGED)


_ACCEPTED = (f"a run directory holding {BEST_MODEL} (with {CONFIG} and {CLASS_NAMES} beside it), "
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
            return cls(path, os.path.join(path, BEST_MODEL))
        if os.path.isfile(path):
            if not path.endswith(".keras"):
                raise UserError(f"{path}: received a file that is not a .keras model; accepted: {_ACCEPTED}. "
                                 "Weights-only or legacy files (.h5, .weights.h5) do not carry the architecture")
            return cls(os.path.dirname(os.path.abspath(path)), path)
        raise UserFileNotFoundError(f"{path}: does not exist; accepted: {_ACCEPTED}")

    def path(self, name):
        """The path of the run's file `name` (one of this module's constants, e.g. `METRICS`)."""
        return os.path.join(self.folder, name)

    def config(self):
        """The run's `TrainConfig` (config.json, older layouts upgraded), or None without one."""
        path = self.path(CONFIG)
        return TrainConfig.from_dict(read_json(path, dict)) if os.path.isfile(path) else None

    def metrics(self):
        """metrics.json of a finished run; FileNotFoundError (saying so) for an unfinished one."""
        path = self.path(METRICS)
        if not os.path.isfile(path):
            raise UserFileNotFoundError(f"{path}: does not exist; accepted: a finished run folder (train writes "
                                    "metrics.json last)")
        return read_json(path, dict)

    def class_names(self, num_classes=None, notes=None):
        """class_names.json; without it the CIFAR-10 names when `num_classes` is 10 or None (a line is
        added to `notes`), else FileNotFoundError naming the file to write."""
        path = self.path(CLASS_NAMES)
        if not os.path.isfile(path):
            if num_classes not in (None, len(CIFAR10_CLASSES)):
                raise UserFileNotFoundError(f"{path}: does not exist and the model has {num_classes} classes, not "
                                        f"CIFAR-10's {len(CIFAR10_CLASSES)}; write a JSON list of {num_classes} "
                                        "names, in label order, there")
            if notes is not None:
                notes.append(f"no class_names.json in {self.folder}: using the CIFAR-10 class names")
            return tuple(CIFAR10_CLASSES)
        names = read_json(path, list)
        if (num_classes is not None and len(names) != num_classes) or not all(
                isinstance(name, str) and name for name in names):
            raise UserError(f"{path}: holds {len(names)} entries {names[:12]}; accepted: "
                             f"{num_classes or 'one per class,'} non-empty strings, in label order")
        return tuple(names)

    def load_model(self, what="model"):
        """The model (custom layers registered), or a ValueError saying the file is not a readable model.

        The package's one way to load a `.keras` file it wrote (evaluate, plot, export, and train's final
        evaluation of best.keras).

        Args:
            what: what the file is, for the messages, e.g. "best checkpoint". Default "model".
        """
        # Lazy: the model module imports Keras (and TensorFlow), and this module is read at CLI start-up.
        from keras_resnet_cifar.model import load_model

        if not os.path.isfile(self.model_path):
            raise UserFileNotFoundError(f"{self.model_path}: does not exist; accepted: {_ACCEPTED}. Did the training "
                                    "run finish its first epoch?")
        try:
            return load_model(self.model_path, what, compile=False)  # checks the archive first
        except DamagedFileError:  # the archive check's message already names the path and the fix
            raise
        except Exception as error:  # Keras raises many types for a damaged or foreign file
            first = str(error).splitlines()[0] if str(error) else ""
            raise UserError(f"{self.model_path}: not a readable Keras model ({type(error).__name__}: {first}); "
                             f"accepted: {_ACCEPTED}; fix: retrain, or restore the file") from None


def is_finished(folder):
    """Whether `folder` holds a finished run: train writes its metrics.json last."""
    return os.path.isfile(os.path.join(os.fspath(folder), METRICS))


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
    config_path = os.path.join(workdir, CONFIG)
    if not os.path.exists(config_path):
        return "new"
    differences = resume_changes(type(config), read_json(config_path), config)  # fields' on_resume rules
    if differences:
        listed = "\n  ".join(differences)
        raise UserFileExistsError(
            f"workdir {workdir!r} holds a run with a different config (saved -> requested):\n  {listed}\n"
            "Resume with the saved config, pass --force to delete that run and start over, "
            "or choose another --workdir.")
    return "finished" if is_finished(workdir) else "resume"
