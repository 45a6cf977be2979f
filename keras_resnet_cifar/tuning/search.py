"""`run_search`: a resumable, optionally distributed Keras Tuner search under the budget.

Results live in `directory/project/` in Keras Tuner's own format; running the same search
again continues it (finished trials are never re-run, an interrupted one is), `overwrite`
starts over, and a changed space or setting is refused with the differences listed.
Distributed: see `distributed.py`; the chief only serves the oracle (no data, no training),
each worker trains the trials it is given.
"""
import contextlib
import glob
import os
import time

import keras
import keras_tuner

from keras_resnet_cifar.data import load_data
from keras_resnet_cifar.fields import config_diff, resume_changes
from keras_resnet_cifar.files import check_folder, read_json, write_json
from keras_resnet_cifar.locks import hold_folder
from keras_resnet_cifar.signals import stop_requests
from keras_resnet_cifar.training.callbacks import StopTrialOnSignal
from keras_resnet_cifar.training.data_checks import check_data
from keras_resnet_cifar.training.divergence import TrainingDiverged
from keras_resnet_cifar.tuning import compat, dimensions, leaderboard
from keras_resnet_cifar.tuning import finalists as finalist_stage
from keras_resnet_cifar.tuning.distributed import role, serve_oracle
from keras_resnet_cifar.tuning.hypermodel import ResNetHyperModel
from keras_resnet_cifar.tuning.oracle import ORACLES
from keras_resnet_cifar.tuning.settings import (DEFAULT_DIRECTORY, DEFAULT_FACTOR, DEFAULT_MAX_TRIALS, DEFAULT_PROJECT,
                                                OTHER_EPOCHS, TUNERS, check_finalists)
from keras_resnet_cifar.errors import Interrupted, UserError, UserFileExistsError

DIVERGED = leaderboard.DIVERGED  # metric set to 1.0 on a trial whose loss became NaN/inf
WORST_VAL_ACCURACY = 0.0  # the objective such a trial reports


