"""`train(config, workdir)`: the main job. Trains, keeps the best-validation checkpoint, resumes
after a kill, then evaluates that checkpoint on the test split (files: see `rundir`)."""
import contextlib
import os
import shutil
import statistics
import time

import keras
import numpy as np

from keras_resnet_cifar.config import RECORDED, TrainConfig
from keras_resnet_cifar.data.loader import normalize_images
from keras_resnet_cifar.data.sources import load_data
from keras_resnet_cifar.data.splits import steps_per_epoch
from keras_resnet_cifar.errors import UserError
from keras_resnet_cifar.files import atomic_save, check_folder, write_json
from keras_resnet_cifar.locks import hold_folder
from keras_resnet_cifar.model import build_from_spec
from keras_resnet_cifar.signals import stop_requests
from keras_resnet_cifar.training import rundir
from keras_resnet_cifar.training.callbacks import make_callbacks
from keras_resnet_cifar.training.checkpoint import load_state, restore
from keras_resnet_cifar.training.data_checks import check_data
from keras_resnet_cifar.training.divergence import TrainingDiverged, record_divergence
from keras_resnet_cifar.training.evaluate import evaluate_model, save_figures
from keras_resnet_cifar.training.optimizers import coupled_l2, make_optimizer
from keras_resnet_cifar.training.runtime import (backend, check_memory, check_strategy, cluster_task,
                                                 describe_device, dtype_policy, jit_compile_arg, make_strategy,
                                                 peer_lost, precision_policy, run_dir_for, seeded, shard_for,
                                                 versions)
from keras_resnet_cifar.training.schedules import step_schedule
from keras_resnet_cifar.whitening import fit_whitening, whitening_sample


def compile_model(model, config, steps_per_epoch=None):
    """Compile `model` with `config`'s optimizer, loss (cross-entropy from logits, label
    smoothing) and accuracy metric; reusable by the tuner.

    Call inside the distribution strategy's scope, if any. Coupled weight decay is not set
    here: `build_model` puts it in the model.

    Args:
        model: a `keras.Model` that outputs logits.
        config: a `TrainConfig`.
        steps_per_epoch: int or None; caps `steps_per_execution`; required by a per-step
            schedule ("onecycle").

    Returns:
        The same model, compiled.

    Example:
        >>> compile_model(build_model(config), config, steps_per_epoch=351)
    """
    steps = config.steps_per_execution
    if steps_per_epoch:
        steps = min(steps, steps_per_epoch)
    model.compile(
        optimizer=make_optimizer(config.optim, learning_rate=step_schedule(config.optim, steps_per_epoch),
                                 steps_per_epoch=steps_per_epoch),
        loss=keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=config.optim.label_smoothing),
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
        jit_compile=jit_compile_arg(config.jit_compile),
        steps_per_execution=steps,
    )
    return model


def build_model(config, policy="float32"):
    """The network of `config.model`, its L2 raised by the coupled weight decay of `config.optim`
    (l2 = wd / 2), its layers under the dtype policy `policy` (see `runtime.precision_policy`)."""

    with dtype_policy(policy):
        return build_from_spec(config.model.replace(l2=config.model.l2 + coupled_l2(config.optim)))


def fit_stem(model, config, data):
    """Set `model`'s whitening stem, if it has one, from a seeded sample of `data`'s training images
    (normalized as `config.data` says), before the first epoch; the tuner's trials do the same."""
    sample = whitening_sample(len(data.train.labels), config.seed)
    return fit_whitening(model, normalize_images(data.train.images[sample], config.data))


def train(config, workdir, *, data=None, force=False, callbacks=()):
    """Train `config` in `workdir`, resuming an interrupted run of the same config.

    Args:
        config: a `TrainConfig`.
        workdir: the run directory; created if missing. A run with a different config there
            is refused (the differences listed) unless `force`.
        data: a `CifarData` (e.g. `data.from_arrays(...)`); default
            `load_data` with `config.data` and `config.seed`.
        force: delete an earlier run's files in `workdir` first.
        callbacks: extra Keras callbacks.

    The process holds `workdir` (its .lock, see `locks`) until it returns: a second `train` there is
    refused at once (`errors.FolderBusyError`, naming the holder's pid). SIGTERM or SIGINT (from the
    main thread) stops at the next batch end with a mid-epoch resume point saved and raises
    `errors.Interrupted`; calling `train` again continues with the same batches to the same result
    as an uninterrupted run (see `callbacks.StopOnSignal`); a second signal ends the process at once.

    Returns:
        dict, the contents of metrics.json. A finished run (metrics.json present) is not
        trained again: its metrics are returned. On a multi-worker cluster only the chief
        writes the run and evaluates; other workers return None.

    Example:
        >>> config = TrainConfig(model=ResNetSpec.from_preset("tiny"), optim=OptimConfig(epochs=2))
        >>> train(config, "runs/tiny", data=from_arrays(x, y, x_test, y_test))["test_accuracy"]
    """
    config = TrainConfig.coerce(config)  # a dict is checked into a TrainConfig; a TrainConfig checked itself
    check_folder(workdir, "--workdir", "the run's files")  # before the lock creates it
    check_strategy(config.strategy)  # before anything is written
    task = cluster_task(config.strategy)
    with hold_folder(run_dir_for(workdir, task), "train"), stop_requests(" and saving a resume point") as stop:
        return _train(config, workdir, data, force, callbacks, stop, task)


