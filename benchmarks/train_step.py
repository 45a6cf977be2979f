"""Training images/s of our Keras network against the PyTorch peer of the same network.

Each measurement runs in a fresh process; Keras and PyTorch alternate, and the
medians of the repeats and their ratio are printed (this machine is noisy: compare
ratios measured in one run).

    python benchmarks/train_step.py --preset resnet24 --repeats 3 \
        --peer-python /tmp/torch-peer/bin/python --peer ../shared/peers/torch_resnet.py
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

VARIANTS = ("plain", "xla", "keras_bn", "bf16")


def measure_keras(preset, batch, steps, warmup, variant):
    """One in-process measurement: steady-state training images/s with model.fit."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import numpy as np
    import tensorflow as tf

    from keras_resnet_cifar import PRESETS, build_resnet

    keras.utils.set_random_seed(0)
    if variant == "keras_bn":  # Keras's own (unfused) BatchNormalization, for comparison
        from keras_resnet_cifar import layers

        layers.FusedBatchNormalization = keras.layers.BatchNormalization
    if variant == "bf16":  # bfloat16 compute, float32 variables (oneDNN uses AVX512_BF16 where present)
        keras.config.set_dtype_policy("mixed_bfloat16")
    model = build_resnet(**PRESETS[preset])
    model.compile(
        optimizer=keras.optimizers.SGD(0.1, momentum=0.9, nesterov=True),
        loss=keras.losses.CategoricalCrossentropy(from_logits=True),
        jit_compile=variant == "xla",
    )
    images = np.random.randn(batch * 4, 32, 32, 3).astype("float32")
    labels = keras.utils.to_categorical(np.random.randint(0, 10, batch * 4), 10)
    data = tf.data.Dataset.from_tensor_slices((images, labels)).batch(batch).cache().repeat()

    ends = []

    class Clock(keras.callbacks.Callback):
        def on_train_batch_end(self, batch_index, logs=None):
            ends.append(time.perf_counter())

    model.fit(data, steps_per_epoch=warmup + steps, epochs=1, verbose=0, callbacks=[Clock()])
    seconds = ends[-1] - ends[warmup - 1]
    return {"framework": f"keras {keras.__version__} / tf {tf.__version__}", "variant": variant,
            "preset": preset, "batch": batch, "train_img_s": round(batch * steps / seconds, 2)}


def _run(command):
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="resnet24")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--peer-python", help="python with torch installed (see shared/peers/README.md)")
    parser.add_argument("--peer", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "peers", "torch_resnet.py"))
    parser.add_argument("--worker", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        print(json.dumps(measure_keras(args.preset, args.batch, args.steps, args.warmup, args.worker)))
        return

    from keras_resnet_cifar import PRESETS

    spec = PRESETS[args.preset]
    results = {variant: [] for variant in args.variants}
    if args.peer_python:
        results["torch"] = []
    for _ in range(args.repeats):
        for variant in args.variants:
            base = [sys.executable, __file__, "--preset", args.preset, "--batch", str(args.batch),
                    "--steps", str(args.steps), "--warmup", str(args.warmup)]
            results[variant].append(_run(base + ["--worker", variant])["train_img_s"])
        if args.peer_python:
            peer = [args.peer_python, args.peer, "bench", "--batch", str(args.batch), "--steps", str(args.steps),
                    "--warmup", str(args.warmup), "--blocks", *map(str, spec["blocks"]),
                    "--channels", *map(str, spec["channels"])]
            results["torch"].append(_run(peer)["train_img_s"])
    medians = {name: statistics.median(values) for name, values in results.items()}
    for name, values in results.items():
        ratio = f"  {medians[name] / medians['torch']:.2f}x torch" if "torch" in medians and name != "torch" else ""
        print(f"{args.preset} {name:>6}: median {medians[name]:8.2f} img/s  runs {values}{ratio}")


if __name__ == "__main__":
    main()
