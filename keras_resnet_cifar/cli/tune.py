"""`keras-resnet-cifar tune`: AutoML search with Keras Tuner under the trainable-parameter budget."""
from keras_resnet_cifar.cli.options import add_config_args, config_changes, config_from_args
from keras_resnet_cifar.config import TrainConfig
from keras_resnet_cifar.fields import flag_of
from keras_resnet_cifar.tuning import dimensions
from keras_resnet_cifar.tuning.distributed import role_environment
from keras_resnet_cifar.tuning.leaderboard import format_finalists, format_table
from keras_resnet_cifar.tuning.settings import (DEFAULT_DIRECTORY, DEFAULT_EPOCHS, DEFAULT_FACTOR, DEFAULT_MAX_TRIALS,
                                                DEFAULT_PROJECT, OTHER_EPOCHS, OTHER_FINALISTS, RECIPE_FINALISTS,
                                                RECIPE_TRIAL, TUNERS,
                                                resolve_settings)
from keras_resnet_cifar.tuning.space import DEFAULT_MAX_PARAMS, DEFAULT_WIDTHS, SearchSpace


def register(subparsers):
    parser = subparsers.add_parser(
        "tune", help="search blocks and widths (and more) under a parameter budget; resumable, distributed",
        description="Every proposal is checked against the budget analytically before a trial starts, so no "
                    "trial is spent on an over-budget model. Rerunning the same command resumes the search. "
                    "Then: keras-resnet-cifar train --from-tuner tuner/PROJECT (the base config's full training)")
    search = parser.add_argument_group("search")
    search.add_argument("--tuner", choices=TUNERS, default=TUNERS[0],
                        help=f"default {TUNERS[0]} (multi-fidelity over epochs)")
    search.add_argument("--max-trials", type=int, help=f"default {DEFAULT_MAX_TRIALS} (hyperband: one full "
                        "iteration)")
    search.add_argument("--epochs", type=int, help="epochs per trial, hyperband's maximum (default " + ", ".join(
        f"{n} for {tuner}" for tuner, n in DEFAULT_EPOCHS.items()) + f", {OTHER_EPOCHS} otherwise; with --recipe "
        f"{RECIPE_TRIAL['epochs']}, on {RECIPE_TRIAL['train_subset']:,} images at batch {RECIPE_TRIAL['batch_size']}: the "
        "measured proxy)")
    search.add_argument("--max-minutes", type=float, help="start no trial after this many minutes of search, "
                        "counted over resumes (running trials finish); without --max-trials, trials are then not "
                        "capped (hyperband: as many iterations as fit)")
    search.add_argument("--finalists", type=int, help="train the base network as the winner trains (the base "
                        "config's epochs, every image but the validation split) before the search and this many "
                        "of its best others after it; the best on validation wins. With --max-minutes their time "
                        f"is part of it (default {RECIPE_FINALISTS} with --recipe, else {OTHER_FINALISTS}: the "
                        "proxy's best wins)")
    search.add_argument("--factor", type=int, default=DEFAULT_FACTOR,
                        help=f"hyperband's reduction factor (default {DEFAULT_FACTOR})")
    search.add_argument("--directory", default=DEFAULT_DIRECTORY, help=f"results folder (default {DEFAULT_DIRECTORY}/)")
    search.add_argument("--project", default=DEFAULT_PROJECT,
                        help=f"subfolder of --directory (default {DEFAULT_PROJECT})")
    search.add_argument("--overwrite", action="store_true", help="delete an earlier search of --project first")
    budget = parser.add_argument_group("budget")
    budget.add_argument("--max-params", type=float, default=DEFAULT_MAX_PARAMS,
                        help=f"trainable parameters (default {DEFAULT_MAX_PARAMS:.0e})".replace("e+0", "e"))
    budget.add_argument("--max-macs", type=float, help="multiply-accumulates per image (default: with --recipe, "
                        "the recipe's network's; else no limit)")
    space = parser.add_argument_group("space (one value fixes a dimension, several open it)")
    space.add_argument("--stages", type=int, nargs="+", help="numbers of stages (default: the model's, e.g. 4 for "
                       "the study's ResNets, 3 for the fast recipe)")
    space.add_argument("--blocks", type=int, nargs="+", metavar="N",
                       help="MIN MAX residual units per stage (default 1 8; 0 1 after conv-pool groups)")
    space.add_argument("--widths", type=int, nargs="+", help="widths a stage may take "
                       f"(default {' '.join(map(str, DEFAULT_WIDTHS))})")
    study = TrainConfig()
    for dim in dimensions.DIMENSIONS:  # one flag per searchable setting, e.g. --kernel-sizes, --lr
        space.add_argument(flag_of(dim.field), nargs="+", help=f"{dim.help} (default: the training config's, "
                           f"{dim.read(study)})", **dim.cli)
    space.add_argument("--default-blocks", type=int, nargs="+", help="the hypermodel's default (with "
                       "--default-channels); default: the training config's model if it fits, else the smallest")
    space.add_argument("--default-channels", type=int, nargs="+")
    # Every other training setting, as `train` takes it (--train-subset: images per trial; --seed also seeds
    # the oracle); the searched ones have the space's flags above, epochs the search's.
    add_config_args(parser, skip=("blocks", "channels", *(d.setting for d in dimensions.DIMENSIONS), "epochs"))
    dist = parser.add_argument_group("distributed (Keras Tuner chief/worker; or set KERASTUNER_* yourself)")
    role = dist.add_mutually_exclusive_group()
    role.add_argument("--chief", action="store_true", help="serve the oracle; workers train")
    role.add_argument("--worker", metavar="ID", help="train trials from the chief, e.g. --worker gpu0")
    dist.add_argument("--oracle-ip", help="chief: address to bind (default 127.0.0.1, loopback only; 0.0.0.0 "
                      "for other machines); worker: the chief's address (default 127.0.0.1)")
    dist.add_argument("--oracle-port", type=int, help="default 8000")
    parser.set_defaults(func=run)


