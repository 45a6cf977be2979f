"""`keras-resnet-cifar tune`: AutoML search with Keras Tuner under the trainable-parameter budget."""
import os

from keras_resnet_cifar.cli.options import add_config_args, config_changes, config_from_args

# Settings the search space opens or fixes: their flags are the space's (one value fixes, several search).
_SEARCHED = ("blocks", "channels", "kernel_size", "block_order", "activation", "optimizer", "lr", "weight_decay",
             "mixup_alpha", "epochs")

_ENV = ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT")


def register(subparsers):
    parser = subparsers.add_parser(
        "tune", help="search blocks and widths (and more) under a parameter budget; resumable, distributed",
        description="Every proposal is checked against the budget analytically before a trial starts, so no "
                    "trial is spent on an over-budget model. Rerunning the same command resumes the search. "
                    "Then: keras-resnet-cifar train --from-tuner tuner/PROJECT --epochs 50")
    search = parser.add_argument_group("search")
    search.add_argument("--tuner", choices=("hyperband", "bayesian", "random"), default="hyperband",
                        help="default hyperband (multi-fidelity over epochs)")
    search.add_argument("--max-trials", type=int, help="default 10 (hyperband: one full iteration)")
    search.add_argument("--epochs", type=int, help="epochs per trial, hyperband's maximum (default 9 for "
                        "hyperband, 3 otherwise)")
    search.add_argument("--factor", type=int, default=3, help="hyperband's reduction factor (default 3)")
    search.add_argument("--directory", default="tuner", help="results folder (default tuner/)")
    search.add_argument("--project", default="resnet_cifar", help="subfolder of --directory (default resnet_cifar)")
    search.add_argument("--overwrite", action="store_true", help="delete an earlier search of --project first")
    budget = parser.add_argument_group("budget")
    budget.add_argument("--max-params", type=float, default=5e6, help="trainable parameters (default 5e6)")
    budget.add_argument("--max-macs", type=float, help="multiply-accumulates per image (default: no limit)")
    space = parser.add_argument_group("space (one value fixes a dimension, several open it)")
    space.add_argument("--stages", type=int, nargs="+", help="numbers of stages (default: the model's, e.g. 4 for "
                       "the study's ResNets, 3 for the fast recipe)")
    space.add_argument("--blocks", type=int, nargs="+", metavar="N",
                       help="MIN MAX residual units per stage (default 1 8; 0 1 after conv-pool groups)")
    space.add_argument("--widths", type=int, nargs="+", help="widths a stage may take "
                       "(default 16 32 48 64 96 128 192 256 384 512)")
    space.add_argument("--kernel-sizes", type=int, nargs="+", help="default: the training config's (3)")
    space.add_argument("--block-orders", nargs="+", help="a..e (default: the training config's, a)")
    space.add_argument("--activations", nargs="+", help="default: the training config's (relu)")
    space.add_argument("--optimizers", nargs="+", help="default: the training config's (sgdn)")
    space.add_argument("--lr", type=float, nargs="+", metavar="LR", help="LR, or LOW HIGH (log-uniform)")
    space.add_argument("--weight-decay", type=float, nargs="+", metavar="WD", help="WD, or LOW HIGH (log-uniform)")
    space.add_argument("--mixup-alpha", type=float, nargs="+", metavar="ALPHA", help="mixup alphas (default 0: off)")
    space.add_argument("--default-blocks", type=int, nargs="+", help="the hypermodel's default (with "
                       "--default-channels); default: the training config's model if it fits, else the smallest")
    space.add_argument("--default-channels", type=int, nargs="+")
    # Every other training setting, as `train` takes it (--train-subset: images per trial; --seed also seeds
    # the oracle).
    add_config_args(parser, skip=_SEARCHED)
    dist = parser.add_argument_group("distributed (Keras Tuner chief/worker; or set KERASTUNER_* yourself)")
    role = dist.add_mutually_exclusive_group()
    role.add_argument("--chief", action="store_true", help="serve the oracle; workers train")
    role.add_argument("--worker", metavar="ID", help="train trials from the chief, e.g. --worker gpu0")
    dist.add_argument("--oracle-ip", help="chief: address to bind (default 127.0.0.1, loopback only; 0.0.0.0 "
                      "for other machines); worker: the chief's address (default 127.0.0.1)")
    dist.add_argument("--oracle-port", type=int, help="default 8000")
    parser.set_defaults(func=run)


