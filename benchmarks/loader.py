"""NumPy loader throughput (data/loader.py): images/s into the model, by worker threads and recipe.

    python benchmarks/loader.py                                  # 50,000 random uint8 32x32 images
    python benchmarks/loader.py --workers 1 2 16 --batch-size 128 512 --batches 400
    python benchmarks/loader.py --data ../shared/data/cifar10-jpeg.tar.gz --json out.json

For each (recipe, batch size, workers) it reads `--batches` batches through Keras's own
`PyDataset` machinery (the worker threads and queue `fit` uses), after a warm-up, and prints
wall-clock images/s and images per CPU-second of this process. Recipes: "table4" (crop + hflip,
the study's), "mixup" (table4 + mixup 1.0), "all" (crop, both flips, noise 0.1, cutout 8, mixup).
Needs neither TensorFlow nor an accelerator (any Keras backend; KERAS_BACKEND=jax by default).
"""
import argparse
import json
import os
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "jax")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402

RECIPES = {
    "table4": (dict(crop=True, pad=4, hflip=True, vflip=False, noise_std=0.0, cutout=0), 0.0),
    "mixup": (dict(crop=True, pad=4, hflip=True, vflip=False, noise_std=0.0, cutout=0), 1.0),
    "all": (dict(crop=True, pad=4, hflip=True, vflip=True, noise_std=0.1, cutout=8), 1.0),
}


def measure(split, recipe, batch_size, workers, batches):
    """(images/s wall-clock, images per CPU-second) of `batches` batches through PyDataset's iterator."""
    from keras.src.trainers.data_adapters import get_data_adapter  # what `fit` wraps a PyDataset in

    from keras_resnet_cifar.config import DataConfig
    from keras_resnet_cifar.data.loader import make_loader

    fields, alpha = RECIPES[recipe]
    loader = make_loader(split, num_classes=10, batch_size=batch_size, training=True,
                         data=DataConfig(augment={**fields, "mixup_alpha": alpha}), workers=workers)
    adapter = get_data_adapter(loader)
    adapter.on_epoch_begin()
    iterator = iter(adapter.get_numpy_iterator())
    next(iterator)  # warm-up: threads started, first permutation drawn
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(batches):
        x, _ = next(iterator)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    adapter.on_epoch_end()
    assert x.shape == (batch_size, 32, 32, 3) and x.dtype == np.float32
    return batches * batch_size / wall, batches * batch_size / cpu


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", help="an image-folder archive (default: 50,000 random images)")
    parser.add_argument("--recipes", nargs="+", default=["table4", "mixup", "all"], choices=sorted(RECIPES))
    parser.add_argument("--batch-size", type=int, nargs="+", default=[128])
    parser.add_argument("--workers", type=int, nargs="+", default=sorted({1, os.cpu_count() or 1}))
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)

    from keras_resnet_cifar.data.splits import Split

    if args.data:
        from keras_resnet_cifar.data import load_data

        split = load_data(args.data, verbose=False).train
    else:
        rng = np.random.default_rng(0)
        split = Split(images=rng.integers(0, 256, (50_000, 32, 32, 3), dtype=np.uint8),
                      labels=rng.integers(0, 10, 50_000))
    print(f"{len(split):,} images, {os.cpu_count()} CPUs, backend {os.environ['KERAS_BACKEND']}")
    print(f"{'recipe':<8} {'batch':>6} {'workers':>8} {'images/s':>12} {'img/CPU-s':>12}")
    rows = []
    for recipe in args.recipes:
        for batch_size in args.batch_size:
            for workers in args.workers:
                rate, per_cpu = measure(split, recipe, batch_size, workers, args.batches)
                rows.append(dict(recipe=recipe, batch_size=batch_size, workers=workers,
                                 images_per_second=round(rate), images_per_cpu_second=round(per_cpu)))
                print(f"{recipe:<8} {batch_size:>6} {workers:>8} {rate:>12,.0f} {per_cpu:>12,.0f}", flush=True)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump({"cpus": os.cpu_count(), "images": len(split), "rows": rows}, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
