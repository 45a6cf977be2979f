"""The callbacks of a training run, in the order they must run (`make_callbacks`).

Per-epoch weight samples (the study's Figure 12) are written to
RUN_DIR/weights/epoch_XXX.npz (XXX the 1-based epoch), one file per epoch, with keys:

    groups          str array: "stem", "stage1", ..., "stageN", "head" (network order)
    epoch           int, 1-based
    <group>         float32 (n,): a fixed random subsample (n <= `samples`) of all conv/dense
                    kernel values of the group; the same positions every epoch, so the
                    files of one run are comparable
    <group>_mean, <group>_std   float32: over all the group's kernel values
    <group>_count   int: how many kernel values the group has

A group holds the kernels of the layers named stem_*, stage{i}_* and logits respectively.
"""
import csv
import importlib.util
import io
import os
import time

import keras
import numpy as np

from keras_resnet_cifar.errors import Interrupted
from keras_resnet_cifar.files import atomic_save, write_text
from keras_resnet_cifar.training.checkpoint import RunCheckpoint, commit
from keras_resnet_cifar.training.divergence import StopOnDivergence, fix_hint
from keras_resnet_cifar.training.rundir import HISTORY, TENSORBOARD, WEIGHT_SAMPLES
from keras_resnet_cifar.training.schedules import lr_callbacks

_FIRST_COLUMNS = ("epoch", "loss", "accuracy", "mixup_accuracy", "val_loss", "val_accuracy", "lr", "seconds",
                  "val_seconds")


def make_callbacks(config, run_dir, *, state=None, extra=(), steps=None, precision=None, stop=None):
    """All callbacks of a `train` run, ordered so that every later one sees the final logs.

    Args:
        config: the `TrainConfig`.
        run_dir: the run directory.
        state: resume state from `checkpoint.load_state`, or None.
        extra: more callbacks; they run after the logs are complete and before the
            epoch is written to history.csv and committed.
        steps: batches per epoch (named when the loss diverges). Default None.
        precision: the dtype policy in use (a diverged run's hint names it). Default None.
        stop: the `signals.StopRequest` that ends the run with a mid-epoch resume point, or None.

    Returns:
        list of `keras.callbacks.Callback`.
    """
    optim = config.optim
    found, resumables = training_callbacks(config, state=state, steps=steps, precision=precision)
    history = HistoryCSV(os.path.join(run_dir, HISTORY), rows=(state or {}).get("history", ()))
    found += [*extra, history]
    if config.histogram_freq and importlib.util.find_spec("tensorflow") is None:
        print(f"note: no TensorBoard logs ({run_dir}/tensorboard): Keras writes them with TensorFlow, which is not "
              "installed; pass --histogram-freq 0 to silence this note")
    elif config.histogram_freq:
        found.append(keras.callbacks.TensorBoard(os.path.join(run_dir, TENSORBOARD),
                                                 histogram_freq=config.histogram_freq, write_graph=False))
    found.append(WeightSamples(os.path.join(run_dir, WEIGHT_SAMPLES), seed=config.seed))
    checkpoint = RunCheckpoint(run_dir, state=state, history=history, resumables=resumables)
    # Last: a stop's resume point follows every update of the batch, and an epoch's commit.
    found += [checkpoint, StopOnSignal(stop, checkpoint, steps, state=state, sync_every=optim.lookahead_every or 1)]
    return found


