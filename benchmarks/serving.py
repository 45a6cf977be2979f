"""Serving throughput: the exported SavedModel's `serving_default` against `model.predict`, images/s.

    python benchmarks/serving.py                          # resnet24, batch 1 and 256
    python benchmarks/serving.py --preset small --repeats 5

The model has random weights (speed does not depend on training). It is exported with the
package's signatures (uint8 in, normalization and softmax inside the graph), written to a
temporary folder and loaded back with `tf.saved_model.load`, as TF Serving would run it.
`model.predict` gets the same images already normalized as float32, one call per batch
(`batch_size` = the batch), which is what a Python service calling Keras per request does.
Each measurement is timed after a warm-up call; the table shows the median over
`--repeats` runs and the range, plus images per CPU-second of this process (which other
work on a shared machine disturbs less than wall-clock time).
"""
import argparse
import os
import platform
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402


def _time(fn, calls, images_per_call, repeats):
    fn()  # warm-up: tracing, allocation
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(calls):
            fn()
        walls.append(calls * images_per_call / (time.perf_counter() - wall))
        cpus.append(calls * images_per_call / max(time.process_time() - cpu, 1e-9))
    return statistics.median(walls), min(walls), max(walls), statistics.median(cpus)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="resnet24")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 256])
    parser.add_argument("--images", type=int, default=512, help="images per timed run and batch size (default 512)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    import keras
    import tensorflow as tf

    from keras_resnet_cifar import PRESETS, build_resnet
    from keras_resnet_cifar.constants import CIFAR10_CLASSES, CIFAR10_MEAN, CIFAR10_STD
    from keras_resnet_cifar.serving.signatures import build_export_archive

    keras.utils.set_random_seed(0)
    model = build_resnet(**PRESETS[args.preset])
    with tempfile.TemporaryDirectory() as folder:
        build_export_archive(model, CIFAR10_CLASSES).write_out(folder, verbose=False)
        signature = tf.saved_model.load(folder).signatures["serving_default"]
        rng = np.random.default_rng(0)
        print(f"# {args.preset}, {platform.node()}, {os.cpu_count()} CPUs, TensorFlow {tf.__version__}, "
              f"Keras {keras.__version__}, {time.strftime('%Y-%m-%d %H:%M')}")
        print("| batch | path | images/s (median) | range | images per CPU-s |")
        print("|---|---|---|---|---|")
        for batch in args.batches:
            images = rng.integers(0, 256, (batch, 32, 32, 3), dtype=np.uint8)
            normalized = (images.astype("float32") / 255 - np.float32(CIFAR10_MEAN)) / np.float32(CIFAR10_STD)
            tensor = tf.constant(images)
            calls = max(1, args.images // batch)
            runs = {
                "SavedModel serving_default": lambda: signature(images=tensor)["probabilities"].numpy(),
                "model.predict": lambda: model.predict(normalized, batch_size=batch, verbose=0),
            }
            for name, fn in runs.items():
                median, low, high, per_cpu = _time(fn, calls, batch, args.repeats)
                print(f"| {batch} | {name} | {median:,.0f} | {low:,.0f}-{high:,.0f} | {per_cpu:,.0f} |", flush=True)


if __name__ == "__main__":
    main()
