"""`run_experiment`: train an experiment's grid, resumably, then write its results and figure.

Each cell x seed is an ordinary `train()` run in WORKDIR/runs/<cell>/seed<k>, so a killed
experiment resumes: finished runs (metrics.json present) are skipped and an unfinished one
continues from its last epoch. WORKDIR also gets experiment.json (the exact command and
arguments), results.csv (per cell: mean and std over seeds) and <name>.png (the figure).
"""
import csv
import io
import os
import statistics

from keras_resnet_cifar.config import AugmentConfig, TrainConfig
from keras_resnet_cifar.experiments.grids import experiment_cells, get_experiment
from keras_resnet_cifar.fields import config_diff, resume_changes
from keras_resnet_cifar.files import read_json, write_json, write_text
from keras_resnet_cifar.training.rundir import HISTORY, Run, is_finished
from keras_resnet_cifar.errors import UserError, UserFileExistsError

RECORD = "experiment.json"  # the experiment's command, arguments and cells
RESULTS = "results.csv"  # per cell: mean and std over seeds


def run_experiment(name, workdir, *, presets=None, variants=None, epochs=None, train_subset=None, seeds=1, data=None,
                   base_config=None, scale_schedule=True, command=None):
    """Train every cell x seed of experiment `name` in `workdir`, then write results and figure.

    Args:
        name: one of `EXPERIMENTS`.
        workdir: the experiment's folder; runs go to workdir/runs/<cell>/seed<k>.
        presets, variants, epochs, train_subset, base_config, scale_schedule: see
            `experiment_cells`.
        seeds: int >= 1, runs per cell with seeds base.seed, base.seed + 1, ... Default 1.
        data: a `CifarData` used by every run (e.g. `data.from_arrays(...)`); default each
            seed loads `base_config.data`'s source once, split with that seed.
        command: the command line to record in experiment.json; default the Python call.

    Returns:
        list of dicts, the rows of results.csv (one per cell).

    Example:
        >>> rows = run_experiment("orderings", "exp/orderings", presets=["small"], epochs=3,
        ...                       train_subset=5000, seeds=2, base_config=TrainConfig(...))
    """
    from keras_resnet_cifar.training.train import train  # lazy: Keras and TensorFlow, not at the CLI's start

    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise UserError(f"seeds: received {seeds!r}; accepted: an integer >= 1 (--seeds)")
    if data is not None and train_subset is not None:
        raise UserError("train_subset: received it together with in-memory data; accepted: one of them "
                         "(subset the data yourself, e.g. from_arrays(..., train_subset=N))")
    experiment = get_experiment(name)
    cells = experiment_cells(name, presets=presets, variants=variants, epochs=epochs, train_subset=train_subset,
                             base_config=base_config, scale_schedule=scale_schedule)
    arguments = {"presets": list(dict.fromkeys(c.group for c in cells)),
                 "variants": list(dict.fromkeys(c.variant for c in cells)), "epochs": epochs,
                 "train_subset": train_subset, "scale_schedule": scale_schedule,
                 "data": None if data is None else data.source}
    if command is None:
        shown = {**arguments, "seeds": seeds}
        shown.pop("data")
        command = f"run_experiment({name!r}, {os.fspath(workdir)!r}, " + ", ".join(
            f"{key}={value!r}" for key, value in shown.items()) + ")"
    workdir = os.fspath(workdir)
    _record(workdir, experiment, cells, arguments, seeds, command, base_config)
    loaded = {}
    for offset in range(seeds):  # seed-major: every cell gets a first seed before any gets a second
        for cell in cells:
            run = run_dir(workdir, cell.name, offset)
            if is_finished(run):
                continue
            config = cell.config.replace(seed=cell.config.seed + offset)
            train(config, run, data=data if data is not None else _load(loaded, config))
            _write_results(workdir, cells, seeds)
    rows = _write_results(workdir, cells, seeds)
    _write_figure(workdir, experiment, cells, seeds, rows)
    return rows


def run_dir(workdir, cell_name, seed_offset):
    """The run directory of one cell and seed: workdir/runs/<cell>/seed<k>."""
    return os.path.join(os.fspath(workdir), "runs", cell_name, f"seed{seed_offset}")