def training_callbacks(config, *, state=None, steps=None, precision=None):
    """The callbacks that shape what a run computes, in their order: the EMA swap and lookahead, the
    learning-rate schedule, the divergence guard, mixup's metric name, early stopping. `make_callbacks`
    adds the run directory's (history, checkpoint...) after them; a tuner trial uses them as they are.

    Args:
        config: the `TrainConfig`.
        state: resume state from `checkpoint.load_state` (plateau and early-stopping state, the first
            epoch's batches done), or None.
        steps: batches per epoch (required with lookahead; named when the loss diverges). Default None.
        precision: the dtype policy in use (a diverged run's hint names it). Default None.

    Returns:
        (list of `keras.callbacks.Callback`, {name: callback whose state a resume restores}).

    Example:
        >>> callbacks, _ = training_callbacks(config, steps=351)
    """
    saved = (state or {}).get("callbacks", {})
    optim = config.optim
    schedule = lr_callbacks(optim)
    if optim.schedule == "plateau":
        schedule[0].initial_state = saved.get("plateau")
    # Before anything that logs or saves an epoch: a diverged epoch is never committed.
    guard = StopOnDivergence(fix_hint(optim.lr, precision), steps=steps)
    found = [*schedule, guard]
    if optim.lookahead_every:  # first: the epoch's logs, checkpoint and validation see the averaged weights
        found.insert(0, Lookahead(optim.lookahead_every, optim.epochs * steps, steps,
                                  first_step=(state or {}).get("step", 0)))
    if optim.ema_momentum:  # validate on the weight average (RunCheckpoint saves it as best)
        found.insert(0, keras.callbacks.SwapEMAWeights())
    if config.data.augment.mixup_alpha > 0:
        found.append(MixupAccuracyName())
    resumables = {"plateau": schedule[0]} if optim.schedule == "plateau" else {}
    if optim.early_stopping_patience is not None:
        stopper = EarlyStoppingOnVal(optim.early_stopping_patience, initial_state=saved.get("early_stopping"))
        found.append(stopper)
        resumables["early_stopping"] = stopper
    return found, resumables


def sync_jax_state(model):
    """On JAX, copy the training state Keras keeps outside the variables between steps back into them, so a
    callback reads (and may assign) the current values and the next step reads them again; elsewhere nothing."""
    sync = getattr(model, "jax_state_sync", None)
    if sync:
        sync()


class StopOnSignal(keras.callbacks.Callback):
    """Ends a run at the first batch end after SIGTERM/SIGINT (see `signals`) with a resume point saved
    mid-epoch, and continues from one when the run resumes.

    The resume point: backup/epoch_EEE_step_SSSSS.weights.h5 (weights and optimizer state, as at an
    epoch's end) and state.json with "step" (SSSSS batches of epoch EEE + 1 done) and "metrics" (the
    running loss and metrics' variables: sums and counts). The resumed run trains that epoch's
    remaining batches (the same batches: the stream is keyed on epoch and step) and adds those sums
    and counts to its own, so it logs and ends as an uninterrupted run would. With lookahead the stop
    waits for its next step (at most `sync_every` batches), where the weights equal their average.
    A stop at an epoch's last batch or in its validation lets the epoch commit as usual and ends
    after it. The granularity is one batch (one `steps_per_execution` group), plus the time to save;
    exact when `steps_per_execution` divides the steps per epoch (else Keras runs whole groups).

    Args:
        request: the `signals.StopRequest` polled, or None (never stops).
        checkpoint: the run's `RunCheckpoint`: its best-so-far, history and schedule states are saved.
        steps: batches per epoch.
        state: the resume state this fit starts from (`checkpoint.load_state`), or None.
        sync_every: stop only after a global step that is a multiple of this (lookahead's period). Default 1.

    Raises:
        errors.Interrupted: after the resume point (or the epoch) is committed.
    """

    def __init__(self, request, checkpoint, steps, *, state=None, sync_every=1):
        super().__init__()
        self.request, self.checkpoint, self.steps, self.sync_every = request, checkpoint, int(steps), int(sync_every)
        self.first_step = int((state or {}).get("step", 0))
        self.metrics = (state or {}).get("metrics") if self.first_step else None
        self._offset, self._epoch = self.first_step, 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        self._offset = 0
        if self.request:  # RunCheckpoint, before this, committed the epoch
            raise Interrupted(self._message(epoch + 1, 0), self.request.signum)

    def on_train_batch_end(self, batch, logs=None):
        if self.metrics is not None:
            sync_jax_state(self.model)
            # Keras builds the compiled metrics in the first step: add the saved sums and counts now.
            for variable, value in zip(self.model.metrics_variables, self.metrics):
                variable.assign(variable.numpy() + np.asarray(value))
            self.metrics = None
        if not self.request:
            return
        done = self._offset + batch + 1
        if done >= self.steps or (self._epoch * self.steps + done) % self.sync_every:
            return  # the epoch's end commits it; with lookahead, wait for its next step
        sync_jax_state(self.model)
        os.makedirs(self.checkpoint.backup, exist_ok=True)
        weights = f"epoch_{self._epoch:03d}_step_{done:05d}.weights.h5"
        atomic_save(os.path.join(self.checkpoint.backup, weights), self.model.save_weights)
        metrics = [np.asarray(v.numpy()).tolist() for v in self.model.metrics_variables]
        commit(self.checkpoint.run_dir, self.checkpoint.state(self._epoch, weights, step=done, metrics=metrics))
        raise Interrupted(self._message(self._epoch, done), self.request.signum)

    def _message(self, epochs, done):
        where = f"{done} of {self.steps} batches of epoch {epochs + 1}" if done else f"epoch {epochs}"
        return (f"stopped by {self.request.name} after {where}; the resume point is saved in "
                f"{self.checkpoint.backup}. Run train again with the same config and workdir (the same command) "
                "to resume: it continues with the same batches to the same result")


