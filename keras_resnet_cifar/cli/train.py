"""`keras-resnet-cifar train`: build a `TrainConfig` from --config and flags, then `train` it.

Flags given explicitly win over --config FILE.json, which wins over the study's defaults
(every flag defaults to None so the two can be told apart).
"""
import argparse
import dataclasses

from keras_resnet_cifar.cli.common import add_model_args, model_kwargs
from keras_resnet_cifar.cli.data_args import add_data_args

_OPTIM_FLAGS = ("epochs", "batch_size", "optimizer", "lr", "momentum", "weight_decay", "decoupled_weight_decay",
                "schedule", "gamma", "step_gamma", "step_epochs", "restart_epochs", "restart_mult", "min_lr",
                "warmup_epochs", "plateau_patience", "plateau_factor")
_DATA_FLAGS = {"data": "source", "data_dir": "data_dir", "val_fraction": "val_fraction",
               "train_subset": "train_subset", "crop": "crop", "pad": "pad", "hflip": "hflip", "vflip": "vflip",
               "noise_std": "noise_std", "cutout": "cutout", "mixup": "mixup_alpha",
               "label_smoothing": "label_smoothing"}
_RUN_FLAGS = ("seed", "mixed_precision", "jit_compile", "steps_per_execution", "strategy", "histogram_freq")


def register(subparsers):
    parser = subparsers.add_parser(
        "train", help="train a network, keep its best-validation checkpoint, evaluate it on test",
        description="Defaults are the study's (Table 4): resnet24, sgdn lr 0.1 momentum 0.9, weight decay 1e-3 "
                    "(coupled L2), exp decay 0.9/epoch, batch 128, 50 epochs. Rerunning the same command resumes "
                    "an interrupted run; a finished one (metrics.json) is not trained again.")
    parser.add_argument("--config", metavar="FILE.json", help="a TrainConfig (a run's config.json); flags win")
    parser.add_argument("--from-tuner", metavar="DIR", help="train a search's winner: tuner/PROJECT (its best.json); flags win")
    add_model_args(parser)
    add_data_args(parser, defaults=False)  # --data, --data-dir, --val-fraction, --train-subset, --seed, --resize
    data = parser.add_argument_group("augmentation and loss")
    data.add_argument("--crop", action=argparse.BooleanOptionalAction, help="random crop after zero padding (default on)")
    data.add_argument("--pad", type=int, help="padding before the crop (default 4)")
    data.add_argument("--hflip", action=argparse.BooleanOptionalAction, help="random horizontal flip (default on)")
    data.add_argument("--vflip", action=argparse.BooleanOptionalAction, help="random vertical flip (default off)")
    data.add_argument("--noise-std", type=float, help="Gaussian noise on normalized pixels (default 0)")
    data.add_argument("--cutout", type=int, metavar="SIZE", help="cutout square side (default 0: off)")
    data.add_argument("--mixup", type=float, metavar="ALPHA", help="mixup Beta(ALPHA, ALPHA) (default 0: off)")
    data.add_argument("--label-smoothing", type=float, help="label smoothing in the loss (default 0)")
    optim = parser.add_argument_group("optimization")
    optim.add_argument("--epochs", type=int, help="default 50")
    optim.add_argument("--batch-size", type=int, help="global batch, split over replicas (default 128)")
    optim.add_argument("--optimizer", help="sgd, sgdn (default), adagrad, adadelta, adam, adamw")
    optim.add_argument("--lr", type=float, help="initial learning rate (default 0.1)")
    optim.add_argument("--momentum", type=float, help="sgd/sgdn momentum (default 0.9)")
    optim.add_argument("--weight-decay", type=float, help="default 1e-3; coupled L2 (l2 = wd/2) unless decoupled")
    optim.add_argument("--decoupled-weight-decay", action=argparse.BooleanOptionalAction,
                       help="decay in the optimizer (w -= lr*wd*w) instead of an L2 loss; adamw always is")
    optim.add_argument("--schedule", help="exp (default), step, cosine_restarts, plateau, cosine, constant")
    optim.add_argument("--gamma", type=float, help="exp: factor per epoch (default 0.9)")
    optim.add_argument("--step-gamma", type=float, help="step: factor (default 0.1)")
    optim.add_argument("--step-epochs", type=int, help="step: epochs between steps (default 20)")
    optim.add_argument("--restart-epochs", type=int, help="cosine_restarts: first period (default 20)")
    optim.add_argument("--restart-mult", type=float, help="cosine_restarts: period growth (default 2)")
    optim.add_argument("--min-lr", type=float, help="cosine schedules' floor (default 0)")
    optim.add_argument("--warmup-epochs", type=int, help="linear warmup before the schedule (default 0)")
    optim.add_argument("--plateau-patience", type=int, help="plateau: epochs without val-loss gain (default 3)")
    optim.add_argument("--plateau-factor", type=float, help="plateau: factor (default 0.5)")
    optim.add_argument("--early-stopping", type=int, metavar="PATIENCE",
                       help="stop after PATIENCE epochs without a better validation accuracy (default off)")
    run = parser.add_argument_group("execution")
    run.add_argument("--deterministic", action=argparse.BooleanOptionalAction,
                     help="deterministic TF ops: two CPU runs give identical weights (slower)")
    run.add_argument("--mixed-precision", choices=("auto", "on", "off", "bf16"),
                     help="default auto: float16 on GPUs with compute >= 7.0, else float32; bf16: mixed bfloat16 "
                          "(fast on CPUs with AVX512_BF16/AMX)")
    run.add_argument("--jit-compile", choices=("auto", "on", "off"), help="XLA; default auto (on GPU, off on CPU)")
    run.add_argument("--steps-per-execution", type=int, help="batches per compiled call (default 1)")
    run.add_argument("--strategy", choices=("auto", "one", "mirrored", "multiworker"),
                     help="tf.distribute strategy (default auto: mirrored on several GPUs); multiworker reads TF_CONFIG")
    run.add_argument("--histogram-freq", type=int, help="TensorBoard weight histograms every N epochs (default 1; 0: off)")
    run.add_argument("--workdir", default="runs/train", help="the run directory (default runs/train)")
    run.add_argument("--force", action="store_true", help="delete an earlier run in --workdir and start over")
    run.add_argument("--quiet", action="store_true", help="one line per epoch instead of progress bars (for logs)")
    parser.set_defaults(func=run_command)


