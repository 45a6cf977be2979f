"""The best-validation checkpoint and the per-epoch state that lets a killed run resume exactly.

RUN_DIR/backup/ holds:

    state.json            the commit point: {"epoch": epochs completed, "weights": file,
                          "best_val_accuracy", "best_epoch", "best_file", "history": rows,
                          "callbacks": {name: state}, "stopped": bool}
    epoch_XXX.weights.h5  model and optimizer state after epoch XXX (1-based)
    best_epoch_XXX.keras  a new best model, until it is published as RUN_DIR/best.keras

At the end of epoch k: save the candidate (if validation accuracy improved), save the
weights, replace state.json (atomic: the commit), publish the candidate (os.replace), delete
older files. A kill -9 anywhere leaves the committed state of epoch k - 1 or k with all its
files, and `load_state` finishes a publish that was cut short. Without a validation split
every epoch is "best", so best.keras is the last epoch.

Before a resume trains, `load_state` reads state.json and checks that every file it names (and
best.keras) can be read; only one state is kept, so an unreadable one stops the run with the
file's path and the way out (--force) rather than an h5py traceback mid-run. A diverged run
(divergence.py) is not resumed.

With an optimizer weight average (EMA), best.keras holds the averaged weights (those that
were validated), and epoch_XXX.weights.h5 the trained weights with the optimizer's state,
the average included, so a resumed run continues both.
"""
import contextlib
import math
import os
import zipfile

import keras

from keras_resnet_cifar.training.rundir import atomic_save, read_json, write_json


class RunCheckpoint(keras.callbacks.Callback):
    """Keeps RUN_DIR/best.keras (best `val_accuracy`) and commits the resume state each epoch.

    Args:
        run_dir: the run directory.
        state: the state of an earlier process (`load_state`), or None for a new run.
        history: the `HistoryCSV` callback whose rows are saved with the state.
        resumables: {name: callback with get_state()} saved with the state.
    """

    def __init__(self, run_dir, *, state=None, history=None, resumables=None):
        super().__init__()
        self.run_dir = os.fspath(run_dir)
        self.backup = os.path.join(self.run_dir, "backup")
        self.history = history
        self.resumables = dict(resumables or {})
        state = state or {}
        self.best_val_accuracy = state.get("best_val_accuracy")
        self.best_epoch = state.get("best_epoch")

    def on_epoch_end(self, epoch, logs=None):
        os.makedirs(self.backup, exist_ok=True)
        done = epoch + 1
        value = (logs or {}).get("val_accuracy")
        candidate = None
        if value is None or _improves(value, self.best_val_accuracy):
            self.best_val_accuracy = None if value is None else float(value)
            self.best_epoch = done
            candidate = f"best_epoch_{done:03d}.keras"
            with ema_weights(self.model):
                atomic_save(os.path.join(self.backup, candidate), self.model.save)
        weights = f"epoch_{done:03d}.weights.h5"
        atomic_save(os.path.join(self.backup, weights), self.model.save_weights)
        state = {
            "epoch": done, "weights": weights, "best_file": candidate,
            "best_val_accuracy": self.best_val_accuracy, "best_epoch": self.best_epoch,
            "history": list(self.history.rows) if self.history else [],
            "callbacks": {name: cb.get_state() for name, cb in self.resumables.items()},
            "stopped": bool(self.model.stop_training),
        }
        write_json(os.path.join(self.backup, "state.json"), state)
        _publish_and_clean(self.run_dir, state)


@contextlib.contextmanager
def ema_weights(model):
    """Within the block `model` holds its optimizer's weight average, if it keeps one (EMA)."""
    optimizer = model.optimizer
    if not getattr(getattr(optimizer, "inner_optimizer", optimizer), "use_ema", False):
        yield model
        return
    trained = [keras.ops.convert_to_numpy(v) for v in model.trainable_variables]
    optimizer.finalize_variable_values(model.trainable_variables)
    try:
        yield model
    finally:
        for variable, value in zip(model.trainable_variables, trained):
            variable.assign(value)