class StopTrialOnSignal(keras.callbacks.Callback):
    """Ends a search's trial at the first batch end after SIGTERM/SIGINT (see `signals`), saving nothing: Keras
    Tuner keeps the trial unfinished, so rerunning the search runs it again (finished trials are kept).

    Args:
        request: the `signals.StopRequest` polled.

    Raises:
        errors.Interrupted: at that batch end.
    """

    def __init__(self, request):
        super().__init__()
        self.request = request

    def on_train_batch_end(self, batch, logs=None):
        if self.request:
            raise Interrupted(f"stopped by {self.request.name} during a trial; rerun the same search to resume: "
                              "its finished trials are kept and the interrupted one runs again", self.request.signum)


class Lookahead(keras.callbacks.Callback):
    """airbench's lookahead: every `every` steps, and at each epoch's last step, average = a * average +
    (1 - a) * weights and then weights = average, for every float weight (BN statistics included), with
    a = 0.95**every * (step / total_steps)**3 (so ~0 early: the average follows the weights).

    The weights equal the average after each update, so at every epoch's end (where the per-epoch
    checkpoint is taken) the average is the weights: a resumed run starts it from them, exactly.

    Args:
        every: steps between updates.
        total_steps: steps of the whole run.
        steps_per_epoch: batches per epoch.
        first_step: batches of the first epoch done before this fit (a run resumed mid-epoch, at a
            lookahead step: see `StopOnSignal`). Default 0.
    """

    def __init__(self, every, total_steps, steps_per_epoch, first_step=0):
        super().__init__()
        self.every, self.total, self.steps = int(every), int(total_steps), int(steps_per_epoch)
        self.first_step = int(first_step)
        self._average = None

    def on_train_begin(self, logs=None):
        self._weights = [w for w in self.model.weights if "float" in str(w.dtype)]
        self._average = [np.array(w.numpy()) for w in self._weights]
        self._epoch, self._offset = 0, self.first_step

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        self._offset = 0

    def on_train_batch_end(self, batch, logs=None):
        # The optimizer's step count, without reading it each step.
        step = self._epoch * self.steps + self._offset + batch + 1
        if step % self.every and step % self.steps:
            return
        sync_jax_state(self.model)  # so the next step sees the average
        alpha = lookahead_alpha(step, self.total, self.every)
        for weight, average in zip(self._weights, self._average):
            average *= alpha
            average += (1 - alpha) * weight.numpy()
            weight.assign(average)


def lookahead_alpha(step, total_steps, every):
    """airbench's lookahead coefficient at `step` of `total_steps`: 0.95**every * (step / total)**3."""
    return 0.95 ** every * (min(step, total_steps) / total_steps) ** 3