def _train(config, workdir, data, force, callbacks, stop, task):

    run_dir = run_dir_for(workdir, task)
    chief = run_dir == os.fspath(workdir)
    # Only the chief changes the run directory; another worker reads its state there (resuming needs
    # storage all workers share) and, with --force, clears its own copies and starts over as the chief does.
    status = rundir.prepare(workdir, config, force=force) if chief or not force else rundir.prepare(
        run_dir, config, force=True)
    if status == "finished":
        if config.verbose:
            print(f"{workdir}: finished run (metrics.json present); pass --force to train again")
        return rundir.Run.open(workdir).metrics()
    strategy = make_strategy(config.strategy)  # before other TF work, as multi-worker requires
    os.makedirs(run_dir, exist_ok=True)
    with seeded(config.seed, config.deterministic):
        if data is None:
            data = load_data(config.data, seed=config.seed, verbose=config.verbose > 0)
        check_data(config, data, replicas=strategy.num_replicas_in_sync)
        state = load_state(workdir, publish=chief) if status == "resume" else None
        recorded = {"backend": backend(), "device": describe_device(), **({"task": task.name} if task else {})}
        write_json(os.path.join(run_dir, rundir.CONFIG), {**config.to_dict(), RECORDED: recorded})
        write_json(os.path.join(run_dir, rundir.CLASS_NAMES), list(data.class_names))
        mixed = precision_policy(config.mixed_precision)
        model = _fit(config, data, run_dir, strategy, mixed, state, callbacks, state_dir=workdir, stop=stop)
        return _finish(config, data, run_dir, model, mixed, strategy, chief)


def make_datasets(config, data, first_epoch=0, first_step=0):
    """The training stream from epoch `first_epoch` on (its first `first_step` batches skipped: a run
    resumed mid-epoch), the validation pass (None without a validation split) and the steps per
    epoch, as `config` asks; the tuner feeds trials the same.

    Example:
        >>> train_ds, val_ds, steps = make_datasets(config, data)
    """
    if backend() == "tensorflow":  # lazy: tf.data needs TensorFlow, which the JAX path does not have
        from keras_resnet_cifar.data.pipeline import make_dataset as make
    else:  # the same recipe from the NumPy loader, for the backends without TensorFlow
        from keras_resnet_cifar.data.loader import make_loader as make
    common = dict(num_classes=data.num_classes, batch_size=config.optim.batch_size, data=config.data)
    train_ds = make(data.train, training=True, seed=config.seed, first_epoch=first_epoch, first_step=first_step,
                    **common)
    val_ds = make(data.val, training=False, **common) if len(data.val.labels) else None
    return train_ds, val_ds, steps_per_epoch(data.train, config.optim.batch_size)


def _fit(config, data, run_dir, strategy, mixed, state, extra, state_dir, stop=None):

    optim = config.optim
    steps = steps_per_epoch(data.train, optim.batch_size)
    check_memory(config, mixed)
    with strategy.scope():
        model = build_model(config, mixed)
        compile_model(model, config, steps)
        if state:
            restore(model, state_dir, state)
        else:  # a whitening stem is set once from the training images; a resumed run restores it
            fit_stem(model, config, data)
        if backend() != "tensorflow":
            _build_compiled(model, config, data)
    if state and config.verbose:
        where = f" and {state['step']} of {steps} batches of the next" if state.get("step") else ""
        print(f"{run_dir}: resuming after epoch {state['epoch']} of {optim.epochs}{where}")
    while state is None or (state["epoch"] < optim.epochs and not state["stopped"]):
        first, done = (state["epoch"], state.get("step", 0)) if state else (0, 0)
        # A mid-epoch resume point: one fit trains that epoch's remaining batches, then the rest as usual.
        train_ds, val_ds, _ = make_datasets(config, data, first, first_step=done)
        train_ds = shard_for(strategy, train_ds)
        val_ds = shard_for(strategy, val_ds) if val_ds is not None else None
        callbacks = make_callbacks(config, run_dir, state=state, extra=extra, steps=steps, precision=mixed, stop=stop)
        # On JAX the distribution must hold while fit takes the batches (tf.distribute's model holds its strategy).
        fitting = strategy.scope() if backend() == "jax" else contextlib.nullcontext()
        try:
            with fitting:
                model.fit(train_ds, epochs=first + 1 if done else optim.epochs, initial_epoch=first,
                          steps_per_epoch=steps - done, validation_data=val_ds, shuffle=False, callbacks=callbacks,
                          verbose=config.verbose)
        except TrainingDiverged as error:
            committed = load_state(run_dir, publish=False)
            record_divergence(run_dir, error, committed["epoch"] if committed else 0)
            raise
        except Exception as error:
            reason = peer_lost(strategy, error)
            if reason is None:
                raise
            committed = load_state(state_dir, publish=False)
            raise UserError(f"{run_dir}: training stopped: another worker of the cluster is gone "
                            f"({reason}); the chief's last committed epoch is "
                            f"{committed['epoch'] if committed else 0} of {optim.epochs}. Fix: start the same "
                            "command on every worker again; they resume from there") from error
        if not done:
            break
        state = load_state(run_dir, publish=False)  # committed at the end of that epoch
    return model