def space_from_args(args, config, max_macs=None):
    """The SearchSpace that `args` describe, with `config`'s values for the dimensions not given and the MACs
    budget `max_macs` (`SearchSettings.max_macs`)."""
    default = None
    if args.default_blocks or args.default_channels:
        default = {"blocks": args.default_blocks or [], "channels": args.default_channels or []}
    return SearchSpace.create(config, stages=args.stages, blocks=args.blocks, widths=args.widths,
                              max_params=args.max_params, max_macs=max_macs, default=default,
                              **{d.field: getattr(args, d.field) for d in dimensions.DIMENSIONS})


def run(args):
    from keras_resnet_cifar.tuning.search import run_search  # Keras Tuner and Keras: only when a search runs

    settings = resolve_settings(config_from_args(args), tuner=args.tuner, epochs=args.epochs,
                                asked=config_changes(args), recipe=args.recipe, max_macs=args.max_macs,
                                finalists=args.finalists)
    for note in settings.notes:
        print(note)
    config = settings.config
    space = space_from_args(args, config, settings.max_macs)
    with role_environment(chief=args.chief, worker=args.worker, oracle_ip=args.oracle_ip,
                          oracle_port=args.oracle_port):
        summary = run_search(config, space, tuner=args.tuner, max_trials=args.max_trials, epochs=settings.epochs,
                             train_subset=settings.train_subset, trial=settings.trial, directory=args.directory,
                             project=args.project, overwrite=args.overwrite, factor=args.factor,
                             max_minutes=args.max_minutes, finalists=settings.finalists)
    if summary["role"] == "worker":
        print(f"tune: worker done, {summary['trials']['run_here']} trials run here")
        return 0
    counts = ", ".join(f"{n} {status.lower()}" for status, n in sorted(summary["trials"].items()))
    print(f"\n{summary['project_dir']}: {counts}; {summary['rejected']:,} over-budget proposals drawn again "
          f"(no trial spent on them); {summary['search_minutes']} minutes of search"
          + (f", stopped by --max-minutes {args.max_minutes:g}" if summary["time_stopped"] else "")
          + (f" ({summary['reserved_minutes']:g} of them kept for the finalists)" if summary["reserved_minutes"]
             else ""))
    if summary["rows"]:
        print(format_table(summary["rows"]))
        print(f"wrote leaderboard.csv, leaderboard.json, best.json, pareto.png in {summary['project_dir']}")
        if summary["finalists"]:
            print(format_finalists(summary["finalists"]))
        images = "the training images but the validation split" if config.data.val_fraction else "every image"
        print(f"train the winner: keras-resnet-cifar train --from-tuner {summary['project_dir']} (the base config's "
              f"full training: {config.optim.epochs} epochs on {images}; --epochs to change)")
    return 0