def config_from_args(args):
    """The `TrainConfig` that `args` describe: defaults < --config < explicit flags."""
    from keras_resnet_cifar.config import ModelConfig

    base = _base_config(args)
    model = model_kwargs(args, base=dataclasses.asdict(base.model))
    optim = {name: getattr(args, name) for name in _OPTIM_FLAGS if getattr(args, name) is not None}
    if args.early_stopping is not None:
        optim["early_stopping_patience"] = args.early_stopping
    l2 = model.pop("l2", None)
    if l2 is not None:
        if args.weight_decay is not None:
            raise ValueError(f"--l2 {l2} and --weight-decay {args.weight_decay}: give one; "
                             "coupled weight decay wd is l2 = wd / 2")
        optim["weight_decay"] = 2 * l2
    data = {field: getattr(args, flag) for flag, field in _DATA_FLAGS.items() if getattr(args, flag) is not None}
    top = {name: getattr(args, name) for name in _RUN_FLAGS if getattr(args, name) is not None}
    if args.deterministic is not None:
        top["deterministic"] = args.deterministic
    if args.quiet:
        top["verbose"] = 2
    if args.resize:
        data["resize"] = True
    model = ModelConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in model.items()})
    return base.replace(model=model, optim=optim, data=data, **top)


def _base_config(args):
    """--config FILE.json, or the study's defaults. (Home of the tuning issue's --from-tuner.)"""
    from keras_resnet_cifar.config import TrainConfig
    from keras_resnet_cifar.training.rundir import read_json

    if args.config and args.from_tuner:
        raise ValueError("--config and --from-tuner: received both; accepted: one base config")
    if args.from_tuner:
        from keras_resnet_cifar.tuning.leaderboard import best_config

        return best_config(args.from_tuner)
    if not args.config:
        return TrainConfig()
    return TrainConfig.from_dict(read_json(args.config))


def run_command(args):
    from keras_resnet_cifar.training.train import train

    config = config_from_args(args)
    metrics = train(config, args.workdir, force=args.force)
    best = metrics["best_val_accuracy"]
    print(f"{args.workdir}: test accuracy {metrics['test_accuracy']:.4f} (best checkpoint: epoch "
          f"{metrics['best_epoch']}, val accuracy {'n/a' if best is None else f'{best:.4f}'}), "
          f"{metrics['seconds_per_epoch']:.1f} s/epoch on {metrics['device']}")
    return 0