def _build_compiled(model, config, data):
    """Build the compiled loss and metrics on two training images, so that no `fit` has to.

    Keras's first `fit` of a model otherwise takes a batch from the stream to build them, and the
    NumPy loader's worker queue does not rewind after it: every batch of that fit would come later
    than its (epoch, step) key says, unlike in a later fit (the rest of an epoch resumed mid-way).
    """
    x = normalize_images(data.train.images[:2], config.data)
    y = keras.ops.one_hot(np.asarray(data.train.labels[:2]), data.num_classes)
    y_pred = model(x, training=False)
    model.compute_loss(x=x, y=y, y_pred=y_pred, training=False)
    model.compute_metrics(x, y, y_pred)
    model.reset_metrics()


def _finish(config, data, run_dir, model, mixed, strategy, chief=True):

    state = load_state(run_dir)
    if state is None:
        raise RuntimeError(f"{run_dir}: training ended without a committed epoch")
    backup = os.path.join(run_dir, rundir.BACKUP)
    atomic_save(os.path.join(run_dir, rundir.LAST_WEIGHTS),
                lambda temp: shutil.copyfile(os.path.join(backup, state["weights"]), temp))
    if not chief:  # a worker's copy of the weights (equal to the chief's); the chief evaluates
        shutil.rmtree(backup, ignore_errors=True)
        return None
    best = rundir.Run.open(run_dir).load_model("best checkpoint")
    result = evaluate_model(best, data.test, data.class_names, batch_size=max(config.optim.batch_size, 256),
                            data_config=config.data)
    history = state["history"]
    # The first epoch includes graph tracing: leave it out of the typical epoch when there are others.
    timed = history[1:] or history
    seconds = statistics.median(row["seconds"] for row in timed)
    train_seconds = statistics.median(row["seconds"] - row["val_seconds"] for row in timed)
    images = steps_per_epoch(data.train, config.optim.batch_size) * config.optim.batch_size
    nan = any(not np.isfinite(row.get("loss", 0.0)) for row in history)
    metrics = {
        "status": "finished", "best_val_accuracy": state["best_val_accuracy"], "best_epoch": state["best_epoch"],
        **result,
        "trainable_params": int(sum(np.prod(v.shape) for v in model.trainable_weights)),
        "epochs": state["epoch"], "epochs_planned": config.optim.epochs,
        "stopped_early": bool(state["stopped"]) and state["epoch"] < config.optim.epochs and not nan,
        "terminated_on_nan": nan,
        "seconds_per_epoch": round(seconds, 3),
        "train_images_per_second": round(images / train_seconds, 1) if train_seconds > 0 else None,
        "train_seconds": round(sum(row["seconds"] for row in history), 3),  # all epochs, validation included
        "backend": backend(), "device": describe_device(), "mixed_precision": mixed, "strategy": type(strategy).__name__,
        "replicas": strategy.num_replicas_in_sync, "versions": versions(),
        "data_source": data.source, "num_train": int(len(data.train.labels)),
        "num_val": int(len(data.val.labels)), "seed": config.seed, "deterministic": config.deterministic,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    save_figures(run_dir, result, data.class_names, os.path.join(run_dir, rundir.HISTORY))
    write_json(os.path.join(run_dir, rundir.METRICS), metrics)
    shutil.rmtree(backup, ignore_errors=True)
    if config.verbose:
        best_val = "n/a" if metrics["best_val_accuracy"] is None else f"{metrics['best_val_accuracy']:.4f}"
        print(f"{run_dir}: best val accuracy {best_val} (epoch {metrics['best_epoch']}), "
              f"test accuracy {metrics['test_accuracy']:.4f}; wrote metrics.json")
    return metrics