class HistoryCSV(keras.callbacks.Callback):
    """Rewrites `path` atomically each epoch with one row per epoch (1-based), its wall time
    `seconds` (training and validation) and `val_seconds` (the validation part).

    Unlike `keras.callbacks.CSVLogger` it starts from the rows of the resumed state, so a
    resumed run's history has every epoch exactly once.

    Args:
        path: the CSV file.
        rows: rows of earlier epochs (dicts), or ().
    """

    def __init__(self, path, rows=()):
        super().__init__()
        self.path = os.fspath(path)
        self.rows = [dict(row) for row in rows]
        self._start = self._val_start = None
        self._val_seconds = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._start, self._val_start, self._val_seconds = time.perf_counter(), None, 0.0

    def on_test_begin(self, logs=None):
        self._val_start = time.perf_counter()

    def on_test_end(self, logs=None):
        if self._val_start is not None:
            self._val_seconds += time.perf_counter() - self._val_start

    def on_epoch_end(self, epoch, logs=None):
        row = {"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items()}}
        row["seconds"] = round(time.perf_counter() - self._start, 3)
        row["val_seconds"] = round(self._val_seconds, 3)
        self.rows = [r for r in self.rows if r["epoch"] < epoch + 1] + [row]
        keys = {key for r in self.rows for key in r}
        columns = [c for c in _FIRST_COLUMNS if c in keys] + sorted(keys - set(_FIRST_COLUMNS))
        text = io.StringIO()
        writer = csv.DictWriter(text, columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        write_text(self.path, text.getvalue())


class MixupAccuracyName(keras.callbacks.Callback):
    """Under mixup, reports training accuracy as `mixup_accuracy`: it is agreement with each
    mixed pair's dominant label, not an accuracy on real labels. Validation keeps `val_accuracy`."""

    def on_train_batch_end(self, batch, logs=None):
        self._rename(logs)

    def on_epoch_end(self, epoch, logs=None):
        self._rename(logs)

    @staticmethod
    def _rename(logs):
        if logs and "accuracy" in logs:
            logs["mixup_accuracy"] = logs.pop("accuracy")


class EarlyStoppingOnVal(keras.callbacks.EarlyStopping):
    """`EarlyStopping` on validation accuracy whose counters survive a resume.

    Args:
        patience: epochs without improvement before stopping.
        initial_state: a `get_state()` dict from an earlier process, or None.
    """

    def __init__(self, patience, initial_state=None):
        super().__init__(monitor="val_accuracy", mode="max", patience=patience)
        self.initial_state = initial_state

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        if self.initial_state:
            self.wait, self.best = self.initial_state["wait"], self.initial_state["best"]
            self.best_epoch = self.initial_state["best_epoch"]

    def get_state(self):
        best = None if self.best is None else float(self.best)
        return {"wait": int(self.wait), "best": best, "best_epoch": int(self.best_epoch)}


class WeightSamples(keras.callbacks.Callback):
    """Saves each epoch's per-stage kernel samples to DIR/epoch_XXX.npz (format: module doc).

    Args:
        folder: where the .npz files go.
        samples: values kept per group. Default 2048.
        seed: picks the subsample positions (fixed for the run).
    """

    def __init__(self, folder, samples=2048, seed=0):
        super().__init__()
        self.folder, self.samples, self.seed = os.fspath(folder), samples, seed
        self._positions = {}

    def on_epoch_end(self, epoch, logs=None):
        os.makedirs(self.folder, exist_ok=True)
        groups = kernel_groups(self.model)
        arrays = {"groups": np.array(list(groups)), "epoch": np.int64(epoch + 1)}
        for index, (group, values) in enumerate(groups.items()):
            if group not in self._positions:
                rng = np.random.default_rng([self.seed, index])
                count = min(self.samples, values.size)
                self._positions[group] = np.sort(rng.choice(values.size, count, replace=False))
            arrays[group] = values[self._positions[group]]
            arrays[f"{group}_mean"], arrays[f"{group}_std"] = np.float32(values.mean()), np.float32(values.std())
            arrays[f"{group}_count"] = np.int64(values.size)

        def save(temp):
            with open(temp, "wb") as handle:
                np.savez(handle, **arrays)
        atomic_save(os.path.join(self.folder, f"epoch_{epoch + 1:03d}.npz"), save)


def kernel_groups(model):
    """{"stem": values, "stage1": values, ..., "head": values}: flattened float32 kernels."""
    groups = {}
    for layer in model.layers:
        kernel = getattr(layer, "kernel", None)
        if kernel is None:
            continue
        name = layer.name
        group = "stem" if name.startswith("stem") else "head" if name == "logits" else name.split("_")[0]
        values = np.asarray(kernel.numpy(), dtype=np.float32).ravel()
        groups[group] = np.concatenate([groups[group], values]) if group in groups else values
    return groups
