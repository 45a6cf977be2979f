"""`keras-resnet-cifar train`: parse the flags into a TrainConfig and delegate to `training.train`."""
from keras_resnet_cifar.cli.options import add_config_args, config_from_args, load_config
from keras_resnet_cifar.config import TrainConfig
from keras_resnet_cifar.tuning.leaderboard import best_config
from keras_resnet_cifar.errors import UserError


def register(subparsers):
    parser = subparsers.add_parser(
        "train", help="train a network, keep its best-validation checkpoint, evaluate it on test",
        description="Defaults are the study's (Table 4): resnet24, sgdn lr 0.1 momentum 0.9, weight decay 1e-3 "
                    "(coupled L2), exp decay 0.9/epoch, batch 128, 50 epochs. Rerunning the same command resumes "
                    "an interrupted run; a finished one (metrics.json) is not trained again.")
    parser.add_argument("--from-tuner", metavar="DIR", help="train a search's winner: tuner/PROJECT (its best.json); "
                                                            "flags win")
    add_config_args(parser)
    parser.add_argument("--workdir", default="runs/train", help="the run directory (default runs/train)")
    parser.add_argument("--force", action="store_true", help="delete an earlier run in --workdir and start over")
    parser.add_argument("--quiet", action="store_true", help="one line per epoch instead of progress bars (for logs)")
    parser.set_defaults(func=run_command)


def base_config(args):
    """--config FILE.json, --from-tuner DIR (a search's winner), or the study's defaults."""
    if args.config and args.from_tuner:
        raise UserError("--config and --from-tuner: received both; accepted: one base config")
    if args.from_tuner:
        return best_config(args.from_tuner)
    return load_config(args.config) if args.config else TrainConfig()


def train_config(args):
    """The `TrainConfig` the flags describe: defaults < --config / --from-tuner < flags given."""
    config = config_from_args(args, base_config(args))
    return config.replace(verbose=2) if args.quiet else config


def run_command(args):
    from keras_resnet_cifar.training.train import train  # lazy: Keras and TensorFlow, which `--help` must not load

    config = train_config(args)
    metrics = train(config, args.workdir, force=args.force)
    if metrics is None:  # a multi-worker cluster's other worker: the chief writes the run and evaluates
        print(f"{args.workdir}: this worker's part is done; the chief writes the run's metrics.json")
        return 0
    best = metrics["best_val_accuracy"]
    print(f"{args.workdir}: test accuracy {metrics['test_accuracy']:.4f} (best checkpoint: epoch "
          f"{metrics['best_epoch']}, val accuracy {'n/a' if best is None else f'{best:.4f}'}), "
          f"{metrics['seconds_per_epoch']:.1f} s/epoch on {metrics['device']}")
    return 0
