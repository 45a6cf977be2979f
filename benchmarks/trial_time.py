"""Where a small search's time goes: loading the data, and per trial building, compiling, fitting the
whitening stem, `fit` (its first step, which traces and compiles, the other steps, validation) and the
tuner's own work around `fit` (oracle, saving the trial and its checkpoint, the leaderboard, clearing).

    python benchmarks/trial_time.py --source ../shared/data/cifar10-jpeg.tar.gz \
        [--trials 3] [--train-subset 1000] [--val-subset N] [--recipe none|fast] [--tuner random]

Runs `run_search` (the `tune` command's function) in a temporary folder, timing the package's own
functions by wrapping them; prints one row per trial and the shares of the trial time spent inside
and outside `fit`. Run it on a quiet machine: it is a measurement.
"""
import argparse
import collections
import contextlib
import os
import platform
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

from keras_resnet_cifar.config import TrainConfig  # noqa: E402
from keras_resnet_cifar.recipes import recipe_config  # noqa: E402
from keras_resnet_cifar.tuning import hypermodel, search  # noqa: E402
from keras_resnet_cifar.tuning.space import SearchSpace  # noqa: E402

TIMES = collections.defaultdict(float)  # phase -> seconds, for the trial now running
ROWS = []
LOADING = []  # seconds spent loading data before each trial


def timed(module, name, phase):
    """Wrap `module.name` so its calls add to TIMES[phase]."""
    original = getattr(module, name)

    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            TIMES[phase] += time.perf_counter() - start
    setattr(module, name, wrapper)


class FitPhases(keras.callbacks.Callback):
    """Splits `fit` into its first training step (tracing and compiling), the other steps and validation."""

    def on_train_begin(self, logs=None):
        self.start = self.batch_start = time.perf_counter()
        TIMES["fit: set-up"] += self.start - TIMES["_fit_start"]  # datasets, callbacks, Keras's data adapter
        self.first = True

    def on_train_batch_end(self, batch, logs=None):
        now = time.perf_counter()
        TIMES["fit: first step" if self.first else "fit: other steps"] += now - self.batch_start
        self.first, self.batch_start = False, now
        TIMES["_last"] = now

    def on_test_begin(self, logs=None):
        self.test_start = time.perf_counter()

    def on_test_end(self, logs=None):
        TIMES["_last"] = time.perf_counter()
        TIMES["fit: validation"] += TIMES["_last"] - self.test_start

    def on_epoch_begin(self, epoch, logs=None):
        self.batch_start = time.perf_counter()


def instrument():
    timed(search, "load_data", "data")
    for name, phase in (("build_model", "build"), ("compile_model", "compile"), ("fit_stem", "whitening fit"),
                        ("make_datasets", "datasets"), ("check_memory", "memory check")):
        timed(hypermodel, name, phase)
    fit = hypermodel.ResNetHyperModel.fit

    def fit_with_phases(self, hp, model, *args, callbacks=(), **kwargs):
        start = TIMES["_fit_start"] = time.perf_counter()
        try:
            return fit(self, hp, model, *args, callbacks=[FitPhases(), *callbacks], **kwargs)
        finally:
            end = time.perf_counter()
            TIMES["fit"] += end - start
            TIMES["fit: epoch end"] += end - TIMES.get("_last", end)  # the other callbacks' epoch and train ends
    hypermodel.ResNetHyperModel.fit = fit_with_phases

    tuner = search._ResNetTuner
    begin, end = tuner.on_trial_begin, tuner.on_trial_end

    def on_trial_begin(self, trial):
        LOADING.append(TIMES.pop("data", 0.0))
        TIMES.clear()
        TIMES["_start"] = time.perf_counter()
        begin(self, trial)

    def on_trial_end(self, trial):
        end(self, trial)
        row = dict(TIMES, trial=trial.trial_id, total=time.perf_counter() - TIMES["_start"])
        ROWS.append(row)
    tuner.on_trial_begin, tuner.on_trial_end = on_trial_begin, on_trial_end


PHASES = ("build", "compile", "whitening fit", "memory check", "datasets", "fit: set-up", "fit: first step",
          "fit: other steps", "fit: validation", "fit: epoch end", "fit: rest", "fit", "outside fit", "total")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", required=True)
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--train-subset", type=int, default=1000)
    parser.add_argument("--recipe", choices=("none", "fast"), default="none",
                        help="none: the study's space (ResNet24 default); fast: the fast recipe's network family")
    parser.add_argument("--tuner", default="random")
    parser.add_argument("--val-subset", type=int, help="validation images that rank the trials (default: all)")
    args = parser.parse_args()
    config = recipe_config("fast", 5) if args.recipe == "fast" else TrainConfig()
    config = config.replace(data={"source": args.source, "val_fraction": 0.1, "val_subset": args.val_subset},
                            verbose=0)
    space = SearchSpace.create(config)
    instrument()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder, contextlib.redirect_stdout(sys.stderr):
        search.run_search(config, space, tuner=args.tuner, max_trials=args.trials, epochs=1,
                          train_subset=args.train_subset, directory=folder, project="bench")
    wall = time.perf_counter() - start
    print(f"# {platform.node()} {os.cpu_count()} cores, keras {keras.__version__} ({keras.backend.backend()}), "
          f"{time.strftime('%Y-%m-%d')}; {args.trials} one-epoch {args.tuner} trials on {args.train_subset} images "
          f"({args.recipe} recipe space), validated on {args.val_subset or 'all'} images")
    print(f"search wall {wall:.1f} s; data loading {sum(LOADING):.1f} s (once, before the first trial); "
          f"trials {sum(r['total'] for r in ROWS):.1f} s")
    print("trial " + " ".join(f"{p:>16}" for p in PHASES))
    for row in ROWS:
        row["outside fit"] = row["total"] - row.get("fit", 0)
        # what the callback's events do not bracket (between the last step and validation, ...)
        row["fit: rest"] = row.get("fit", 0) - sum(row.get(p, 0) for p in PHASES if p.startswith("fit: "))
        print(f"{row['trial']:>5} " + " ".join(f"{row.get(p, 0):16.1f}" for p in PHASES))
    total = sum(r["total"] for r in ROWS)
    inside = sum(r.get("fit", 0) for r in ROWS)
    steps = sum(r.get("fit: other steps", 0) for r in ROWS)
    print(f"share of trial time: inside fit {inside / total:.0%} (of it, steps after the first "
          f"{steps / total:.0%} of the trial time), outside fit {1 - inside / total:.0%}")


if __name__ == "__main__":
    main()
