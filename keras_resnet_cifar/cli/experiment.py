"""`keras-resnet-cifar experiment NAME`: one comparison of the study, each cell a training run."""
import os
import shlex

from keras_resnet_cifar.cli.options import add_config_args, config_from_args
from keras_resnet_cifar.experiments import EXPERIMENTS, RESULTS, experiment_cells, run_dir, run_experiment
from keras_resnet_cifar.presets import PRESETS


def register(subparsers):
    names = ", ".join(f"{e.name} ({e.figure})" for e in EXPERIMENTS.values())
    parser = subparsers.add_parser(
        "experiment", help="run a comparison of the study (Figures 4-9): a grid of training runs",
        description=f"Experiments: {names}. Each cell x seed trains in WORKDIR/runs/<cell>/seed<k>; rerunning "
                    "the same command skips finished runs and resumes an interrupted one. Writes results.csv, "
                    "NAME.png and experiment.json in WORKDIR.")
    parser.add_argument("name", choices=list(EXPERIMENTS), metavar="NAME", help=names)
    parser.add_argument("--presets", nargs="+", choices=sorted(PRESETS), metavar="PRESET",
                        help="models to run the grid on (default: the study's; optimizers uses all four)")
    parser.add_argument("--variants", nargs="+", metavar="VARIANT",
                        help="run only these settings of the grid (names as --dry-run lists them after the preset)")
    parser.add_argument("--epochs", type=int, help="epochs per run (default the base config's, 50); step/restart "
                                                   "periods and exp gamma are stretched to it (see --keep-schedule)")
    parser.add_argument("--seeds", type=int, default=1, help="runs per cell, for mean and std (default 1)")
    parser.add_argument("--workdir", help="the experiment's folder (default experiments/NAME)")
    # The base TrainConfig the variants change: --config FILE.json and any training flag (not the model's:
    # the grid's presets and variants set it).
    add_config_args(parser, sections=("data", "data.augment", "optim", ""), skip=("epochs",))
    parser.add_argument("--keep-schedule", action="store_true",
                        help="with --epochs, do not stretch step/restart periods and exp gamma to the new length")
    parser.add_argument("--verbose", type=int, choices=(0, 1, 2), default=2,
                        help="Keras output: 0 silent, 1 progress bars, 2 one line per epoch (default)")
    parser.add_argument("--dry-run", action="store_true", help="list the cells and their run folders, train nothing")
    parser.set_defaults(func=run)


def _command(args):
    """The canonical command line equivalent to `args`, recorded in experiment.json."""
    parts = ["keras-resnet-cifar", "experiment", args.name]
    if args.presets:
        parts += ["--presets", *args.presets]
    if args.variants:
        parts += ["--variants", *args.variants]
    for flag in ("epochs", "seeds", "workdir", "config"):
        value = getattr(args, flag)
        if value is not None and not (flag == "seeds" and value == 1):
            parts += [f"--{flag.replace('_', '-')}", str(value)]
    for dest, value in sorted(vars(args).items()):  # the training flags given
        if dest.startswith("config:") and value is not None:
            flag = "--" + dest.rsplit(".", 1)[-1].split(":")[-1].replace("_", "-")
            if isinstance(value, bool):
                parts.append(flag if value else "--no-" + flag[2:])
            else:
                parts += [flag, *map(str, value if isinstance(value, (list, tuple)) else [value])]
    if args.keep_schedule:
        parts.append("--keep-schedule")
    return shlex.join(parts)


def run(args):
    base = config_from_args(args).replace(verbose=args.verbose)
    args.workdir = args.workdir or os.path.join("experiments", args.name)
    options = dict(presets=args.presets, variants=args.variants, epochs=args.epochs,
                   train_subset=base.data.train_subset, base_config=base, scale_schedule=not args.keep_schedule)
    if args.dry_run:
        for cell in experiment_cells(args.name, **options):
            print(f"{cell.name:<28} {cell.label:<32} {run_dir(args.workdir, cell.name, 0)}")
        return 0
    rows = run_experiment(args.name, args.workdir, seeds=args.seeds, command=_command(args), **options)
    print(f"{'cell':<28} {'runs':>4} {'best val acc':>16} {'test acc':>16}")
    for row in rows:
        print(f"{row['cell']:<28} {row['runs']:>4} {_pct(row, 'best_val_accuracy'):>16} {_pct(row, 'test_accuracy'):>16}")
    print(f"wrote {os.path.join(args.workdir, RESULTS)} and {os.path.join(args.workdir, args.name + '.png')}")
    return 0


def _pct(row, key):
    mean, std = row[f"{key}_mean"], row[f"{key}_std"]
    return "n/a" if mean is None else f"{100 * mean:.2f}" + ("" if std is None else f" ± {100 * std:.2f}")