def load_state(run_dir, *, publish=True):
    """The committed state of an interrupted run in `run_dir`, or None.

    With `publish` (the process that owns `run_dir`), first finish a publish cut short.
    """
    from keras_resnet_cifar.training.divergence import check_not_diverged

    if publish:
        check_not_diverged(run_dir)
    path = os.path.join(os.fspath(run_dir), "backup", "state.json")
    if not os.path.exists(path):
        return None
    try:
        state = read_json(path)
    except (ValueError, OSError, UnicodeDecodeError) as error:
        raise ValueError(_unreadable(path, "resume state", error)) from None
    if not isinstance(state, dict) or any(key not in state for key in _STATE_KEYS):
        raise ValueError(_unreadable(path, "resume state", f"expected a JSON object with {', '.join(_STATE_KEYS)}"))
    if publish:
        _check_files(run_dir, state)
        _publish_and_clean(run_dir, state)
    return state


def check_keras_file(path, what="model"):
    """Raise ValueError (with `path` and the fix) unless `path` is a complete .keras archive.

    A .keras file is a zip holding config.json and model.weights.h5; a truncated or overwritten
    one makes `keras.saving.load_model` say "File not found", which is false.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            missing = {"config.json", "model.weights.h5"} - names
            broken = None if missing else archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as error:
        raise ValueError(_not_keras(path, what, f"not a complete .keras zip archive: {error}")) from None
    if missing or broken:
        problem = f"it lacks {', '.join(sorted(missing))}" if missing else f"member {broken} is corrupt"
        raise ValueError(_not_keras(path, what, problem))


def check_weights_file(path, what="checkpoint"):
    """Raise ValueError (with `path` and the fix) unless every array of the .h5 file `path` reads."""
    import h5py

    def read(name, item):
        if isinstance(item, h5py.Dataset):
            item[()]
    try:
        with h5py.File(path, "r") as handle:
            handle.visititems(read)
    except (OSError, RuntimeError, ValueError, KeyError) as error:
        raise ValueError(_unreadable(path, what, error)) from None


def restore(model, run_dir, state):
    """Load the model and optimizer state `state` refers to into the compiled `model`.

    Raises:
        ValueError: the checkpoint does not match the model built from the config.
    """
    path = os.path.join(os.fspath(run_dir), "backup", state["weights"])
    if not os.path.exists(path):
        raise FileNotFoundError(f"resume: {path} is missing; pass --force to start the run over")
    model.optimizer.build(model.trainable_variables)
    try:
        model.load_weights(path)
    except (OSError, RuntimeError) as error:
        raise ValueError(_unreadable(path, "checkpoint", error)) from None
    except (ValueError, KeyError) as error:
        raise ValueError(
            f"resume: checkpoint {path} does not match the model built from the run's config "
            f"({_compact(error)!r}); pass --force to start over or use another --workdir") from None


_STATE_KEYS = ("epoch", "weights", "best_val_accuracy", "best_epoch", "history")


def _check_files(run_dir, state):
    backup = os.path.join(os.fspath(run_dir), "backup")
    weights = os.path.join(backup, str(state["weights"]))
    if not os.path.exists(weights):
        raise FileNotFoundError(f"resume: {weights} is missing; pass --force to start the run over")
    check_weights_file(weights)
    candidate = state.get("best_file")
    if candidate and os.path.exists(os.path.join(backup, candidate)):
        check_keras_file(os.path.join(backup, candidate), "best checkpoint")
    elif os.path.exists(os.path.join(run_dir, "best.keras")):
        check_keras_file(os.path.join(run_dir, "best.keras"), "best checkpoint")


def _unreadable(path, what, error):
    return (f"resume: the {what} {path} cannot be read ({_compact(error)}); it is the only copy of the run's "
            "state, so the run cannot resume. Fix: pass --force to start the run over (or another --workdir)")


def _not_keras(path, what, problem):
    return (f"{path}: not a readable Keras model ({problem}); the {what} file is truncated or corrupt. "
            "Fix: restore it from a copy, or retrain it (train --force)")


def _improves(value, best):
    return math.isfinite(value) and (best is None or value > best)


def _publish_and_clean(run_dir, state):
    backup = os.path.join(os.fspath(run_dir), "backup")
    candidate = state.get("best_file")
    if candidate and os.path.exists(os.path.join(backup, candidate)):
        os.replace(os.path.join(backup, candidate), os.path.join(run_dir, "best.keras"))
    for name in os.listdir(backup):
        if name not in ("state.json", state["weights"]):
            os.remove(os.path.join(backup, name))


def _compact(error):
    return " ".join(str(error).split())[:400] or type(error).__name__
