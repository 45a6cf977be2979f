"""A few epochs of ResNet24 on the CIFAR-10 archive on a GPU: images/s and seconds per epoch.

    python benchmarks/gpu_train.py --data cifar10-jpeg.tar.gz [--epochs 3] [--batch-size 512]

With TensorFlow installed it runs the package's own `train` (mixed precision and XLA on,
validation 10%, test evaluation) and reports its figures. Without TensorFlow (the lent GPU
machines carry PyTorch and JAX, not TensorFlow) it runs the same network, built by
`build_resnet`, on Keras 3's JAX backend with mixed precision and XLA, on the archive decoded
with Pillow and cropped/flipped with NumPy; carry the `keras` wheel and its small
dependencies (namex, optree) as wheels (see benchmarks/RESULTS.md). Prints one JSON line.
"""
import argparse
import importlib.util
import io
import json
import os
import sys
import tarfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def _with_tensorflow(args):
    from keras_resnet_cifar.config import DataConfig, ModelConfig, OptimConfig, TrainConfig
    from keras_resnet_cifar.training.train import train

    config = TrainConfig(
        model=ModelConfig.from_preset(args.preset), data=DataConfig(source=args.data),
        optim=OptimConfig(epochs=args.epochs, batch_size=args.batch_size, lr=0.1 * args.batch_size / 128),
        mixed_precision="on", jit_compile="on", histogram_freq=0, verbose=2)
    start = time.perf_counter()
    metrics = train(config, args.workdir, force=True)
    return {"backend": "tensorflow", "wall_seconds": round(time.perf_counter() - start, 1),
            "seconds_per_epoch": metrics["seconds_per_epoch"],
            "train_img_s": round(metrics["num_train"] / metrics["seconds_per_epoch"], 1),
            "test_accuracy": metrics["test_accuracy"], "device": metrics["device"]}


def _load_archive(path):
    """Decode every JPEG of the archive with Pillow: {split: (uint8 images, labels)}, class names."""
    import numpy as np
    from PIL import Image

    from keras_resnet_cifar.constants import CIFAR10_CLASSES

    images = {"train": ([], []), "test": ([], [])}
    with tarfile.open(path) as archive:
        for member in archive:
            parts = member.name.strip("./").split("/")
            if member.isfile() and len(parts) >= 3 and parts[-3] in images:
                data = archive.extractfile(member).read()
                images[parts[-3]][0].append(np.asarray(Image.open(io.BytesIO(data)).convert("RGB")))
                images[parts[-3]][1].append(CIFAR10_CLASSES.index(parts[-2]))
    return {k: (np.stack(x), np.array(y)) for k, (x, y) in images.items()}


def _with_jax(args):
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import keras
    import numpy as np

    from keras_resnet_cifar import PRESETS, build_resnet
    from keras_resnet_cifar.constants import CIFAR10_MEAN, CIFAR10_STD

    data = _load_archive(args.data)
    x, y = data["train"]
    mean, std = np.array(CIFAR10_MEAN, "float32"), np.array(CIFAR10_STD, "float32")
    rng = np.random.default_rng(0)

    def batches():
        while True:
            order = rng.permutation(len(x))
            for i in range(0, len(order) - args.batch_size + 1, args.batch_size):
                idx = order[i:i + args.batch_size]
                padded = np.pad(x[idx], ((0, 0), (4, 4), (4, 4), (0, 0)))
                dy, dx = rng.integers(0, 9, (2, len(idx)))  # one window per image, as the study crops
                rows, cols = dy[:, None] + np.arange(32), dx[:, None] + np.arange(32)
                crop = padded[np.arange(len(idx))[:, None, None], rows[:, :, None], cols[:, None, :]]
                flip = rng.random(len(idx)) < 0.5
                crop[flip] = crop[flip, :, ::-1]
                yield (crop / 255.0 - mean) / std, keras.utils.to_categorical(y[idx], 10)

    keras.mixed_precision.set_global_policy("mixed_float16")
    model = build_resnet(**PRESETS[args.preset])
    model.compile(optimizer=keras.optimizers.SGD(0.1 * args.batch_size / 128, momentum=0.9, nesterov=True),
                  loss=keras.losses.CategoricalCrossentropy(from_logits=True), metrics=["accuracy"],
                  jit_compile=True)
    steps = len(x) // args.batch_size
    times = []

    class Clock(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.start)

    start = time.perf_counter()
    model.fit(batches(), steps_per_epoch=steps, epochs=args.epochs, verbose=2, callbacks=[Clock()])
    xt, yt = data["test"]
    _, accuracy = model.evaluate((xt / 255.0 - mean) / std, keras.utils.to_categorical(yt, 10), batch_size=1024,
                                 verbose=0)
    steady = min(times[1:]) if len(times) > 1 else times[0]
    return {"backend": "jax", "wall_seconds": round(time.perf_counter() - start, 1),
            "seconds_per_epoch": round(steady, 2), "train_img_s": round(steps * args.batch_size / steady, 1),
            "test_accuracy": round(float(accuracy), 4), "device": str(__import__("jax").devices()[0])}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="cifar10-jpeg.tar.gz (shared/data)")
    parser.add_argument("--preset", default="resnet24")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--workdir", default="/tmp/gpu_train_run")
    args = parser.parse_args()
    use_tf = importlib.util.find_spec("tensorflow") is not None and os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow"
    result = _with_tensorflow(args) if use_tf else _with_jax(args)
    print(json.dumps({"preset": args.preset, "epochs": args.epochs, "batch_size": args.batch_size,
                      "data": f"{os.path.basename(args.data)} (JPEG copy)", **result}))


if __name__ == "__main__":
    main()
