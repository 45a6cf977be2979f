"""Real CIFAR-10 (the JPEG copy) on this CPU: a small network for a few epochs; test accuracy and wall time.

    python benchmarks/cifar_quick.py --data ../shared/data/cifar10-jpeg.tar.gz

It trains with the package's own `train` (validation split 10%, best checkpoint chosen on
validation, evaluated on test) and prints one JSON line with the figures. Goal on our
2-core machine: >= 75% test accuracy in <= 15 minutes.
"""
import argparse
import json
import os
import tempfile
import time


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data",
                                                       "cifar10-jpeg.tar.gz"))
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
    args = parser.parse_args()

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from keras_resnet_cifar.config import DataConfig, ModelConfig, OptimConfig, TrainConfig
    from keras_resnet_cifar.training.train import train

    config = TrainConfig(
        model=ModelConfig(blocks=tuple(args.blocks), channels=tuple(args.channels)),
        data=DataConfig(source=args.data, val_fraction=args.val_fraction),
        optim=OptimConfig(optimizer="sgdn", lr=args.lr, label_smoothing=args.label_smoothing, weight_decay=args.weight_decay, schedule="cosine",
                          warmup_epochs=args.warmup_epochs, epochs=args.epochs, batch_size=args.batch_size),
        seed=args.seed, mixed_precision=args.mixed_precision, histogram_freq=0, verbose=2,
    )
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        metrics = train(config, args.workdir or os.path.join(scratch, "run"))
    wall = time.perf_counter() - start
    print(json.dumps({
        "data": metrics["data_source"], "blocks": args.blocks, "channels": args.channels,
        "trainable_params": metrics["trainable_params"], "epochs": metrics["epochs"], "seed": args.seed,
        "num_train": metrics["num_train"], "best_val_accuracy": metrics["best_val_accuracy"],
        "best_epoch": metrics["best_epoch"], "test_accuracy": metrics["test_accuracy"],
        "seconds_per_epoch": metrics["seconds_per_epoch"], "wall_seconds": round(wall, 1),
        "device": metrics["device"], "precision": metrics["mixed_precision"],
    }))


if __name__ == "__main__":
    main()
