"""A diverged run fails loudly: `StopOnDivergence` raises `TrainingDiverged` at the first batch
whose loss is NaN or infinite (or at an epoch end with non-finite validation loss or weights),
before any callback after it sees that epoch, so nothing of it is committed or kept as best.

A run that diverges writes RUN_DIR/diverged.json (`rundir.DIVERGED`):

    {"status": "diverged", "epoch": 1-based, "batch": 1-based or null (found at the epoch's end),
     "loss": the value as text, "last_committed_epoch": int, "message": the error text}

and no metrics.json (which marks a finished run with results); rerunning it raises the same error
at once (`check_not_diverged`) until `--force` starts it over.
"""
import math
import os

import keras
import numpy as np

from keras_resnet_cifar.errors import UserError
from keras_resnet_cifar.files import read_json, write_json
from keras_resnet_cifar.training.rundir import DIVERGED


class TrainingDiverged(UserError, RuntimeError):
    """The loss became NaN or infinite: the run's settings (learning rate, precision) must change.

    A `UserError`, so the command line reports it in one line with exit code 2. Attributes: epoch (1-based), batch
    (1-based, or None when found at the end of an epoch), loss (float or None).
    """

    def __init__(self, message, *, epoch, batch=None, loss=None):
        super().__init__(message)
        self.epoch, self.batch, self.loss = epoch, batch, loss


def fix_hint(lr, mixed_precision=None):
    """What to change, e.g. "lower --lr (now 0.1), e.g. to 0.01; add --warmup-epochs 2"."""
    hints = [f"lower --lr (now {lr:g}), e.g. to {lr / 10:g}", "add --warmup-epochs 2"]
    if mixed_precision not in (None, "off", "float32"):
        hints.append(f"train without mixed precision (--mixed-precision off; now {mixed_precision})")
    hints.append("check the data for broken images or labels")
    return "; ".join(hints)


class StopOnDivergence(keras.callbacks.Callback):
    """Raises `TrainingDiverged` naming the epoch and batch where the loss stopped being finite.

    Replaces `keras.callbacks.TerminateOnNaN`, which only stops training (the epoch still ends,
    so its NaN weights would be checkpointed) and does not say where. Put it before every
    callback that saves or logs at an epoch's end.

    Args:
        hint: what the user should change (see `fix_hint`); appended to the message.
        steps: batches per epoch, for the message. Default None.
    """

    def __init__(self, hint="", steps=None):
        super().__init__()
        self.hint, self.steps = hint, steps
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch + 1

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            of = f" of {self.steps}" if self.steps else ""
            self._raise(f"the training loss became {float(loss)} at epoch {self._epoch}, batch {batch + 1}{of}",
                        batch=batch + 1, loss=float(loss))

    def on_epoch_end(self, epoch, logs=None):
        for name in ("loss", "val_loss"):
            value = (logs or {}).get(name)
            if value is not None and not math.isfinite(float(value)):
                self._raise(f"{name} became {float(value)} at the end of epoch {epoch + 1}", loss=float(value))
        bad = [path for path, _, _ in non_finite_weights(self.model)]
        if bad:
            self._raise(f"the weights hold NaN or infinite values after epoch {epoch + 1} ({', '.join(bad[:3])}"
                        f"{', ...' if len(bad) > 3 else ''})")

    def _raise(self, what, batch=None, loss=None):
        message = f"training diverged: {what}; nothing from that epoch was kept"
        if self.hint:
            message += f". Fix: {self.hint}"
        raise TrainingDiverged(message, epoch=self._epoch, batch=batch, loss=loss)


def non_finite_weights(model):
    """(variable path, NaN/inf values, values) for each of `model`'s weights that holds a NaN or an infinity.

    The one scan for them: a diverged epoch (`StopOnDivergence`) and a model refused for export use it.

    Example:
        >>> non_finite_weights(model)
        [("resnet/stem_conv/kernel", 3, 1728)]
    """
    found = []
    for variable in model.weights:
        values = variable.numpy()
        count = values.size - int(np.count_nonzero(np.isfinite(values)))
        if count:
            found.append((variable.path, count, int(values.size)))
    return found


def record_divergence(run_dir, error, last_committed_epoch):
    """Write RUN_DIR/diverged.json for `error` (a `TrainingDiverged`)."""
    write_json(os.path.join(os.fspath(run_dir), DIVERGED), {
        "status": "diverged", "epoch": error.epoch, "batch": error.batch,
        "loss": None if error.loss is None else str(error.loss),
        "last_committed_epoch": last_committed_epoch, "message": str(error)})


def check_not_diverged(run_dir):
    """Raise `TrainingDiverged` again if the run in `run_dir` diverged (its diverged.json)."""
    path = os.path.join(os.fspath(run_dir), DIVERGED)
    if not os.path.exists(path):
        return
    record = read_json(path)
    raise TrainingDiverged(
        f"{run_dir}: this run diverged earlier ({path}), and the same settings would diverge again: "
        f"{record.get('message', '')}. Rerun with --force and the changed settings "
        "(or another --workdir); the run is not resumed", epoch=record.get("epoch"), batch=record.get("batch"))
