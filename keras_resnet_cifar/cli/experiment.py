"""`keras-resnet-cifar experiment NAME`: one comparison of the study, each cell a training run."""
import shlex

from keras_resnet_cifar.experiments import EXPERIMENTS
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
    parser.add_argument("--epochs", type=int, help="epochs per run (default the base config's, 50)")
    parser.add_argument("--train-subset", type=int, metavar="N", help="train on N images (stratified)")
    parser.add_argument("--seeds", type=int, default=1, help="runs per cell, for mean and std (default 1)")
    parser.add_argument("--workdir", help="the experiment's folder (default experiments/NAME)")
    parser.add_argument("--data", help="tfds, an image-folder tree, or a .tar.gz/.zip of one (default: the base config's, tfds)")
    parser.add_argument("--data-dir", help="tfds data_dir or the archive cache")
    parser.add_argument("--batch-size", type=int, help="default the base config's, 128")
    parser.add_argument("--config", metavar="FILE.json", help="base TrainConfig the variants change (default the study's)")
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
    for flag in ("epochs", "train_subset", "seeds", "workdir", "data", "data_dir", "batch_size", "config"):
        value = getattr(args, flag)
        if value is not None and not (flag == "seeds" and value == 1):
            parts += [f"--{flag.replace('_', '-')}", str(value)]
    if args.keep_schedule:
        parts.append("--keep-schedule")
    return shlex.join(parts)


def run(args):
    import os

    from keras_resnet_cifar.config import TrainConfig
    from keras_resnet_cifar.experiments import experiment_cells, run_dir, run_experiment

    if args.config:
        with open(args.config, encoding="utf-8") as handle:
            base = TrainConfig.from_json(handle.read())
    else:
        base = TrainConfig()
    data = {key: value for key, value in (("source", args.data), ("data_dir", args.data_dir)) if value is not None}
    base = base.replace(data=data, verbose=args.verbose)
    if args.batch_size is not None:
        base = base.replace(optim={"batch_size": args.batch_size})
    args.workdir = args.workdir or os.path.join("experiments", args.name)
    options = dict(presets=args.presets, variants=args.variants, epochs=args.epochs, train_subset=args.train_subset,
                   base_config=base, scale_schedule=not args.keep_schedule)
    if args.dry_run:
        for cell in experiment_cells(args.name, **options):
            print(f"{cell.name:<28} {cell.label:<32} {run_dir(args.workdir, cell.name, 0)}")
        return 0
    rows = run_experiment(args.name, args.workdir, seeds=args.seeds, command=_command(args), **options)
    print(f"{'cell':<28} {'runs':>4} {'best val acc':>16} {'test acc':>16}")
    for row in rows:
        print(f"{row['cell']:<28} {row['runs']:>4} {_pct(row, 'best_val_accuracy'):>16} {_pct(row, 'test_accuracy'):>16}")
    print(f"wrote {os.path.join(args.workdir, 'results.csv')} and {os.path.join(args.workdir, args.name + '.png')}")
    return 0


def _pct(row, key):
    mean, std = row[f"{key}_mean"], row[f"{key}_std"]
    return "n/a" if mean is None else f"{100 * mean:.2f}" + ("" if std is None else f" ± {100 * std:.2f}")