def _load(loaded, config):
    from keras_resnet_cifar.data import load_data  # lazy: TensorFlow Datasets, not at the CLI's start

    key = (config.data.replace(augment=AugmentConfig()), config.seed)  # augmentation does not change what loads
    if key not in loaded:
        loaded.clear()  # one data set in memory at a time
        loaded[key] = load_data(config.data, seed=config.seed, verbose=config.verbose > 0)
    return loaded[key]


def _record(workdir, experiment, cells, arguments, seeds, command, base_config):
    """Write experiment.json; refuse a folder holding the same experiment with other arguments."""
    base_config = base_config or TrainConfig()
    base = base_config.to_dict()
    path = os.path.join(workdir, RECORD)
    record = {"experiment": experiment.name, "figure": experiment.figure, "title": experiment.title,
              "arguments": arguments, "seeds": seeds, "cells": [c.name for c in cells],
              "base_config": base, "commands": [command]}
    if os.path.exists(path):
        old = read_json(path)
        differences = [] if old.get("experiment") == experiment.name else [
            f"experiment: {old.get('experiment')!r} -> {experiment.name!r}"]
        differences += config_diff({"arguments": old.get("arguments", {})}, {"arguments": arguments})
        differences += resume_changes(type(base_config), old.get("base_config", {}), base_config)  # on_resume rules
        if differences:
            listed = "\n  ".join(differences)
            raise UserFileExistsError(
                f"workdir {workdir!r} holds an experiment with other settings (saved -> requested):\n  {listed}\n"
                "Rerun it with its saved settings (see experiment.json), or choose another --workdir.")
        record["commands"] = old.get("commands", []) + [c for c in [command] if c not in old.get("commands", [])]
    os.makedirs(workdir, exist_ok=True)
    write_json(path, record)


RESULT_COLUMNS = ("cell", "group", "variant", "label", "runs", "best_val_accuracy_mean", "best_val_accuracy_std",
                  "test_accuracy_mean", "test_accuracy_std", "trainable_params", "epochs", "seconds_mean",
                  "seconds_std", "seconds_per_epoch_mean")


def read_results(path):
    """Rows of a results.csv as dicts (numbers as floats or ints; an empty std stays None)."""
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        for key, value in row.items():
            if key in ("cell", "group", "variant", "label"):
                continue
            row[key] = None if value == "" else int(value) if key in ("runs", "trainable_params", "epochs") else float(value)
    return rows


def _write_results(workdir, cells, seeds):
    rows = []
    for cell in cells:
        found = [Run.open(run_dir(workdir, cell.name, k)).metrics() for k in range(seeds)
                 if is_finished(run_dir(workdir, cell.name, k))]
        if not found:
            continue
        row = {"cell": cell.name, "group": cell.group, "variant": cell.variant, "label": cell.label,
               "runs": len(found), "trainable_params": found[0]["trainable_params"], "epochs": found[0]["epochs"]}
        for key, values in (("best_val_accuracy", [m["best_val_accuracy"] for m in found]),
                            ("test_accuracy", [m["test_accuracy"] for m in found]),
                            ("seconds", [m.get("train_seconds") for m in found])):
            values = [v for v in values if v is not None]
            row[f"{key}_mean"] = statistics.fmean(values) if values else None
            row[f"{key}_std"] = statistics.stdev(values) if len(values) > 1 else None
        per_epoch = [m["seconds_per_epoch"] for m in found if m.get("seconds_per_epoch") is not None]
        row["seconds_per_epoch_mean"] = statistics.fmean(per_epoch) if per_epoch else None
        rows.append(row)
    text = io.StringIO()
    writer = csv.DictWriter(text, RESULT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows([{k: "" if v is None else v for k, v in row.items()} for row in rows])
    write_text(os.path.join(workdir, RESULTS), text.getvalue())
    return rows


def _write_figure(workdir, experiment, cells, seeds, rows):
    from keras_resnet_cifar.plots.comparison import plot_experiment, save_figure
    from keras_resnet_cifar.plots.history import read_history

    histories = {}
    for cell in cells:
        found = [read_history(path) for path in (os.path.join(run_dir(workdir, cell.name, k), HISTORY)
                                                 for k in range(seeds)) if os.path.exists(path)]
        if found:
            histories.setdefault(cell.group, {})[cell.label] = found
    fig = plot_experiment(histories, rows, curves=experiment.curves,
                          title=f"{experiment.figure}: {experiment.title}")
    save_figure(fig, os.path.join(workdir, f"{experiment.name}.png"))