def run_search(config, space, *, tuner="hyperband", max_trials=None, epochs=OTHER_EPOCHS, train_subset=None,
               directory=DEFAULT_DIRECTORY, project=DEFAULT_PROJECT, overwrite=False, data=None, factor=DEFAULT_FACTOR,
               trial=None, max_minutes=None, finalists=0, finalist_data=None):
    """Search `space` under its budget; returns a summary dict and writes the leaderboard.

    Args:
        config: TrainConfig of everything not searched, for full training (best.json keeps it).
        space: a SearchSpace.
        tuner: "hyperband" (multi-fidelity over epochs), "bayesian" or "random". Default hyperband.
        max_trials: trials at most. Default None: 10, or for hyperband one full Hyperband iteration.
        epochs: epochs per trial (hyperband: the most any trial gets). Default 3.
        train_subset: train each trial on this many images (stratified); None: all.
        directory, project: results go to directory/project. Defaults "tuner", "resnet_cifar".
        overwrite: delete an earlier search in that folder first. Default False (resume).
        data: a CifarData; default `load_data` with `config.data` and `train_subset`.
        factor: Hyperband's reduction factor. Default 3.
        trial: other changes to `config` for the trials only ({section: {field: value}}, e.g. a smaller
            batch or validation split, `SearchSettings.trial`); the winner's full training keeps `config`.
        max_minutes: no trial starts after this many minutes of search, counted over resumes (the running
            trials finish); then trials are not capped unless max_trials is given. Default None: no limit.
            With finalists (not on a chief), their time is part of it (`finalists.reserve_seconds`).
        finalists: train the space's default network as the winner trains before the search and this many of
            its best others after it; the best on validation wins (`finalists.Finalists`; on a chief, all
            after the search). Default 0: the proxy's best wins.
        finalist_data: a CifarData for the finalists; default `load_data` of their data config.

    Returns:
        dict: project_dir, role, trials (count by status), rejected (proposals over budget that
        were drawn again), rows (leaderboard), best (its first row or None), finalists (finalists.json's
        contents: the winner chosen among them, or None), reserved_minutes (of max_minutes, the finalists').

    Example:
        >>> summary = run_search(TrainConfig(), SearchSpace.create(), tuner="random", max_trials=5, epochs=2)
    """
    if tuner not in ORACLES:
        raise UserError(f"tuner: received {tuner!r}; accepted: {', '.join(TUNERS)}")
    for name, value, low in (("max_trials", max_trials, 1), ("epochs", epochs, 1), ("factor", factor, 2)):
        if value is not None and (not isinstance(value, int) or value < low):
            raise UserError(f"{name}: received {value!r}; accepted: an integer >= {low}")
    if max_minutes is not None and (isinstance(max_minutes, bool) or not isinstance(max_minutes, (int, float))
                                    or not max_minutes > 0):
        raise UserError(f"max_minutes: received {max_minutes!r}; accepted: a number of minutes > 0 (--max-minutes)")
    finalists = check_finalists(finalists)
    who = role()
    if max_trials is None and tuner != "hyperband" and max_minutes is None:
        max_trials = DEFAULT_MAX_TRIALS
    project_dir = os.path.join(os.fspath(directory), project)
    trial_config = config.replace(optim={"epochs": epochs}, data={"train_subset": train_subset}).replace(
        **(trial or {}))  # checks itself
    search = {"tuner": tuner, "epochs": epochs, "train_subset": train_subset, "factor": factor,
              "objective": "val_accuracy", "seed": config.seed}
    described = {"space": space.describe(), "search": search, "training": trial_config.to_dict()}
    if who == "worker" and overwrite:
        raise UserError("--overwrite: received on a worker; accepted: on the chief only (workers join its search)")
    check_folder(project_dir, "--directory", "the search's results (directory/project)")
    # One process per project (a standalone search, or the chief), its lock beside it (--overwrite deletes the
    # project folder); each worker holds its own id's. Taken first: a second process is refused before it reads
    # the project or loads data. A signal ends the trial, which a resumed search reruns.
    worker = os.environ.get("KERASTUNER_TUNER_ID") if who == "worker" else None
    lock, held = (f".{project}.{worker}.lock", f"{project_dir} (as worker {worker})") if worker else (
        f".{project}.lock", project_dir)
    stopping = stop_requests() if who != "chief" else contextlib.nullcontext()  # a chief ends as signals say
    with hold_folder(held, "tune", lock_file=os.path.join(os.fspath(directory), lock)), stopping as stop:
        if not overwrite:
            _check_resume(project_dir, described, type(config))
        if who != "chief":
            if data is None:
                data = load_data(trial_config.data, seed=trial_config.seed, verbose=trial_config.verbose > 0)
            if len(data.val.labels) == 0:
                raise UserError("val_fraction: received 0 (no validation split); accepted: a fraction in (0, 1): "
                                 "trials are ranked on validation accuracy, never on test (--val-fraction)")
            check_data(trial_config, data)
        oracle = _make_oracle(tuner, space, max_trials, epochs, factor, config.seed, max_minutes)
        search_tuner = _ResNetTuner(oracle=oracle, hypermodel=ResNetHyperModel(space, trial_config, data),
                                    directory=os.fspath(directory), project_name=project, overwrite=overwrite)
        search_tuner.print_progress = who == "worker"
        if who != "worker":
            os.makedirs(project_dir, exist_ok=True)
            write_json(os.path.join(project_dir, "space.json"), described)
            final = finalist_stage.Finalists(project_dir, space, config, trial_config, data=finalist_data) if (
                finalists) else None
            if final is not None and who != "chief":  # a chief's workers would wait: it trains them all after
                default_seconds = final.train_default()["seconds"]  # on the search's clock
                if max_minutes:
                    oracle.reserve_seconds = finalist_stage.reserve_seconds(default_seconds, finalists, space)
            write = _report_each_trial(oracle, project_dir, space, config, search)
            done = sum(t.status == "COMPLETED" for t in oracle.trials.values())
            if done:
                print(f"tune: resuming {project_dir}: {done} trials finished, they are not run again", flush=True)
        with _quiet_retracing():
            if who == "chief":
                search_tuner.save()
                serve_oracle(oracle)
            else:
                search_tuner.search(epochs=epochs, verbose=0, callbacks=[StopTrialOnSignal(stop)])
        summary = {"project_dir": project_dir, "role": who, "rows": [], "best": None,
                   "rejected": getattr(oracle, "rejected", 0), "time_stopped": getattr(oracle, "time_stopped", False),
                   "search_minutes": round(oracle.search_seconds() / 60, 1) if who != "worker" else None}
        if who == "worker":
            summary["trials"] = {"run_here": search_tuner.trials_run}
            return summary
        rows = write(plot=True)
        summary["trials"] = leaderboard.status_counts(leaderboard.trial_records(oracle.trials.values()))
        summary["reserved_minutes"] = round(oracle.reserve_seconds / 60, 1)
        if stop and final is not None:  # a signal after the last trial's last batch: stop before the finalists
            raise Interrupted(f"stopped by {stop.name} after the search; rerun the same search to train its "
                              "finalists (its trials are kept)", stop.signum)
        chosen = final.run(rows, finalists) if final is not None and rows else None
        summary.update(rows=rows, best=rows[0] if rows else None, finalists=chosen)
        return summary


