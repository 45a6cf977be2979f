"""The best-validation checkpoint and the per-epoch state that lets a killed run resume exactly.

RUN_DIR/backup/ holds:

    state.json            the commit point: {"epoch": epochs completed, "weights": file,
                          "best_val_accuracy", "best_epoch", "best_file", "history": rows,
                          "callbacks": {name: state}, "stopped": bool}; a mid-epoch resume point
                          (SIGTERM/SIGINT, see callbacks.StopOnSignal) adds "step": batches of
                          the next epoch done, and "metrics": the running metrics' variables
    epoch_XXX.weights.h5  model and optimizer state after epoch XXX (1-based)
    epoch_XXX_step_YYYYY.weights.h5  the same after YYYYY batches of epoch XXX + 1 (a resume point)
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

import keras

from keras_resnet_cifar.files import atomic_save, check_keras_file, check_weights_file, one_line, read_json, write_json
from keras_resnet_cifar.training.divergence import check_not_diverged
from keras_resnet_cifar.training.rundir import BACKUP, BEST_MODEL
from keras_resnet_cifar.errors import UserError, UserFileNotFoundError

STATE = "state.json"  # in RUN_DIR/backup/: the commit point of the last finished epoch


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
        self.backup = os.path.join(self.run_dir, BACKUP)
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
        commit(self.run_dir, self.state(done, weights, candidate))

    def state(self, epochs, weights, best_file=None, **extra):
        """The resume state after `epochs` completed epochs with `weights` (a file in backup/), plus `extra` keys."""
        return {
            "epoch": epochs, "weights": weights, "best_file": best_file,
            "best_val_accuracy": self.best_val_accuracy, "best_epoch": self.best_epoch,
            "history": list(self.history.rows) if self.history else [],
            "callbacks": {name: cb.get_state() for name, cb in self.resumables.items()},
            "stopped": bool(self.model.stop_training), **extra,
        }


def commit(run_dir, state):
    """Replace backup/state.json by `state` (atomic: the commit), publish its best candidate, delete older files."""
    write_json(os.path.join(os.fspath(run_dir), BACKUP, STATE), state)
    _publish_and_clean(run_dir, state)


@contextlib.contextmanager
def ema_weights(model):
    """Within the block `model` holds its optimizer's weight average, if it keeps one (EMA)."""
    optimizer = model.optimizer
    if not getattr(getattr(optimizer, "inner_optimizer", optimizer), "use_ema", False):
        yield model
        return
    trained = [v.numpy() for v in model.trainable_variables]
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
    if publish:
        check_not_diverged(run_dir)
    path = os.path.join(os.fspath(run_dir), BACKUP, STATE)
    if not os.path.exists(path):
        return None
    try:
        state = read_json(path)
    except (ValueError, OSError, UnicodeDecodeError) as error:
        raise UserError(_unreadable(path, "resume state", error)) from None
    if not isinstance(state, dict) or any(key not in state for key in _STATE_KEYS):
        raise UserError(_unreadable(path, "resume state", f"expected a JSON object with {', '.join(_STATE_KEYS)}"))
    if publish:
        _check_files(run_dir, state)
        _publish_and_clean(run_dir, state)
    return state


def restore(model, run_dir, state):
    """Load the model and optimizer state `state` refers to into the compiled `model`.

    Raises:
        ValueError: the checkpoint does not match the model built from the config.
    """
    path = os.path.join(os.fspath(run_dir), BACKUP, state["weights"])
    if not os.path.exists(path):
        raise UserFileNotFoundError(f"resume: {path} is missing; pass --force to start the run over")
    model.optimizer.build(model.trainable_variables)
    try:
        model.load_weights(path)
    except (OSError, RuntimeError) as error:
        raise UserError(_unreadable(path, "checkpoint", error)) from None
    except (ValueError, KeyError) as error:
        raise UserError(
            f"resume: checkpoint {path} does not match the model built from the run's config "
            f"({one_line(error)!r}); pass --force to start over or use another --workdir") from None


_STATE_KEYS = ("epoch", "weights", "best_val_accuracy", "best_epoch", "history")


def _check_files(run_dir, state):
    backup = os.path.join(os.fspath(run_dir), BACKUP)
    weights = os.path.join(backup, str(state["weights"]))
    if not os.path.exists(weights):
        raise UserFileNotFoundError(f"resume: {weights} is missing; pass --force to start the run over")
    check_weights_file(weights, "resume: the checkpoint", _NO_RESUME)
    candidate = state.get("best_file")
    if candidate and os.path.exists(os.path.join(backup, candidate)):
        check_keras_file(os.path.join(backup, candidate), "best checkpoint")
    elif os.path.exists(os.path.join(run_dir, BEST_MODEL)):
        check_keras_file(os.path.join(run_dir, BEST_MODEL), "best checkpoint")


_NO_RESUME = ("it is the only copy of the run's state, so the run cannot resume. "
              "Fix: pass --force to start the run over (or another --workdir)")


def _unreadable(path, what, error):
    return f"resume: the {what} {path} cannot be read ({one_line(error)}); {_NO_RESUME}"


def _improves(value, best):
    return math.isfinite(value) and (best is None or value > best)


def _publish_and_clean(run_dir, state):
    backup = os.path.join(os.fspath(run_dir), BACKUP)
    candidate = state.get("best_file")
    if candidate and os.path.exists(os.path.join(backup, candidate)):
        os.replace(os.path.join(backup, candidate), os.path.join(run_dir, BEST_MODEL))
    for name in os.listdir(backup):
        if name not in (STATE, state["weights"]):
            os.remove(os.path.join(backup, name))

