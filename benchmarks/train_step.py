"""Training images/s of our Keras network against the PyTorch peer of the same network.

Each measurement runs in a fresh process; Keras and PyTorch alternate, and the
medians of the repeats and their ratio are printed (this machine is noisy: compare
ratios measured in one run).

    python benchmarks/train_step.py --preset resnet24 --repeats 3 \
        --peer-python /tmp/torch-peer/bin/python --peer ../shared/peers/torch_resnet.py

`--recipe-minutes 15` measures instead the fast recipe's network as `train()` builds and compiles it
(the airbench94 topology, its GroupSGD and loss; variants plain = float32 and bf16), against the
peer's `bench --net airbench94` (with `--bf16` for our bf16).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

VARIANTS = ("plain", "xla", "keras_bn", "bf16")


def measure_keras(preset, batch, steps, warmup, variant, recipe_minutes=None):
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
    if recipe_minutes:
        from keras_resnet_cifar.recipes import recipe_config
        from keras_resnet_cifar.training.train import build_model, compile_model

        config = recipe_config("fast", recipe_minutes).replace(optim={"batch_size": batch}, jit_compile="off")
        model = compile_model(build_model(config, "mixed_bfloat16" if variant == "bf16" else "float32"), config,
                              steps_per_epoch=warmup + steps)
        preset = f"fast{recipe_minutes}"
    else:
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
    parser.add_argument("--recipe-minutes", type=int, help="measure the fast recipe's network of this tier")
    parser.add_argument("--worker", choices=VARIANTS, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        print(json.dumps(measure_keras(args.preset, args.batch, args.steps, args.warmup, args.worker,
                                       args.recipe_minutes)))
        return

    from keras_resnet_cifar import PRESETS

    spec = PRESETS[args.preset]
    net = []
    if args.recipe_minutes:
        from keras_resnet_cifar.recipes import recipe_config

        widths = {(64, 256, 256): "airbench94", (128, 384, 384): "airbench95"}
        channels = recipe_config("fast", args.recipe_minutes).model.channels
        if channels not in widths:
            raise SystemExit(f"--recipe-minutes {args.recipe_minutes}: widths {channels} have no peer topology")
        net = ["--net", widths[channels]]
    results = {variant: [] for variant in args.variants}
    if args.peer_python:
        results.update({f"torch_{v}": [] for v in args.variants} if net else {"torch": []})
    for _ in range(args.repeats):
        for variant in args.variants:
            base = [sys.executable, __file__, "--preset", args.preset, "--batch", str(args.batch),
                    "--steps", str(args.steps), "--warmup", str(args.warmup)]
            if args.recipe_minutes:
                base += ["--recipe-minutes", str(args.recipe_minutes)]
            results[variant].append(_run(base + ["--worker", variant])["train_img_s"])
            if args.peer_python and net:  # the same topology in PyTorch, right after, in the same precision
                peer = [args.peer_python, args.peer, "bench", "--batch", str(args.batch), "--steps", str(args.steps),
                        "--warmup", str(args.warmup), *net] + (["--bf16"] if variant == "bf16" else [])
                results[f"torch_{variant}"].append(_run(peer)["train_img_s"])
        if args.peer_python and not net:
            peer = [args.peer_python, args.peer, "bench", "--batch", str(args.batch), "--steps", str(args.steps),
                    "--warmup", str(args.warmup), "--blocks", *map(str, spec["blocks"]),
                    "--channels", *map(str, spec["channels"])]
            results["torch"].append(_run(peer)["train_img_s"])
    medians = {name: statistics.median(values) for name, values in results.items()}
    label = f"fast{args.recipe_minutes}" if args.recipe_minutes else args.preset
    for name, values in results.items():
        partner = f"torch_{name}" if net else "torch"
        ratio = f"  {medians[name] / medians[partner]:.2f}x torch" if partner in medians and name != partner else ""
        print(f"{label} {name:>10}: median {medians[name]:8.2f} img/s  runs {values}{ratio}")


if __name__ == "__main__":
    main()