def _make_oracle(tuner, space, max_trials, epochs, factor, seed, max_minutes=None):
    kwargs = {"max_epochs": epochs, "factor": factor} if tuner == "hyperband" else {"max_trials": max_trials}
    if tuner == "hyperband" and max_minutes is not None and max_trials is None:
        kwargs["hyperband_iterations"] = None  # Keras Tuner: as many iterations as the time budget allows
    oracle = ORACLES[tuner](space, seed=seed + 1, max_minutes=max_minutes, **kwargs)  # seed 0 would be "no seed"
    if tuner == "bayesian":  # 3 random trials per open dimension, but at most half the trials (when capped)
        initial = 3 * len(oracle._nonfixed_space())
        oracle.num_initial_points = max(3, initial if max_trials is None else min(initial, max_trials // 2))
    oracle.max_trials = max_trials  # Hyperband too: it stops there even mid-bracket
    oracle.verbose = 0  # Keras Tuner's tables; one line per trial instead
    return oracle


def _report_each_trial(oracle, project_dir, space, config, search):
    """Print a line and refresh the leaderboard whenever the oracle ends a trial; returns the writer."""
    def write(plot):
        records = leaderboard.trial_records(oracle.trials.values())
        return leaderboard.write_results(project_dir, records, space, config, search, plot=plot)

    def trial_ended(trial, tuner_id):
        print(_progress_line(space, trial, leaderboard.last_metrics(trial), tuner_id, oracle.max_trials), flush=True)
        write(plot=False)

    oracle.trial_end_hook = trial_ended
    return write


class _ResNetTuner(keras_tuner.Tuner, compat.AtomicState):
    """A Keras Tuner `Tuner` for any of the feasible oracles, with Hyperband's epoch handling."""

    trials_run = 0
    print_progress = False

    def _populate_initial_space(self):
        # Keras Tuner builds the model (repeatedly) to discover the space; ours is declared as data.
        hp = self.oracle.get_space()
        self.hypermodel.declare_hyperparameters(hp)
        self.oracle.update_space(hp)

    def _build_hypermodel(self, hp):
        model = super()._build_hypermodel(hp)
        if "tuner/trial_id" in hp.values:  # Hyperband continues an earlier trial's best checkpoint
            model.optimizer.build(model.trainable_variables)  # so its saved state (momentum) loads too
            model.load_weights(self._get_checkpoint_fname(hp.values["tuner/trial_id"]))
        return model

    def run_trial(self, trial, *args, **kwargs):
        hp = trial.hyperparameters
        if "tuner/epochs" in hp.values:
            kwargs["epochs"] = hp.values["tuner/epochs"]
            kwargs["initial_epoch"] = hp.values["tuner/initial_epoch"]
        start = time.perf_counter()
        parent = hp.values.get("tuner/trial_id")
        if parent and leaderboard.last_metrics(self.oracle.get_trial(parent)).get(DIVERGED):
            return self._diverged(trial, f"diverged: continues trial {parent}, which diverged", kwargs, start)
        try:
            histories = super().run_trial(trial, *args, **kwargs)
        except TrainingDiverged as error:
            return self._diverged(trial, str(error), kwargs, start)
        metrics = compat.convert_to_metrics_dict(histories, self.oracle.objective)
        metrics = {k: float(v) for k, v in metrics.items()}
        metrics.update(epochs=float(kwargs["epochs"]), seconds=time.perf_counter() - start)
        self._last_metrics = metrics
        return metrics

    def _diverged(self, trial, reason, kwargs, start):
        # Reported as completed with the worst objective, not failed: Keras Tuner ends a search
        # after `max_consecutive_failed_trials` failures, and a failed trial teaches the Bayesian
        # oracle nothing. The leaderboard leaves such trials out; trial.json keeps the reason.
        trial.message = reason
        self._last_metrics = {"val_accuracy": WORST_VAL_ACCURACY, DIVERGED: 1.0,
                              "epochs": float(kwargs["epochs"]), "seconds": time.perf_counter() - start}
        return dict(self._last_metrics)

    def on_trial_begin(self, trial):
        self._last_metrics = {}
        self._registered = set(_custom_gradients())
        super().on_trial_begin(trial)

    def on_trial_end(self, trial):
        super().on_trial_end(trial)  # reports to the oracle (which prints the line unless remote) and saves
        self.trials_run += 1
        if self.print_progress:
            print(_progress_line(self.hypermodel.space, trial, self._last_metrics, self.tuner_id,
                                 self.oracle.max_trials), flush=True)
        # Release the trial's model and graphs before the next: clear_session alone leaves each train step's
        # graph alive in TensorFlow's gradient registry (compat.custom_gradients), ~17 MB a trial.
        registry = _custom_gradients()
        for name in set(registry) - self._registered:
            if name.startswith(compat.CUSTOM_GRADIENT_PREFIX):
                del registry[name]
        keras.backend.clear_session()  # which collects garbage (a second gc.collect cost 0.26 s a trial)


def _custom_gradients():
    """TensorFlow's gradient registry (`compat.custom_gradients`); {} on another backend (no graphs)."""
    return compat.custom_gradients() if keras.backend.backend() == "tensorflow" else {}


def _progress_line(space, trial, metrics, tuner_id, max_trials):
    values = space.trial_values(trial.hyperparameters.values)
    arch = space.architecture(values)
    params, _ = space.count(values)
    where = "" if tuner_id in (None, "tuner0") else f" [{tuner_id}]"
    total = f"/{max_trials}" if max_trials else ""
    if metrics.get(DIVERGED):
        result = ((trial.message or "diverged").strip().splitlines() or ["diverged"])[-1]
    elif trial.status == "COMPLETED" and metrics.get("val_accuracy") is not None:
        result = (f"val_acc {metrics['val_accuracy']:.4f} after {metrics.get('epochs') or 0:.0f} epochs "
                  f"in {metrics.get('seconds') or 0:.0f} s")
    else:
        result = f"{trial.status} {((trial.message or '').strip().splitlines() or [''])[-1]}"
    options = "".join(f" {name}={values[name]}" for name in space.open_options() if name in values)
    return (f"trial {trial.trial_id}{total}{where}: blocks {'-'.join(map(str, arch['blocks']))} channels "
            f"{'-'.join(map(str, arch['channels']))}{options}, {params / 1e6:.3f}M params: {result}")


@contextlib.contextmanager
def _quiet_retracing():
    # Every trial is a new model, so TensorFlow's "triggered tf.function retracing" warning is
    # expected; it would break the one line per trial. Another backend has no TensorFlow (and no tf.function).
    if keras.backend.backend() != "tensorflow":
        yield
        return
    import tensorflow as tf

    logger = tf.get_logger()
    level = logger.level
    logger.setLevel("ERROR")
    try:
        yield
    finally:
        logger.setLevel(level)


def _check_resume(project_dir, described, config_class):
    """Refuse resuming the search stored in `project_dir` as `described` when they differ: the space and
    search settings must be equal, the training config as its fields' resume rules say."""
    if not os.path.exists(os.path.join(project_dir, "oracle.json")):
        return
    _check_readable_state(project_dir)
    stored_path = os.path.join(project_dir, "space.json")
    if not os.path.exists(stored_path):
        raise UserFileExistsError(f"{project_dir}: a Keras Tuner project without space.json (not made by "
                              "`keras-resnet-cifar tune`); accepted: --overwrite to start over, or another --project")
    stored = read_json(stored_path)
    differences = config_diff({"space": _with_added_dimensions(stored.get("space"), described["space"]),
                               "search": stored.get("search")},
                              {"space": described["space"], "search": described["search"]})
    differences += resume_changes(config_class, stored.get("training", {}), described["training"], "training.")
    if differences:
        raise UserFileExistsError(
            f"{project_dir}: received a search that differs from the one stored there, so it cannot resume:\n  "
            + "\n  ".join(differences)
            + "\naccepted: the same space and settings; fix: rerun with the stored ones, --overwrite, or another --project")


def _with_added_dimensions(stored, space):
    """The stored space description with each dimension whose row was added since it was written, and
    that `space` leaves fixed, as `space` has it: the same search (the setting came from the training
    config then, which is compared on its own)."""
    if not isinstance(stored, dict) or not isinstance(stored.get("default"), dict):
        return stored
    added = [d for d in dimensions.DIMENSIONS if d.field not in stored and not d.is_open(space[d.field])]
    return {**{d.field: space[d.field] for d in added}, **stored,
            "default": {**{d.name: space["default"][d.name] for d in added}, **stored["default"]}}


def _check_readable_state(project_dir):
    """oracle.json and every trial.json parse (Keras Tuner reads them on resume, naming no file)."""
    for path in [os.path.join(project_dir, "oracle.json"), *sorted(glob.glob(os.path.join(project_dir, "trial_*",
                                                                                          "trial.json")))]:
        try:
            state = read_json(path)
        except (ValueError, OSError, UnicodeDecodeError) as error:
            problem = str(error) if isinstance(error, ValueError) else f"{path}: {error}"
        else:
            if isinstance(state, dict):
                continue
            problem = f"{path}: holds a JSON {type(state).__name__}, not an object"
        raise UserError(f"{problem.split('; fix')[0]}; this search's saved state is corrupt, so it cannot resume. "
                         "Fix: restore the file, or pass --overwrite to start the search over (or another --project)")