def space_from_args(args, config):
    """The SearchSpace that `args` describe, with `config`'s values for the dimensions not given."""
    from keras_resnet_cifar.tuning.space import DEFAULT_WIDTHS, SearchSpace

    default = None
    if args.default_blocks or args.default_channels:
        default = {"blocks": args.default_blocks or [], "channels": args.default_channels or []}
    return SearchSpace.create(
        config, stages=args.stages, blocks=args.blocks, widths=args.widths or DEFAULT_WIDTHS,
        kernel_sizes=args.kernel_sizes, block_orders=args.block_orders, activations=args.activations,
        optimizers=args.optimizers, lr=args.lr, weight_decay=args.weight_decay, mixup_alpha=args.mixup_alpha,
        max_params=_count("--max-params", args.max_params),
        max_macs=None if args.max_macs is None else _count("--max-macs", args.max_macs), default=default)


def run(args):
    from keras_resnet_cifar.tuning.leaderboard import format_table
    from keras_resnet_cifar.tuning.search import run_search

    config = config_from_args(args)
    if config.data.val_fraction == 0:
        if config_changes(args).get("data", {}).get("val_fraction") == 0:  # asked for: refused, never rewritten
            raise ValueError("--val-fraction: received 0; accepted: a fraction in (0, 1), e.g. 0.1: trials are "
                             "ranked on validation accuracy, which needs held-out training images (the test split "
                             "is never used to choose)")
        # the base trains on all images (e.g. the fast recipe): a search needs a validation split, said aloud
        config = config.replace(data={"val_fraction": 0.1})
        print("tune: trials are ranked on a validation split: the recipe's val_fraction 0 -> 0.1 "
              "(pass --val-fraction to choose another)")
    space = space_from_args(args, config)
    epochs = args.epochs or (9 if args.tuner == "hyperband" else 3)
    saved = {name: os.environ.get(name) for name in _ENV}
    try:
        _set_role(args)
        summary = run_search(config, space, tuner=args.tuner, max_trials=args.max_trials, epochs=epochs,
                             train_subset=config.data.train_subset, directory=args.directory, project=args.project,
                             overwrite=args.overwrite, factor=args.factor)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    if summary["role"] == "worker":
        print(f"tune: worker done, {summary['trials']['run_here']} trials run here")
        return 0
    counts = ", ".join(f"{n} {status.lower()}" for status, n in sorted(summary["trials"].items()))
    print(f"\n{summary['project_dir']}: {counts}; {summary['rejected']:,} over-budget proposals drawn again "
          f"(no trial spent on them)")
    if summary["rows"]:
        print(format_table(summary["rows"]))
        print(f"wrote leaderboard.csv, leaderboard.json, best.json, pareto.png in {summary['project_dir']}")
        print(f"train the winner: keras-resnet-cifar train --from-tuner {summary['project_dir']} --epochs 50")
    return 0


def _set_role(args):
    if not (args.chief or args.worker):
        if args.oracle_ip or args.oracle_port:
            raise ValueError("--oracle-ip/--oracle-port: received without --chief or --worker ID; accepted: "
                             "with one of them")
        return
    if args.worker and "chief" in args.worker:
        raise ValueError(f"--worker: received {args.worker!r}; accepted: an id without 'chief' (Keras Tuner "
                         "reads such ids as the chief), e.g. gpu0")
    os.environ["KERASTUNER_TUNER_ID"] = "chief" if args.chief else args.worker
    os.environ["KERASTUNER_ORACLE_IP"] = args.oracle_ip or os.environ.get("KERASTUNER_ORACLE_IP") or "127.0.0.1"
    os.environ["KERASTUNER_ORACLE_PORT"] = str(args.oracle_port or os.environ.get("KERASTUNER_ORACLE_PORT") or 8000)


def _count(flag, value):
    if value != value or value < 1 or value != int(value):
        raise ValueError(f"{flag}: received {value!r}; accepted: a positive whole number, e.g. 5e6")
    return int(value)
