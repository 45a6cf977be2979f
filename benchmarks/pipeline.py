"""Input pipeline throughput: images/s for one full epoch, ours against Keras preprocessing layers.

    python benchmarks/pipeline.py                       # 50,000 random uint8 32x32 images
    python benchmarks/pipeline.py --data ../shared/data/cifar10-jpeg.tar.gz --repeats 5

Each variant runs `--repeats` full epochs (batch 128, 390 batches) after a warm-up batch and
prints wall-clock images/s (median and range) and images per CPU-second of this process
(a measure that other processes on a shared machine disturb less).
"""
import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402


def _keras_layers_dataset(split, batch_size, seed):
    """The same recipe with Keras 3 preprocessing layers (note: RandomCrop draws one offset per batch)."""
    import keras
    import tensorflow as tf

    from keras_resnet_cifar.constants import CIFAR10_MEAN, CIFAR10_STD

    layers = keras.Sequential([
        keras.layers.ZeroPadding2D(4),
        keras.layers.RandomCrop(32, 32, seed=seed),
        keras.layers.RandomFlip("horizontal_and_vertical", seed=seed),
        keras.layers.Rescaling(1 / 255),
        keras.layers.Normalization(mean=CIFAR10_MEAN, variance=np.square(CIFAR10_STD)),
        keras.layers.GaussianNoise(0.1, seed=seed),
    ])
    mixup = keras.layers.MixUp(alpha=1.0, seed=seed)

    def apply(images, labels):
        x = layers(tf.cast(images, tf.float32), training=True)
        mixed = mixup({"images": x, "labels": tf.one_hot(labels, 10)}, training=True)
        return mixed["images"], mixed["labels"]

    ds = tf.data.Dataset.from_tensor_slices((split.images, split.labels)).shuffle(len(split), seed=seed).repeat()
    return ds.batch(batch_size, drop_remainder=True).map(apply, num_parallel_calls=tf.data.AUTOTUNE).prefetch(
        tf.data.AUTOTUNE)


def _epoch(ds, steps):
    iterator = iter(ds)
    next(iterator)  # warm-up: tracing and the first fill of the prefetch buffer
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        next(iterator)
    return time.perf_counter() - wall, time.process_time() - cpu


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="a load_data source (default: 50,000 random images)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--variants", nargs="+", default=["study", "full", "keras"],
                        help="study: crop+hflip+normalize; full: + vflip, noise, mixup; keras: full with Keras layers")
    args = parser.parse_args(argv)

    from keras_resnet_cifar.config import DataConfig
    from keras_resnet_cifar.data import from_arrays, load_data, make_dataset, steps_per_epoch

    if args.data:
        split = load_data(args.data, val_fraction=0, verbose=False).train
    else:
        rng = np.random.default_rng(0)
        x = rng.integers(0, 256, (50_000, 32, 32, 3), dtype=np.uint8)
        y = rng.integers(0, 10, 50_000)
        split = from_arrays(x, y, x[:10], y[:10], val_fraction=0).train
    steps = steps_per_epoch(split, args.batch_size)
    full = DataConfig(augment={"vflip": True, "noise_std": 0.1, "mixup_alpha": 1.0})
    variants = {
        "study": lambda: make_dataset(split, num_classes=10, batch_size=args.batch_size, training=True),
        "full": lambda: make_dataset(split, num_classes=10, batch_size=args.batch_size, training=True,
                                     data=full),
        "keras": lambda: _keras_layers_dataset(split, args.batch_size, 0),
    }
    print(f"{len(split):,} images ({args.data or 'random'}), batch {args.batch_size}, {steps} batches/epoch, "
          f"{os.cpu_count()} CPUs")
    for name in args.variants:
        ds = variants[name]()
        runs = [_epoch(ds, steps) for _ in range(args.repeats)]
        rates = [steps * args.batch_size / wall for wall, _ in runs]
        per_cpu = [steps * args.batch_size / cpu for _, cpu in runs]
        print(f"{name:6s} images/s median {statistics.median(rates):8,.0f} (range {min(rates):,.0f}-"
              f"{max(rates):,.0f}); images per CPU-second {statistics.median(per_cpu):8,.0f}")


if __name__ == "__main__":
    main()
