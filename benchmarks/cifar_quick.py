"""Real CIFAR-10 (the official archive by default) on this CPU: a small network for a few epochs; test accuracy
and wall time.

    python benchmarks/cifar_quick.py --data ../shared/data/cifar10-png.tar.gz

It trains with the package's own `train` (validation split 10%, best checkpoint chosen on
validation, evaluated on test) and prints one JSON line with the figures. Goal on our
2-core machine: >= 75% test accuracy in <= 15 minutes.

    python benchmarks/cifar_quick.py --recipe fast --minutes 15 --seed 0

trains the named recipe instead (keras_resnet_cifar/recipes.py: all 50,000 training images,
a fixed number of epochs, no validation split); the network and training flags are then
the recipe's, and only --data, --seed and --workdir apply.
"""
import argparse
import json
import os
import tempfile
import time


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data",
                                                       "cifar10-png.tar.gz"))
    parser.add_argument("--blocks", type=int, nargs="+", default=[1, 1, 1, 1])
    parser.add_argument("--channels", type=int, nargs="+", default=[32, 64, 128, 256])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--warmup-epochs", type=int, default=1)
    parser.add_argument("--weight-decay", type=float, default=5e-4)
    parser.add_argument("--label-smoothing", type=float, default=0.0)
    parser.add_argument("--val-fraction", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mixed-precision", default="off", choices=("off", "bf16"),
                        help="bf16: mixed bfloat16 (fast on CPUs with AVX512_BF16/AMX)")
    parser.add_argument("--workdir", default=None, help="default: a temporary folder")
    parser.add_argument("--recipe", default=None, help="a named recipe (keras_resnet_cifar.recipes), e.g. fast")
    parser.add_argument("--minutes", type=int, default=15, help="the recipe's time budget, e.g. 15 or 60")
    args = parser.parse_args()

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from keras_resnet_cifar.config import DataConfig, TrainConfig
    from keras_resnet_cifar.recipes import recipe_config
    from keras_resnet_cifar.training.train import train

    if args.recipe:
        base = TrainConfig(data=DataConfig(source=args.data), seed=args.seed, verbose=2)
        config = recipe_config(args.recipe, args.minutes, base=base)
    else:
        config = _flags_config(args)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        metrics = train(config, args.workdir or os.path.join(scratch, "run"))
    wall = time.perf_counter() - start
    print(json.dumps({
        "data": metrics["data_source"], "recipe": args.recipe, "minutes": args.minutes if args.recipe else None,
        "blocks": list(config.model.blocks), "channels": list(config.model.channels),
        "trainable_params": metrics["trainable_params"], "epochs": metrics["epochs"], "seed": args.seed,
        "num_train": metrics["num_train"], "best_val_accuracy": metrics["best_val_accuracy"],
        "best_epoch": metrics["best_epoch"], "test_accuracy": metrics["test_accuracy"],
        "tta": metrics.get("tta", False),
        "seconds_per_epoch": metrics["seconds_per_epoch"], "wall_seconds": round(wall, 1),
        "device": metrics["device"], "precision": metrics["mixed_precision"],
    }))


def _flags_config(args):
    from keras_resnet_cifar.config import DataConfig, ModelConfig, OptimConfig, TrainConfig

    return TrainConfig(
        model=ModelConfig(blocks=tuple(args.blocks), channels=tuple(args.channels)),
        data=DataConfig(source=args.data, val_fraction=args.val_fraction),
        optim=OptimConfig(optimizer="sgdn", lr=args.lr, label_smoothing=args.label_smoothing, weight_decay=args.weight_decay, schedule="cosine",
                          warmup_epochs=args.warmup_epochs, epochs=args.epochs, batch_size=args.batch_size),
        seed=args.seed, mixed_precision=args.mixed_precision, histogram_freq=0, verbose=2,
    )


if __name__ == "__main__":
    main()
